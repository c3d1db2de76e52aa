/**
 * A tenant adapter whose PEFT modules_to_save carries the pooler (pooler.dense) cannot be
 * served by the multi-tenant runtime: a batch runs the base model's pooler for every row and
 * a classifier per tenant. tenants.add refuses it with AdapterMismatchError (nothing stored,
 * other tenants served as before) instead of storing it and silently serving a different
 * answer; so does `hmi classify`, before it opens a device.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterMismatchError } from '../../src/formats/errors.js';
import { directorySource, loadAdapter, loadModel } from '../../src/formats/model-source.js';
import { writePeftAdapter } from '../../src/formats/peft.js';
import type { LoraAdapter } from '../../src/formats/types.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { TenantStore } from '../../src/knowledge/task/store.js';
import type { BertConfig } from '../../src/formats/model-config.js';
import { bertForwardRef } from '../../src/model/cpu/bert-ref.js';
import { makeAdapterFiles } from '../../src/model/synthetic.js';
import type { ClassifyResult, TenantSpec } from '../../src/runtime/api.js';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { Rng } from '../../src/util/rng.js';
import { hmi } from '../helpers/cli.js';
import { writeBertDir } from '../helpers/models.js';

const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const TEXT = 'the river ran under the old bridge';

let modelDir: string;
let config: BertConfig;
let rt: HmiRuntime;
let store: MemoryTenantStore;
let good: TenantSpec;
let reference: ClassifyResult;
/** The same PEFT adapter without (classifier only) and with the pooler in modules_to_save. */
let classifierOnly: LoraAdapter;
let withPooler: LoraAdapter;
let poolerDir: string;

async function writeDir(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hmi-pooler-adapter-'));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return dir;
}

beforeAll(async () => {
  modelDir = await writeBertDir(SHAPE);
  store = new MemoryTenantStore();
  rt = (await createRuntime({ gpu: await nodeGpu(), model: modelDir, store })) as HmiRuntime;
  config = rt.config as BertConfig;
  good = syntheticTenant(config, rt.split, 0, { count: 1, seed: 3, prefix: 'good-' });
  await rt.tenants.add(good);
  reference = await rt.classify(good.id, TEXT);

  classifierOnly = await loadAdapter(directorySource(await writeDir(makeAdapterFiles(config, { rank: 2, labels: ['a', 'b'], seed: 4 }))), config);
  const H = config.hiddenSize;
  const rng = new Rng(5);
  const head = new Map(classifierOnly.head);
  head.set('pooler.dense.weight', { shape: [H, H], data: rng.normals(H * H, 1 / Math.sqrt(H)) });
  head.set('pooler.dense.bias', { shape: [H], data: rng.normals(H, 0.1) });
  const { config: peftConfig, weights } = writePeftAdapter({ ...classifierOnly, head }, 'bert');
  poolerDir = await writeDir({ 'adapter_config.json': JSON.stringify(peftConfig), 'adapter_model.safetensors': weights });
  withPooler = await loadAdapter(directorySource(poolerDir), config);
});
afterAll(async () => rt?.dispose());

/** Every stored record, bytes included. */
async function snapshot(s: TenantStore): Promise<Map<string, { meta: string; payload: Uint8Array }>> {
  const out = new Map<string, { meta: string; payload: Uint8Array }>();
  for (const m of await s.list()) {
    const r = await s.get(m.id);
    if (r) out.set(m.id, { meta: JSON.stringify(r.meta), payload: new Uint8Array(r.payload) });
  }
  return out;
}

async function rejection(p: Promise<unknown>): Promise<AdapterMismatchError> {
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AdapterMismatchError);
  return e as AdapterMismatchError;
}

describe('a tenant adapter with its own pooler', () => {
  it('is what the PEFT loader reads from modules_to_save, and its pooler changes the answer', async () => {
    expect(withPooler.head.has('pooler.dense.weight') && withPooler.head.has('pooler.dense.bias')).toBe(true);
    const loaded = await loadModel(directorySource(modelDir));
    const ids = loaded.tokenizer.encode(TEXT);
    const own = bertForwardRef(config, loaded.weights, ids, { adapter: withPooler }).logits!;
    const base = bertForwardRef(config, loaded.weights, ids, { adapter: classifierOnly }).logits!;
    expect(Array.from(own)).not.toEqual(Array.from(base));
  });

  it('is refused by tenants.add (alone, in a list, replacing a tenant) with AdapterMismatchError pooler.dense; nothing stored, the other tenant served', async () => {
    const before = await snapshot(store);
    const fresh = syntheticTenant(config, rt.split, 1, { count: 2, seed: 3, prefix: 'fresh-' });
    const biasOnly: LoraAdapter = { ...classifierOnly, head: new Map([...classifierOnly.head, ['pooler.dense.bias', withPooler.head.get('pooler.dense.bias')!]]) };
    for (const attempt of [
      rt.tenants.add({ id: 'pooled', adapter: withPooler }),
      rt.tenants.add({ id: 'pooled', adapter: biasOnly }),
      // A bad tenant in a list stores nothing, not even the good one before it.
      rt.tenants.add([fresh, { id: 'pooled', adapter: withPooler }]),
      // Re-registering a served tenant with a pooler keeps the old adapter.
      rt.tenants.add({ id: good.id, adapter: withPooler }),
    ]) {
      const e = await rejection(attempt);
      expect(e.code).toBe('ADAPTER_MISMATCH');
      expect(e.module).toBe('pooler.dense');
      expect(e.message).toMatch(/one shared pooler \(the base model's\) plus a per-tenant classifier/);
      expect(e.message).toMatch(/pooler frozen/);
    }
    expect(await snapshot(store)).toEqual(before);
    expect((await rt.tenants.list()).map((t) => t.id)).toEqual([good.id]);
    expect((await rt.classify(good.id, TEXT)).scores).toEqual(reference.scores);
  });

  it('is refused for any other head tensor the pool would not serve; the same adapter with the pooler frozen is served', async () => {
    const odd: LoraAdapter = { ...classifierOnly, head: new Map([...classifierOnly.head, ['dense.weight', { shape: [2, config.hiddenSize], data: new Float32Array(2 * config.hiddenSize) }]]) };
    expect((await rejection(rt.tenants.add({ id: 'odd', adapter: odd }))).module).toBe('dense.weight');

    await rt.tenants.add({ id: 'frozen-pooler', adapter: classifierOnly });
    const r = await rt.classify('frozen-pooler', TEXT);
    expect(r.scores).toHaveLength(2);
    expect(['a', 'b']).toContain(r.label);
    await rt.tenants.remove('frozen-pooler');
  });

  it('never comes from addSynthetic: its tenants carry a classifier head only', async () => {
    expect([...syntheticTenant(config, rt.split, 7, { count: 8 }).adapter.head.keys()].sort()).toEqual(['classifier.bias', 'classifier.weight']);
    expect(await rt.tenants.addSynthetic({ count: 3, prefix: 'syn-' })).toBe(3);
    for (const id of ['syn-0', 'syn-1', 'syn-2']) await rt.tenants.remove(id);
  });

  it('is refused by `hmi classify` (exit 1, the runtime\'s error naming `hmi infer --adapter`)', async () => {
    const run = await hmi('classify', '--model', modelDir, '--adapter', poolerDir, '--text', TEXT, '--json');
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/AdapterMismatchError: adapter module "pooler\.dense" .*one shared pooler.*`hmi infer --adapter`/);
  });
});
