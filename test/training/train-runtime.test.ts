// tenants.train through the public API: it learns, it serves what it trained, it is
// deterministic, an abort or bad input stores nothing, and serving goes on while it trains.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/create-runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { makeGpt2Files } from '../../src/model/synthetic.js';
import type { HmiRuntimeApi, LabelledExample, TrainProgress, TrainResult } from '../../src/runtime/api.js';
import { InvalidInputError, TrainingAbortedError } from '../../src/runtime/errors.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import type { BertConfig } from '../../src/formats/model-config.js';
import { directorySource, loadModel } from '../../src/formats/model-source.js';
import { Rng } from '../../src/util/rng.js';
import { writeBertDir } from '../helpers/models.js';

const POS = ['good', 'great', 'happy', 'love', 'nice', 'best'];
const NEG = ['bad', 'awful', 'sad', 'hate', 'poor', 'worst'];
const NOISE = ['the', 'day', 'was', 'food', 'and', 'it', 'very', 'our', 'team', 'here'];

/** Texts of noise words with one or two words of their class: learnable, not by length. */
function sentiment(n: number, seed: number): LabelledExample[] {
  const r = new Rng(seed);
  const pick = (a: readonly string[]): string => a[Math.floor(r.next() * a.length)];
  return Array.from({ length: n }, (_, i) => {
    const label = i % 2 === 0 ? 'positive' : 'negative';
    const words = Array.from({ length: 3 + Math.floor(r.next() * 5) }, () => pick(NOISE));
    const cls = label === 'positive' ? POS : NEG;
    words.splice(Math.floor(r.next() * words.length), 0, pick(cls));
    if (r.next() < 0.5) words.push(pick(cls));
    return { text: words.join(' '), label };
  });
}

let gpu: GPU;
let bertDir: string;
let gptDir: string;
let split: number;

beforeAll(async () => {
  gpu = await nodeGpu();
  bertDir = await writeBertDir({ hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 32 });
  gptDir = await mkdtemp(join(tmpdir(), 'hmi-train-gpt-'));
  for (const [name, content] of Object.entries(makeGpt2Files({ nEmbd: 32, nLayer: 2, nHead: 2, nPositions: 64, vocabSize: 300, seed: 12 }))) await writeFile(join(gptDir, name), content);
  split = Math.floor(((await loadModel(directorySource(bertDir))).config as BertConfig).numLayers / 2);
});

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

function adapterBits(r: TrainResult): number[] {
  const out: number[] = [];
  for (const [, m] of [...r.adapter.modules].sort(([a], [b]) => a.localeCompare(b))) out.push(...bits(m.A), ...bits(m.B));
  for (const [, t] of [...r.adapter.head].sort(([a], [b]) => a.localeCompare(b))) out.push(...bits(t.data));
  return out;
}

