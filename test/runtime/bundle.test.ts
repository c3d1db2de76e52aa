import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../src/formats/errors.js';
import { fnv1a64 } from '../../src/formats/hash.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { DirChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { BertConfig } from '../../src/formats/model-config.js';
import { makeAdapterFiles, makeBertFiles, type ModelFiles } from '../../src/model/synthetic.js';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import {
  BundleFormatError,
  BundleModelMismatchError,
  bundlePlotSource,
  loadBundle,
  parseBundleIndex,
  readBundleIndex,
  type BundleIndex,
} from '../../src/runtime/bundle.js';
import { InvalidInputError } from '../../src/runtime/errors.js';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import type { RuntimeOptions } from '../../src/runtime/api.js';

const SHAPE = { hiddenSize: 32, numLayers: 4, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const EMAILS = ['win a free prize now', 'meeting moved to monday', 'claim your free money today', 'the report is attached'];

let base: string;
let gpu: GPU;
let index: BundleIndex;

async function writeFiles(dir: string, files: ModelFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, typeof value === 'string' ? value : JSON.stringify(value));
}

async function runtime(options: RuntimeOptions = {}): Promise<HmiRuntime> {
  return (await createRuntime({ gpu, model: join(base, 'hbert-mini'), store: new MemoryTenantStore(), autotune: false, ...options })) as HmiRuntime;
}

