import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directorySource, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { DirChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { makeAdapterFiles } from '../../src/model/synthetic.js';
import { createRuntime } from '../../src/create-runtime.js';
import { hmi } from '../helpers/cli.js';
import { makeDefaultModels } from '../model/default-models.js';


const CORPUS = ['the river ran fast under the old stone bridge', '', 'a cold clear morning on the river', 'we walked home under the bridge'];

describe('hmi plot', () => {
  let models: string;
  let cleanup: () => void;
  let work: string;
  let bert: LoadedModel;
  let corpus: string;
  let lower: string;

  beforeAll(async () => {
    ({ dir: models, cleanup } = makeDefaultModels());
    bert = await loadModel(directorySource(join(models, 'hbert-mini')));
    work = await mkdtemp(join(tmpdir(), 'hmi-plot-cli-'));
    corpus = join(work, 'corpus.txt');
    await writeFile(corpus, CORPUS.join('\n'));
    // A domain's own lower layers: a PEFT LoRA on layers 0 and 1 (below the default split 2).
    lower = join(work, 'dapt');
    const files = makeAdapterFiles(bert.config, { rank: 4, seed: 3, layers: [0, 1], targets: ['query', 'value', 'intermediate.dense'] });
    await mkdir(lower);
    for (const [name, content] of Object.entries(files)) await writeFile(join(lower, name), content);
  });

  afterAll(async () => {
    cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('builds the general PLOT into a directory that a runtime then serves from without computing', async () => {
    const store = join(work, 'plot');
    const run = await hmi('plot', 'build', '--model', join(models, 'hbert-mini'), '--corpus', corpus, '--store', store, '--json');
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { sequences: number; tokens: number; distinct: number; entries: number; bytes: number };
    const tokens = CORPUS.filter((t) => t.length > 0).reduce((n, t) => n + bert.tokenizer.encode(t).length, 0);
    expect(report).toMatchObject({ sequences: 3, tokens });
    expect(report.entries).toBe(report.distinct);
    expect(report.entries).toBeGreaterThan(0);
    expect(run.stderr).toMatch(/compute \d+\/\d+/);
    expect((await readdir(store)).length).toBeGreaterThan(1);

    // Another process: the stored table loads lazily and every lookup of the corpus hits it.
    const rt = await createRuntime({ gpu: await nodeGpu(), model: join(models, 'hbert-mini'), store: new MemoryTenantStore(), plotStore: new PlotStore(new DirChunkStore(store)), autotune: false });
    try {
      const [general] = await rt.domains.list();
      await rt.tenants.addSynthetic({ count: 1, domains: ['general'] });
      await rt.classify('tenant-0', CORPUS[0]);
      const after = (await rt.domains.list())[0];
      expect(after.entries).toBe(report.entries);
      expect(after.lookups - general.lookups).toBe(bert.tokenizer.encode(CORPUS[0]).length);
      expect(after.hits - general.hits).toBe(after.lookups - general.lookups);
    } finally {
      await rt.dispose();
    }
  });

  it('measures inherit against exact for a domain with its own lower layers', async () => {
    const store = join(work, 'plot-dev');
    const model = join(models, 'hbert-mini');
    expect((await hmi('plot', 'build', '--model', model, '--corpus', corpus, '--store', store)).code).toBe(0);
    const run = await hmi('plot', 'deviation', '--model', model, '--corpus', corpus, '--store', store, '--domain', 'legal', '--lower-adapter', lower, '--json');
    expect(run.code, run.stderr).toBe(0);
    const dev = JSON.parse(run.stdout) as { meanCosine: number; maxAbsDiff: number; rows: number; inheritedRows: number };
    expect(dev.rows).toBeGreaterThan(0);
    expect(dev.inheritedRows).toBe(dev.rows);
    expect(dev.meanCosine).toBeLessThan(1);
    expect(dev.maxAbsDiff).toBeGreaterThan(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ domain: 'legal', sameAsExact: false });
  });

  it('says plainly when inherit cannot differ from exact instead of printing a cosine of 1', async () => {
    const model = join(models, 'hbert-mini');
    const store = join(work, 'plot-same');
    const [plain, asJson] = await Promise.all([
      hmi('plot', 'deviation', '--model', model, '--corpus', corpus, '--store', store, '--domain', 'politics'),
      hmi('plot', 'deviation', '--model', model, '--corpus', corpus, '--store', store, '--domain', 'politics', '--json'),
    ]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^no lower adapter of its own between politics and its nearest PLOT ancestor \(general\): inherit serves the same values as exact/);
    expect(plain.stdout).not.toMatch(/1\.000000/);
    expect(asJson.code, asJson.stderr).toBe(0);
    const out = JSON.parse(asJson.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ domain: 'politics', sameAsExact: true, reason: expect.stringContaining('no lower adapter of its own') });
    expect(out).not.toHaveProperty('meanCosine');
    // Its own lower layers, but no stored PLOT to inherit from: nothing was inherited either.
    const unbuilt = await hmi('plot', 'deviation', '--model', model, '--corpus', corpus, '--store', join(work, 'plot-unbuilt'), '--domain', 'legal', '--lower-adapter', lower, '--json');
    expect(unbuilt.code, unbuilt.stderr).toBe(0);
    expect(JSON.parse(unbuilt.stdout)).toMatchObject({ sameAsExact: true, inheritedRows: 0, reason: expect.stringContaining('hmi plot build') });
  });

  it('says what is wrong with bad flags and files (exit 2 for usage, 1 for errors)', async () => {
    const model = join(models, 'hbert-mini');
    const empty = join(work, 'empty.txt');
    await writeFile(empty, '\n \n');
    const x = join(work, 'x');
    // Independent processes: run them side by side.
    const [none, bake, noCorpus, noDomain, budget, blank, missing] = await Promise.all([
      hmi('plot'),
      hmi('plot', 'bake', '--model', model),
      hmi('plot', 'build', '--model', model, '--store', x),
      hmi('plot', 'deviation', '--model', model, '--corpus', corpus, '--store', x),
      hmi('plot', 'build', '--model', model, '--corpus', corpus, '--store', x, '--budget', '-3'),
      hmi('plot', 'build', '--model', model, '--corpus', empty, '--store', x),
      hmi('plot', 'build', '--model', model, '--corpus', join(work, 'nope.txt'), '--store', x),
    ]);
    expect([none, bake, noCorpus, noDomain, budget, blank].map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(noCorpus.stderr).toContain('--corpus');
    expect(noDomain.stderr).toContain('--domain');
    expect(blank.stderr).toContain('no text lines');
    expect(missing.code).toBe(1);
    // An adapter of the upper layers cannot be a domain's own lower layers.
    const upper = join(models, 'adapters/hbert-mini/intent-r8');
    const wrong = await hmi('plot', 'build', '--model', model, '--corpus', corpus, '--store', join(work, 'x'), '--domain', 'd', '--lower-adapter', upper);
    expect([wrong.code, wrong.stderr]).toEqual([1, expect.stringContaining('AdapterMismatchError')]);
  });
});
