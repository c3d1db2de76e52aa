import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args.js';
import { PLOT_SWITCHES, PLOT_VALUED, runPlot } from '../../src/cli/plot.js';
import { directorySource, loadAdapter, loadModelConfig } from '../../src/formats/model-source.js';
import type { LoraAdapter } from '../../src/formats/types.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { CHUNK_LISTING, DirChunkStore, MemoryChunkStore, chunkFileName } from '../../src/knowledge/domain/chunk-store.js';
import { CorruptChunkError } from '../../src/knowledge/domain/errors.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { makeAdapterFiles } from '../../src/model/synthetic.js';
import type { ClassifyResult, HmiRuntimeApi } from '../../src/runtime/api.js';
import type { RuntimeDomains } from '../../src/runtime/domains.js';
import { InvalidInputError } from '../../src/runtime/errors.js';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import type { RuntimeOptions } from '../../src/runtime/api.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { writeBertDir } from '../helpers/models.js';

const SHAPE = { hiddenSize: 32, numLayers: 4, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const WORDS = ['the', 'river', 'ran', 'fast', 'under', 'old', 'stone', 'bridge', 'cold', 'clear', 'morning', 'we', 'walked', 'home', 'water', 'deep', 'light', 'rain'];
// Enough distinct tri-grams for several chunks (64 entries each), so one can go bad alone.
const CORPUS = Array.from({ length: 24 }, (_, i) => Array.from({ length: 6 + (i % 5) }, (_, j) => WORDS[(i * 7 + j * (i % 4 + 1)) % WORDS.length]).join(' '));
const DOMAIN = 'email';

let model: string;
let work: string;
let gpu: GPU;
let lowerDir: string;
let lowerAdapter: LoraAdapter;
/** A PLOT written by `hmi plot build` (runPlot): the general domain, then DOMAIN with its own lower layers. */
let cliPlot: string;
/** What a runtime that builds the domain's PLOT itself answers. */
let reference: ClassifyResult[];
let tenant: ReturnType<typeof syntheticTenant>;

const noProgress = (): void => undefined;
const plot = (...argv: string[]): ReturnType<typeof runPlot> => runPlot(parseArgs(argv, PLOT_VALUED, PLOT_SWITCHES), noProgress);

async function runtime(options: RuntimeOptions): Promise<HmiRuntime> {
  return (await createRuntime({ gpu, model, store: new MemoryTenantStore(), autotune: false, ...options })) as HmiRuntime;
}

async function serveDomain(rt: HmiRuntimeApi): Promise<ClassifyResult[]> {
  if (!(await rt.domains.list()).some((d) => d.id === DOMAIN)) await rt.domains.add({ id: DOMAIN, lowerAdapter });
  await rt.tenants.add({ ...tenant, domain: DOMAIN });
  const out: ClassifyResult[] = [];
  for (const text of CORPUS) out.push(await rt.classify(tenant.id, text));
  return out;
}

function expectSameScores(a: readonly ClassifyResult[], b: readonly ClassifyResult[], digits: number): void {
  expect(a.length).toBe(b.length);
  a.forEach((r, i) => r.scores.forEach((s, j) => expect(s).toBeCloseTo(b[i].scores[j], digits)));
}

beforeAll(async () => {
  model = await writeBertDir(SHAPE);
  gpu = await nodeGpu();
  work = await mkdtemp(join(tmpdir(), 'hmi-plot-source-'));
  const corpus = join(work, 'corpus.txt');
  await writeFile(corpus, CORPUS.join('\n'));
  const config = await loadModelConfig(directorySource(model));
  lowerDir = join(work, 'lower');
  await mkdir(lowerDir);
  for (const [name, content] of Object.entries(makeAdapterFiles(config, { rank: 4, seed: 3, layers: [0, 1], targets: ['query', 'value', 'intermediate.dense'] }))) await writeFile(join(lowerDir, name), content);
  lowerAdapter = await loadAdapter(directorySource(lowerDir), config);

  cliPlot = join(work, 'plot');
  await plot('build', '--model', model, '--corpus', corpus, '--store', cliPlot);
  const built = await plot('build', '--model', model, '--corpus', corpus, '--store', cliPlot, '--domain', DOMAIN, '--lower-adapter', lowerDir);
  expect(built.command === 'build' && built.report.entries).toBeGreaterThan(64 * 2);

  // The runtime that builds the same domain's PLOT itself (into its own directory) and serves from it.
  const builder = await runtime({ plotStore: new PlotStore(new DirChunkStore(join(work, 'builder'))) });
  try {
    tenant = syntheticTenant(builder.config, builder.split, 0, { count: 1, seed: 5 });
    await builder.domains.add({ id: DOMAIN, lowerAdapter });
    await builder.domains.build(DOMAIN, CORPUS);
    const warm = await builder.metrics();
    reference = await serveDomain(builder);
    expect((await builder.metrics()).plotHitRate).toBeGreaterThanOrEqual(warm.plotHitRate);
  } finally {
    await builder.dispose();
  }
}, 300_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await rm(model, { recursive: true, force: true });
});

