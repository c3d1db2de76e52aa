import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeGpu } from '../../src/gpu/node.js';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import { AdapterMismatchError } from '../../src/formats/errors.js';
import type { LoraAdapter } from '../../src/formats/types.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { MemoryChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import type { BertConfig } from '../../src/formats/model-config.js';
import { bertForwardRef } from '../../src/model/cpu/bert-ref.js';
import { bertPlotForwardRef } from '../../src/model/cpu/plot-ref.js';
import { makeAdapterFiles } from '../../src/model/synthetic.js';
import { InvalidInputError } from '../../src/runtime/errors.js';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { writeBertDir } from '../helpers/models.js';

// hbert-mini's depth (4 layers, split 2) at a small width, so every layer below and above the split is exercised.
const SHAPE = { hiddenSize: 32, numLayers: 4, numHeads: 2, intermediateSize: 64, maxPositions: 64, seed: 17 };
const SPLIT = 2;
const TARGETS = ['query', 'key', 'value', 'attention.output.dense', 'intermediate.dense', 'output.dense'];

let gpu: GPU;
let loaded: LoadedModel;
let config: BertConfig;
let rt: HmiRuntime;

async function adapterOn(layers: readonly number[], seed: number): Promise<LoraAdapter> {
  const dir = await mkdtemp(join(tmpdir(), 'hmi-full-adapter-'));
  for (const [name, content] of Object.entries(makeAdapterFiles(config, { rank: 4, layers, targets: TARGETS, seed, numLabels: 3 }))) await writeFile(join(dir, name), content);
  return loadAdapter(directorySource(dir), config);
}

function softmax(x: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const ids = (i: number, n: number): number[] => [2, ...Array.from({ length: n - 2 }, (_, j) => 5 + ((i * 37 + j * 11) % (config.vocabSize - 5))), 3];

beforeAll(async () => {
  const dir = await writeBertDir(SHAPE);
  loaded = await loadModel(directorySource(dir));
  config = loaded.config as BertConfig;
  gpu = await nodeGpu();
  rt = (await createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), plotStore: new PlotStore(new MemoryChunkStore()), split: SPLIT, autotune: false })) as HmiRuntime;
  await rt.domains.add({ id: 'email' });
});
afterAll(async () => rt?.dispose());

describe('tenants with LoRA on every layer (conventional full fine-tuning references)', () => {
  it('a tenant without a domain runs every layer with its lower-layer modules applied, alone and batched with others', async () => {
    const full = await adapterOn([0, 1, 2, 3], 1);
    const upper = await adapterOn([2, 3], 2);
    await rt.tenants.add([
      { id: 'full', adapter: full },
      { id: 'upper', adapter: upper },
      { id: 'plot', domain: 'email', adapter: upper },
    ]);
    const a = ids(1, 9);
    const b = ids(2, 13);
    const want = softmax(bertForwardRef(config, loaded.weights, a, { adapter: full }).logits!);
    // The lower modules matter: dropping them is a different model.
    const withoutLower: LoraAdapter = { ...full, modules: new Map([...full.modules].filter(([p]) => Number(/layer\.(\d+)\./.exec(p)![1]) >= SPLIT)) };
    const dropped = softmax(bertForwardRef(config, loaded.weights, a, { adapter: withoutLower }).logits!);
    expect(Math.max(...want.map((v, i) => Math.abs(v - dropped[i])))).toBeGreaterThan(1e-3);

    const alone = await rt.classify('full', a);
    alone.scores.forEach((s, i) => expect(s).toBeCloseTo(want[i], 4));
    const [mixed, other, plot] = await Promise.all([rt.classify('full', a), rt.classify('upper', b), rt.classify('plot', b)]);
    expect(mixed.scores).toEqual(alone.scores);
    const wantOther = softmax(bertForwardRef(config, loaded.weights, b, { adapter: upper }).logits!);
    other.scores.forEach((s, i) => expect(s).toBeCloseTo(wantOther[i], 4));
    const lnName = `encoder.layer.${SPLIT - 1}.output.LayerNorm`;
    const ln = { weight: loaded.weights.get(`${lnName}.weight`)!.data, bias: loaded.weights.get(`${lnName}.bias`)!.data };
    const wantPlot = softmax(bertPlotForwardRef(config, loaded.weights, SPLIT, b, ln, { adapter: upper }).logits!);
    plot.scores.forEach((s, i) => expect(s).toBeCloseTo(wantPlot[i], 4));
  });

  it('refuses such an adapter for a tenant with a domain: its lower layers come from PLOT', async () => {
    const full = await adapterOn([0, 1, 2, 3], 3);
    for (const domain of ['email', 'general']) {
      await expect(rt.tenants.add({ id: `bad-${domain}`, domain, adapter: full })).rejects.toThrow(AdapterMismatchError);
    }
    expect((await rt.tenants.list()).map((t) => t.id)).not.toContain('bad-email');
  });
});

describe('classify(tenant, input, { truncate })', () => {
  it('cuts an over-long input to its first max-1 tokens closed by [SEP]; without the option it is refused as before', async () => {
    const P = config.maxPositions;
    const long = ids(3, P + 9);
    await expect(rt.classify('upper', long)).rejects.toThrow(InvalidInputError);
    await expect(rt.classify('upper', long, { truncate: false })).rejects.toThrow(InvalidInputError);
    const sep = loaded.tokenizer.tokenToId('[SEP]')!;
    const cut = [...long.slice(0, P - 1), sep];
    const [got, want] = await Promise.all([rt.classify('upper', long, { truncate: true }), rt.classify('upper', cut)]);
    expect(got.scores).toEqual(want.scores);
    expect(got.tokens).toBe(P);
    // Short inputs are untouched; a text goes through the tokenizer first.
    const short = ids(4, 7);
    expect((await rt.classify('upper', short, { truncate: true })).scores).toEqual((await rt.classify('upper', short)).scores);
    const text = Array.from({ length: 80 }, (_, i) => ['river', 'stone', 'bridge'][i % 3]).join(' ');
    const enc = loaded.tokenizer.encode(text);
    expect(enc.length).toBeGreaterThan(P);
    expect((await rt.classify('plot', text, { truncate: true })).scores).toEqual((await rt.classify('plot', [...enc.slice(0, P - 1), sep])).scores);
    // Bad input stays bad.
    await expect(rt.classify('upper', '', { truncate: true })).rejects.toThrow(InvalidInputError);
    await expect(rt.classify('upper', [1, 2, 1_000_000], { truncate: true })).rejects.toThrow(InvalidInputError);
    await expect(rt.classify('upper', short, { truncate: 'yes' } as unknown as { truncate: boolean })).rejects.toThrow(InvalidInputError);
  });
});