/** A bundle as training ships it, from the synthetic generator: one hBERT, two domains, two tenants (+ one reference), a tenant of another model. */
beforeAll(async () => {
  gpu = await nodeGpu();
  base = `${await mkdtemp(join(tmpdir(), 'hmi-bundle-'))}/`;
  const modelFiles = makeBertFiles(SHAPE);
  await writeFiles(join(base, 'hbert-mini'), modelFiles);
  const config = parseHfConfig(JSON.parse(modelFiles['config.json'] as string)) as BertConfig;
  const lower = (seed: number): ModelFiles => makeAdapterFiles(config, { rank: 4, seed, layers: [0, 1], targets: ['query', 'value', 'intermediate.dense'] });
  await writeFiles(join(base, 'domains/hbert-mini/email'), lower(21));
  await writeFiles(join(base, 'domains/hbert-mini/politics'), lower(22));
  await writeFiles(join(base, 'adapters/hbert-mini/spam'), makeAdapterFiles(config, { rank: 4, seed: 31, labels: ['ham', 'spam'] }));
  await writeFiles(join(base, 'adapters/hbert-mini/party'), makeAdapterFiles(config, { rank: 4, seed: 32, labels: ['Democratic', 'Democratic-Republican', 'Republican'] }));
  await writeFiles(join(base, 'adapters/hbert-mini/spam-full'), makeAdapterFiles(config, { rank: 4, seed: 33, layers: [0, 1, 2, 3], labels: ['ham', 'spam'] }));
  const json = {
    version: 2,
    models: [
      { id: 'hbert-mini', family: 'bert', path: 'hbert-mini/', hash: fnv1a64(modelFiles['model.safetensors'] as Uint8Array), trainedOn: 'synthetic' },
      { id: 'hgpt-mini', family: 'gpt2', path: 'hgpt-mini/', hash: '0123456789abcdef' },
    ],
    domains: [
      // The child before its parent's siblings and in no particular order: loadBundle orders them.
      { model: 'hbert-mini', id: 'politics', parent: 'general', lowerAdapter: 'domains/hbert-mini/politics/', budgetEntries: 3000, trainedOn: 'speeches' },
      { model: 'hbert-mini', id: 'email', parent: 'general', lowerAdapter: 'domains/hbert-mini/email', budgetEntries: 3000, trainedOn: 'emails' },
      { model: 'hgpt-mini', id: 'email', parent: 'general', lowerAdapter: 'domains/hgpt-mini/email/' },
    ],
    plot: { 'hbert-mini': 'plot/hbert-mini/' },
    tenants: [
      { id: 'spam', model: 'hbert-mini', path: 'adapters/hbert-mini/spam/', domain: 'email', task: 'classify', labels: ['ham', 'spam'], rank: 4, trainedOn: 'Enron emails, ham or spam.', examples: EMAILS, reference: 'adapters/hbert-mini/spam-full/' },
      { id: 'party', model: 'hbert-mini', path: 'adapters/hbert-mini/party/', domain: 'politics', task: 'classify', labels: ['Democratic', 'Democratic-Republican', 'Republican'], rank: 4, trainedOn: 'x'.repeat(600) },
      { id: 'moby-dick', model: 'hgpt-mini', path: 'adapters/hgpt-mini/moby-dick/', domain: 'literature', task: 'generate', rank: 8 },
    ],
  };
  await writeJson(join(base, 'index.json'), json);
  index = await readBundleIndex(base);
}, 120_000);

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('loadBundle', () => {
  it('registers the model\'s domains (own lower layers) and tenants with descriptions, once', async () => {
    const rt = await runtime();
    try {
      const phases = new Set<string>();
      const loaded = await loadBundle(rt, base, { onProgress: (p) => phases.add(p.phase) });
      expect(loaded.model.id).toBe('hbert-mini');
      expect(loaded.domains.map((d) => d.id)).toEqual(['politics', 'email']);
      expect(loaded.tenants.map((t) => t.id)).toEqual(['spam', 'party']);
      expect(loaded.tenants[0].examples).toEqual(EMAILS);
      expect(loaded.added).toEqual({ domains: ['politics', 'email'], tenants: ['spam', 'party'] });
      expect([...phases]).toEqual(expect.arrayContaining(['domains', 'adapters']));

      const domains = await rt.domains.list();
      expect(domains.map((d) => [d.id, d.parent, d.scope, d.budgetEntries]).sort()).toEqual([
        ['email', 'general', 'w:email', 3000],
        ['general', null, expect.any(String), 20_000],
        ['politics', 'general', 'w:politics', 3000],
      ]);
      const tenants = new Map((await rt.tenants.list()).map((t) => [t.id, t]));
      expect(tenants.get('spam')).toMatchObject({ domain: 'email', numLabels: 2, description: 'Enron emails, ham or spam.', synthetic: false });
      // A sentence over the 500-character limit is cut, not refused.
      expect(tenants.get('party')!.description).toHaveLength(500);
      expect(tenants.get('party')!.description!.endsWith('…')).toBe(true);
      const r = await rt.classify('spam', EMAILS[0]);
      expect(['ham', 'spam']).toContain(r.label);

      const again = await loadBundle(rt, base);
      expect(again.added).toEqual({ domains: [], tenants: [] });
      // References: the full-model adapters as domain-less tenants `${id}-full`, for the selected tenants only.
      const refs = await loadBundle(rt, base, { tenants: ['spam'], references: true });
      expect(refs.tenants.map((t) => t.id)).toEqual(['spam']);
      expect(refs.added.tenants).toEqual(['spam-full']);
      const full = (await rt.tenants.list()).find((t) => t.id === 'spam-full')!;
      expect(full.domain).toBe('none (all layers)');
      expect(full.description).toMatch(/^Reference for spam/);
      expect((await rt.classify('spam-full', EMAILS[1])).scores).toHaveLength(2);

      await expect(loadBundle(rt, base, { tenants: ['moby-dick'] })).rejects.toBeInstanceOf(InvalidInputError);
      expect((await loadBundle(rt, base, { tenants: false })).tenants).toEqual([]);
    } finally {
      await rt.dispose();
    }
  });

  it('with the bundle\'s PLOT as plotSource, a fresh runtime serves the domain\'s corpus from PLOT', async () => {
    const plotSource = bundlePlotSource(index, 'hbert-mini', base)!;
    expect(plotSource).toBe(`${base}plot/hbert-mini/`);
    expect(bundlePlotSource(index, 'hgpt-mini', base)).toBeUndefined();
    // Build the shipped PLOT as training would: a runtime with the bundle's domains, writing into the bundle.
    const builder = await runtime({ plotStore: new PlotStore(new DirChunkStore(plotSource)) });
    let built: number[];
    try {
      await loadBundle(builder, base, { tenants: ['spam'] });
      await builder.domains.build('email', EMAILS);
      built = (await Promise.all(EMAILS.map((t) => builder.classify('spam', t)))).flatMap((r) => r.scores);
    } finally {
      await builder.dispose();
    }
    const rt = await runtime({ plotSource });
    try {
      await loadBundle(rt, base, { tenants: ['spam'] });
      const scores = [];
      for (const t of EMAILS) scores.push(...(await rt.classify('spam', t)).scores);
      expect((await rt.metrics()).plotHitRate).toBe(1);
      scores.forEach((s, i) => expect(s).toBeCloseTo(built[i], 5));
    } finally {
      await rt.dispose();
    }
  });

  it('a bundle for other weights is BundleModelMismatchError naming the bundle\'s models', async () => {
    const other = `${await mkdtemp(join(tmpdir(), 'hmi-bundle-other-'))}/`;
    await writeJson(join(other, 'index.json'), { ...index, models: index.models.map((m) => ({ ...m, hash: 'ffffffffffffffff' })) });
    const rt = await runtime();
    try {
      const err = await loadBundle(rt, other).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BundleModelMismatchError);
      expect((err as Error).message).toMatch(/is for hbert-mini \(bert, hash ffffffffffffffff\), hgpt-mini/);
      expect((err as Error).message).toContain((await rt.info()).modelHash);
      expect((await rt.domains.list()).map((d) => d.id)).toEqual(['general']);
    } finally {
      await rt.dispose();
      await rm(other, { recursive: true, force: true });
    }
  });
});