describe('plotSource: a PLOT written by hmi plot build, served read-only', () => {
  it('the store directory lists its records in files.json', async () => {
    const files = (await readdir(cliPlot)).filter((f) => f !== CHUNK_LISTING);
    const listed = JSON.parse(await readFile(join(cliPlot, CHUNK_LISTING), 'utf8')) as string[];
    expect(listed.map(chunkFileName).sort()).toEqual(files.sort());
    expect(listed).toContain(`plot/${DOMAIN}/index`);
    expect(listed).toContain('plot/general/index');
  });

  it('a fresh runtime with plotSource (a directory, memory above it) hits PLOT for every token and answers as the runtime that built it', async () => {
    const rt = await runtime({ plotSource: cliPlot });
    try {
      const results = await serveDomain(rt);
      expect((await rt.metrics()).plotHitRate).toBe(1);
      const email = (await rt.domains.list()).find((d) => d.id === DOMAIN)!;
      expect(email.lookups).toBeGreaterThan(0);
      expect(email.hits).toBe(email.lookups);
      expectSameScores(results, reference, 5);
      // Rebuilding saves a new generation above the source; the shipped directory is untouched.
      const before = await readFile(join(cliPlot, CHUNK_LISTING), 'utf8');
      await rt.domains.rebuild(DOMAIN);
      expect(await readFile(join(cliPlot, CHUNK_LISTING), 'utf8')).toBe(before);
    } finally {
      await rt.dispose();
    }
  });

  it('the same directory served over HTTP (plotSource: a URL) and under a store of the caller', async () => {
    const server: Server = createServer((req, res) => {
      // As a static server: the path decoded once names the file.
      readFile(join(cliPlot, decodeURI(new URL(req.url ?? '/', 'http://x').pathname).slice(1)))
        .then((b) => res.end(b))
        .catch(() => {
          res.statusCode = 404;
          res.end();
        });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const own = new MemoryChunkStore();
    const rt = await runtime({ plotSource: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, plotStore: new PlotStore(own) });
    try {
      expectSameScores(await serveDomain(rt), reference, 5);
      expect((await rt.metrics()).plotHitRate).toBe(1);
      expect(own.records.size).toBe(0);
    } finally {
      await rt.dispose();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a corrupt or missing chunk of the source is a miss: computed, the request succeeds, the error is recorded', async () => {
    const damaged = join(work, 'damaged');
    await cp(cliPlot, damaged, { recursive: true });
    const chunks = (await readdir(damaged)).map(decodeURIComponent).filter((n) => n.startsWith(`plot/${DOMAIN}/g`)).sort();
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    const bad = join(damaged, chunkFileName(chunks[0]));
    const bytes = await readFile(bad);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(bad, bytes);
    await rm(join(damaged, chunkFileName(chunks[1])));

    const rt = await runtime({ plotSource: damaged });
    try {
      const results = await serveDomain(rt);
      // Computed values equal the stored ones: the answers do not change, only the hit rate.
      expectSameScores(results, reference, 4);
      const rate = (await rt.metrics()).plotHitRate;
      expect(rate).toBeGreaterThan(0);
      expect(rate).toBeLessThan(1);
      const errors = (rt as unknown as { domainState: RuntimeDomains }).domainState.knowledge.errors;
      expect(errors.map((e) => e.constructor)).toEqual([CorruptChunkError, CorruptChunkError]);
      expect(errors.map((e) => e.message).join('\n')).toMatch(/missing/);
    } finally {
      await rt.dispose();
    }
  });

  it('a plotSource that is not there serves by computation; a bad option is InvalidInputError', async () => {
    const rt = await runtime({ plotSource: join(work, 'nowhere') });
    try {
      expectSameScores(await serveDomain(rt), reference, 4);
      expect((await rt.domains.list()).find((d) => d.id === DOMAIN)!.entries).toBe(0);
      expect((await rt.metrics()).plotHitRate).toBeLessThan(1);
    } finally {
      await rt.dispose();
    }
    await expect(runtime({ plotSource: '' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(runtime({ plotSource: cliPlot, plotStore: new PlotStore(new MemoryChunkStore(), 'other') })).rejects.toBeInstanceOf(InvalidInputError);
  });
});