describe('tenants.train (hBERT)', () => {
  let rt: HmiRuntimeApi;
  let store: MemoryTenantStore;
  const data = sentiment(96, 1);
  const held = sentiment(40, 2);
  beforeAll(async () => {
    store = new MemoryTenantStore();
    rt = await createRuntime({ gpu, model: bertDir, store, autotune: false, tokenBudget: 128 });
  });
  afterAll(async () => {
    await rt?.dispose();
  });

  it('learns a task, reports progress, and serves exactly what it validated', async () => {
    const events: TrainProgress[] = [];
    const result = await rt.tenants.train({ id: 'sentiment', data, validation: held, epochs: 6, rank: 4, batchSize: 16, learningRate: 1e-2, seed: 3 }, (p) => events.push(p));
    expect(result.labels).toEqual(['negative', 'positive']);
    expect(result.history).toHaveLength(6);
    expect(result.steps).toBe(6 * Math.ceil(96 / 16));
    expect(result.history[5].loss).toBeLessThan(result.history[0].loss);
    expect(result.validation!.metric).toBe('accuracy');
    // A random tiny base: well above chance (0.5; 28 of 40 by luck has p < 0.01), not the real models' figure (the accuracy bench).
    expect(result.validation!.value).toBeGreaterThanOrEqual(0.7);
    const steps = events.filter((e) => e.phase === 'train');
    expect(steps.map((e) => e.step)).toEqual(Array.from({ length: result.steps }, (_, i) => i + 1));
    expect(steps.every((e) => Number.isFinite(e.loss) && e.tokensPerSecond > 0)).toBe(true);
    expect(events.filter((e) => e.phase === 'validate')).toHaveLength(6);
    expect(events[events.length - 1].phase).toBe('store');
    // No domain: the LoRA adapts every layer.
    expect(Math.min(...[...result.adapter.modules.keys()].map((k) => Number(/layer\.(\d+)/.exec(k)![1])))).toBe(0);

    const info = (await rt.tenants.list()).find((t) => t.id === 'sentiment')!;
    expect(info.synthetic).toBe(false);
    expect(info.numLabels).toBe(2);
    let correct = 0;
    for (const e of held) if ((await rt.classify('sentiment', e.text)).label === e.label) correct++;
    expect(correct / held.length).toBeCloseTo(result.validation!.value, 5);
  });

  it('the same seed and data give the same adapter bytes; another seed does not', async () => {
    const spec = { data: data.slice(0, 48), epochs: 2, rank: 2, batchSize: 8, validation: 0 };
    const a = await rt.tenants.train({ ...spec, id: 'det-a', seed: 7 });
    const b = await rt.tenants.train({ ...spec, id: 'det-b', seed: 7 });
    const c = await rt.tenants.train({ ...spec, id: 'det-c', seed: 8 });
    expect(adapterBits(a)).toEqual(adapterBits(b));
    expect(adapterBits(a)).not.toEqual(adapterBits(c));
  });

  it('a domain tenant trains only the layers above the split, on the PLOT path it is served by', async () => {
    await rt.domains.add({ id: 'reviews' });
    const r = await rt.tenants.train({ id: 'dom', domain: 'reviews', data, epochs: 3, rank: 4, batchSize: 16, learningRate: 5e-3, validation: held });
    for (const k of r.adapter.modules.keys()) expect(Number(/layer\.(\d+)/.exec(k)![1])).toBeGreaterThanOrEqual(split);
    expect((await rt.tenants.list()).find((t) => t.id === 'dom')!.domain).toBe('reviews');
    let correct = 0;
    for (const e of held) if ((await rt.classify('dom', e.text)).label === e.label) correct++;
    expect(correct / held.length).toBeCloseTo(r.validation!.value, 5);
  });

  it('an abort rejects with TrainingAbortedError and stores nothing', async () => {
    const before = (await store.list()).length;
    const controller = new AbortController();
    const job = rt.tenants.train({ id: 'aborted', data, epochs: 3, batchSize: 8, signal: controller.signal }, (p) => {
      if (p.phase === 'train' && p.step === 2) controller.abort();
    });
    await expect(job).rejects.toBeInstanceOf(TrainingAbortedError);
    expect((await rt.tenants.list()).some((t) => t.id === 'aborted')).toBe(false);
    expect((await store.list()).length).toBe(before);
  });

  it('bad input is an InvalidInputError before any GPU work, and stores nothing', async () => {
    const bad: [string, Parameters<HmiRuntimeApi['tenants']['train']>[0]][] = [
      ['empty data', { id: 'x', data: [] }],
      ['one label', { id: 'x', data: [{ text: 'a b', label: 'only' }, { text: 'c', label: 'only' }] }],
      ['texts for a classifier', { id: 'x', data: ['just text'] }],
      ['unknown domain', { id: 'x', domain: 'nope', data }],
      ['bad rank', { id: 'x', data, rank: 0 }],
      ['bad fraction', { id: 'x', data, validation: 1.5 }],
      ['unknown target', { id: 'x', data, targets: ['c_attn'] }],
      ['validation label unseen', { id: 'x', data, validation: [{ text: 'a', label: 'neutral' }] }],
      ['empty id', { id: '', data }],
    ];
    for (const [what, spec] of bad) await expect(rt.tenants.train(spec), what).rejects.toBeInstanceOf(InvalidInputError);
    expect((await rt.tenants.list()).some((t) => t.id === 'x')).toBe(false);
  });

  it('serving goes on while a tenant trains', async () => {
    const other = syntheticTenant((await loadModel(directorySource(bertDir))).config, 1, 0, { count: 1, seed: 5 });
    await rt.tenants.add(other);
    let trained = false;
    const job = rt.tenants.train({ id: 'busy', data: data.slice(0, 48), epochs: 1, batchSize: 8, validation: 0 }).then((r) => {
      trained = true;
      return r;
    });
    let served = 0;
    while (!trained) {
      const answers = await Promise.all(held.slice(0, 8).map((e) => rt.classify(other.id, e.text)));
      served += answers.length;
    }
    await job;
    expect(served).toBeGreaterThan(0);
  });
});

describe('tenants.train (hGPT)', () => {
  let rt: HmiRuntimeApi;
  beforeAll(async () => {
    rt = await createRuntime({ gpu, model: gptDir, store: new MemoryTenantStore(), autotune: false, tokenBudget: 128 });
  });
  afterAll(async () => {
    await rt?.dispose();
  });

  it('learns plain texts; score() serves the perplexity it validated', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => `the whale ${i % 5 === 0 ? 'swam' : 'dove'} deep under the grey sea, and the crew watched it go`);
    const held = lines.slice(0, 6);
    const r = await rt.tenants.train({ id: 'whale', data: lines, validation: held, epochs: 3, rank: 4, batchSize: 4, learningRate: 5e-3 });
    expect(r.labels).toBeUndefined();
    expect(r.validation!.metric).toBe('perplexity');
    expect(r.history[2].loss).toBeLessThan(r.history[0].loss);
    expect(r.history[2].validation!.value).toBeLessThan(r.history[0].validation!.value);
    // score() over each held-out text (plus the end-of-text token the trainer appends).
    let sum = 0;
    let n = 0;
    for (const t of held) {
      const s = await rt.score('whale', t + '<|endoftext|>');
      sum += s.meanLogprob * s.logprobs.length;
      n += s.logprobs.length;
    }
    expect(Math.exp(-sum / n)).toBeCloseTo(r.validation!.value, 2);
  });

  it('refuses labelled examples (an hGPT tenant trains on texts)', async () => {
    await expect(rt.tenants.train({ id: 'x', data: [{ text: 'a', label: 'b' }] })).rejects.toBeInstanceOf(InvalidInputError);
  });
});