describe('bundle index validation', () => {
  it('bad JSON, a wrong shape or version, and paths outside the bundle are BundleFormatError naming the file and field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hmi-bundle-bad-'));
    try {
      await writeJson(join(dir, 'index.json'), '{"version": 2, "models": [');
      const bad = await readBundleIndex(dir).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(BundleFormatError);
      expect((bad as Error).message).toContain(join(dir, 'index.json'));
      expect((bad as Error).message).toContain('invalid JSON');
      await expect(readBundleIndex(join(dir, 'missing'))).rejects.toBeInstanceOf(ModelLoadError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const good = JSON.parse(JSON.stringify(index)) as Record<string, unknown> & { tenants: Record<string, unknown>[]; domains: Record<string, unknown>[] };
    const broken = (f: (j: typeof good) => void): unknown => {
      const j = JSON.parse(JSON.stringify(good)) as typeof good;
      f(j);
      return j;
    };
    const cases: [unknown, RegExp][] = [
      [[], /the index must be an object/],
      [broken((j) => (j.version = 1)), /version is 1; this runtime reads version 2/],
      [broken((j) => delete j.tenants[0].path), /tenants\[0\]\.path must be a non-empty string/],
      [broken((j) => (j.tenants[1].task = 'dance')), /tenants\[1\]\.task must be "classify" or "generate"/],
      [broken((j) => (j.tenants[0].model = 'nope')), /tenants\[0\]\.model names model "nope"/],
      [broken((j) => (j.domains[0].budgetEntries = -1)), /domains\[0\]\.budgetEntries must be a non-negative integer/],
      [broken((j) => (j.tenants[0].path = '../../etc/')), /must be a path inside the bundle/],
      [broken((j) => (j.tenants[0].reference = 'https://elsewhere/x/')), /must be a path inside the bundle/],
      [broken((j) => j.tenants.push(j.tenants[0])), /tenant "spam" appears twice/],
    ];
    for (const [json, message] of cases) {
      const e = (() => {
        try {
          parseBundleIndex(json, 'idx.json');
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(e, String(message)).toBeInstanceOf(BundleFormatError);
      expect((e as Error).message).toMatch(/^idx\.json: /);
      expect((e as Error).message).toMatch(message);
    }
    // Paths are normalized to directories; optional fields stay absent.
    expect(index.domains[1].lowerAdapter).toBe('domains/hbert-mini/email/');
    expect('reference' in index.tenants[1]).toBe(false);
  });
});
