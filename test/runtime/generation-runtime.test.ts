import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeGpu } from '../../src/gpu/node.js';
import { directorySource, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { Gpt2Config } from '../../src/formats/model-config.js';
import { gpt2GreedyRef } from '../../src/model/cpu/gpt2-ref.js';
import { makeGpt2Files } from '../../src/model/synthetic.js';
import type { GenerateChunk, GenerateOptions, TenantSpec } from '../../src/runtime/api.js';
import { InvalidInputError, RuntimeDisposedError, UnknownTenantError } from '../../src/runtime/errors.js';
import { KvTooLargeError } from '../../src/model/kv/errors.js';
import { ContinuousBatcher, type StepSeq } from '../../src/runtime/generation/continuous-batch.js';
import { BlockAllocator } from '../../src/model/kv/kv-blocks.js';
import type { Engine } from '../../src/runtime/engine.js';
import type { DecoderParts } from '../../src/runtime/heads/decoder-head.js';
import { HmiRuntime } from '../../src/runtime/runtime.js';
import type { RuntimeOptions } from '../../src/runtime/api.js';
import { createRuntime } from '../../src/create-runtime.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { trackGpu } from '../helpers/gpu-tracking.js';
import { writeBertDir } from '../helpers/models.js';
import { AdapterPool } from '../../src/knowledge/task/pool.js';

const SHAPE = { nEmbd: 32, nLayer: 2, nHead: 2, nPositions: 64, vocabSize: 300, seed: 9 };
const BLOCK = 4;
/** KV bytes for `blocks` blocks of the tiny model (2 layers, H 32) plus the step buffers. */
const kvBytesFor = (blocks: number): number => 32 + blocks * (BLOCK * 2 * 32 * 4 * 2 + 20);

let dir: string;
let gpu: GPU;
let loaded: LoadedModel;
let config: Gpt2Config;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hmi-gpt-'));
  for (const [name, content] of Object.entries(makeGpt2Files(SHAPE))) await writeFile(join(dir, name), content);
  loaded = await loadModel(directorySource(dir));
  config = loaded.config as Gpt2Config;
  gpu = await nodeGpu();
});

async function runtime(over: Partial<RuntimeOptions> = {}): Promise<HmiRuntime> {
  const options: RuntimeOptions = {
    gpu,
    model: dir,
    store: new MemoryTenantStore(),
    poolBytes: 1 << 20,
    kvBytes: kvBytesFor(64),
    kvBlockTokens: BLOCK,
    autotune: false,
    ...over,
  };
  return (await createRuntime(options)) as HmiRuntime;
}

const engineOf = (rt: HmiRuntime): Engine<DecoderParts> => (rt as unknown as { engine: Engine<DecoderParts> }).engine;

async function collect(stream: AsyncIterable<GenerateChunk>): Promise<GenerateChunk[]> {
  const out: GenerateChunk[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

const tokensOf = (chunks: readonly GenerateChunk[]): number[] => chunks.filter((c) => c.tokenId >= 0).map((c) => c.tokenId);

/** Tenants of the runtime's default split (half the layers). */
function tenants(count: number, seed = 3): TenantSpec[] {
  return Array.from({ length: count }, (_, i) => syntheticTenant(config, Math.floor(config.numLayers / 2), i, { count, seed, ranks: [1, 2, 4, 3] }));
}

function prompt(i: number, n: number): number[] {
  return Array.from({ length: n }, (_, j) => (i * 37 + j * 11 + 5) % config.vocabSize);
}

describe('hGPT generation runtime', () => {
  let rt: HmiRuntime;
  let specs: TenantSpec[];

  beforeAll(async () => {
    rt = await runtime();
    specs = tenants(6);
    await rt.tenants.add(specs);
  });

  afterAll(async () => {
    await rt.dispose();
  });

  it('is what createRuntime builds for a gpt2 checkpoint', async () => {
    expect(rt).toBeInstanceOf(HmiRuntime);
    const info = await rt.info();
    expect(info.family).toBe('gpt2');
    expect(info.numLayers).toBe(2);
  });

  it('decodes greedily token for token like the CPU reference with each tenant\'s adapter', async () => {
    const n = 6;
    const got = await Promise.all(specs.slice(0, 3).map((s, i) => collect(rt.generate(s.id, prompt(i, 3 + 2 * i), { maxTokens: n, temperature: 0 }))));
    got.forEach((chunks, i) => {
      expect(tokensOf(chunks)).toEqual(gpt2GreedyRef(config, loaded.weights, prompt(i, 3 + 2 * i), n, { adapter: specs[i].adapter }));
      expect(chunks.map((c) => c.done)).toEqual([...Array(n - 1).fill(false), true]);
      expect(chunks[n - 1].finishReason).toBe('length');
    });
  });

  it('gives a request the same greedy output alone and among 50 other tenants\' requests joining and leaving', async () => {
    const target = { tenant: specs[1].id, ids: prompt(50, 5), n: 10 };
    const alone = tokensOf(await collect(rt.generate(target.tenant, target.ids, { maxTokens: target.n })));
    const others: Promise<GenerateChunk[]>[] = [];
    // Staggered arrivals of different lengths: others join and finish while the target decodes.
    const launch = (k: number): void => {
      others.push(collect(rt.generate(specs[k % specs.length].id, prompt(k, 1 + (k % 7)), { maxTokens: 1 + ((k * 5) % 9) })));
    };
    for (let k = 0; k < 8; k++) launch(k);
    const mine = collect(rt.generate(target.tenant, target.ids, { maxTokens: target.n }));
    for (let k = 8; k < 50; k++) {
      await new Promise((r) => setTimeout(r, 2));
      launch(k);
    }
    expect(tokensOf(await mine)).toEqual(alone);
    const rest = await Promise.all(others);
    rest.forEach((chunks, k) => {
      const spec = specs[k % specs.length];
      expect(tokensOf(chunks)).toEqual(gpt2GreedyRef(config, loaded.weights, prompt(k, 1 + (k % 7)), 1 + ((k * 5) % 9), { adapter: spec.adapter }));
    });
    expect(alone).toEqual(gpt2GreedyRef(config, loaded.weights, target.ids, target.n, { adapter: specs[1].adapter }));
    expect(engineOf(rt).head.kv.bytesUsed).toBe(0);
    expect(engineOf(rt).pool.stats().pinnedTenants).toBe(0);
  });

  it('streams text that joins into the tokenizer\'s decoding, and ends at a stop string or a stop token', async () => {
    const text = 'The morning was cold';
    const chunks = await collect(rt.generate(specs[0].id, text, { maxTokens: 12 }));
    const ids = tokensOf(chunks);
    expect(chunks.map((c) => c.text).join('')).toBe(loaded.tokenizer.decode(ids));
    const full = chunks.map((c) => c.text).join('');

    // A stop string that first occurs after some text: the output is the text before it.
    const at = Array.from({ length: full.length - 2 }, (_, k) => k + 1).find((k) => full.indexOf(full.slice(k, k + 2)) === k);
    expect(at).toBeDefined();
    const stopped = await collect(rt.generate(specs[0].id, text, { maxTokens: 12, stop: [full.slice(at!, at! + 2)] }));
    expect(stopped.map((c) => c.text).join('')).toBe(full.slice(0, at));
    expect(stopped[stopped.length - 1]).toMatchObject({ done: true, finishReason: 'stop' });

    const byId = await collect(rt.generate(specs[0].id, text, { maxTokens: 12, stopTokenIds: [ids[3]] }));
    expect(tokensOf(byId)).toEqual(ids.slice(0, ids.indexOf(ids[3]) + 1));
    expect(byId[byId.length - 1]).toMatchObject({ done: true, finishReason: 'stop', tokenId: ids[3] });
  });

  it('replays a seeded sampled request exactly, alone or batched with others', async () => {
    const opts: GenerateOptions = { maxTokens: 8, temperature: 0.9, topK: 20, topP: 0.9, seed: 1234 };
    const a = tokensOf(await collect(rt.generate(specs[2].id, prompt(7, 4), opts)));
    const [b] = await Promise.all([
      collect(rt.generate(specs[2].id, prompt(7, 4), opts)),
      collect(rt.generate(specs[3].id, prompt(8, 6), { maxTokens: 5 })),
      collect(rt.generate(specs[4].id, prompt(9, 2), { maxTokens: 9, temperature: 1, seed: 5 })),
    ]);
    expect(tokensOf(b)).toEqual(a);
  });

  it('rejects bad input with named errors before any GPU work', async () => {
    const first = (s: AsyncIterable<GenerateChunk>): Promise<unknown> => s[Symbol.asyncIterator]().next();
    const id = specs[0].id;
    await expect(first(rt.generate('nobody', 'hi'))).rejects.toThrow(UnknownTenantError);
    await expect(first(rt.generate(id, ''))).rejects.toThrow(InvalidInputError);
    await expect(first(rt.generate(id, []))).rejects.toThrow(InvalidInputError);
    await expect(first(rt.generate(id, [1, config.vocabSize]))).rejects.toThrow(/outside the vocabulary/);
    await expect(first(rt.generate(id, prompt(1, config.maxPositions + 1)))).rejects.toThrow(InvalidInputError);
    await expect(first(rt.generate(id, prompt(1, 10), { maxTokens: config.maxPositions }))).rejects.toThrow(/exceed the model's 64 positions/);
    for (const bad of [{ maxTokens: -1 }, { maxTokens: 1.5 }, { temperature: -1 }, { topP: 0 }, { topK: 0.5 }, { seed: -3 }, { stop: [''] }, { stopTokenIds: [config.vocabSize] }] as GenerateOptions[]) {
      await expect(first(rt.generate(id, 'hi', bad))).rejects.toThrow(InvalidInputError);
    }
    await expect(rt.classify(id, 'hi')).rejects.toThrow(/hBERT/);
  });

  it('serves OpenAI-style completions, whole or streamed', async () => {
    const text = 'The old stone';
    const ids = loaded.tokenizer.encode(text);
    const ref = gpt2GreedyRef(config, loaded.weights, ids, 5, { adapter: specs[5].adapter });
    const c = await rt.completions.create({ model: specs[5].id, prompt: text, max_tokens: 5, temperature: 0 });
    expect(c).toMatchObject({
      object: 'text_completion',
      model: specs[5].id,
      choices: [{ index: 0, text: loaded.tokenizer.decode(ref), finish_reason: 'length' }],
      usage: { prompt_tokens: ids.length, completion_tokens: 5, total_tokens: ids.length + 5 },
    });
    expect(c.id).toMatch(/^cmpl-/);
    const stream = await rt.completions.create({ model: specs[5].id, prompt: ids, max_tokens: 5, temperature: 0, stream: true });
    const chunks = [];
    for await (const ch of stream) chunks.push(ch);
    expect(chunks.map((ch) => ch.choices[0].text).join('')).toBe(c.choices[0].text);
    expect(chunks.map((ch) => ch.choices[0].finish_reason)).toEqual([null, null, null, null, 'length']);
    expect(chunks[4].usage).toEqual(c.usage);
    await expect(rt.completions.create({ model: 'nobody', prompt: 'x' })).rejects.toThrow(UnknownTenantError);
    await expect(rt.completions.create({ model: specs[0].id, prompt: 'x', max_tokens: -2 })).rejects.toThrow(InvalidInputError);
  });

  it('reports KV use, decode throughput and latency in its metrics', async () => {
    const m = await rt.metrics();
    expect(m.kvBytesTotal).toBeGreaterThan(0);
    expect(m.kvBytesUsed).toBe(0);
    expect(m.tokensPerSecond).toBeGreaterThan(0);
    expect(m.requestsServed).toBeGreaterThan(30);
    expect(m.p99Ms).toBeGreaterThanOrEqual(m.p50Ms);
    expect(m.p50Ms).toBeGreaterThan(0);
  });
});

describe('hGPT KV admission and cancellation', () => {
  it('makes requests wait while the KV pool is full, rejects one that could never fit, frees KV as an abort takes effect', async () => {
    // 8 blocks of 4 positions: one request of 4 prompt + 13 new tokens (16 positions) takes 4 blocks.
    const rt = await runtime({ kvBytes: kvBytesFor(8) });
    const [spec] = tenants(1);
    await rt.tenants.add(spec);
    const kv = engineOf(rt).head.kv;
    expect(kv.numBlocks).toBe(8);
    await expect(rt.generate(spec.id, prompt(1, 30), { maxTokens: 4 })[Symbol.asyncIterator]().next()).rejects.toThrow(KvTooLargeError);

    // Three requests of 4 blocks each: the third waits for one of the first two to finish.
    const run = (i: number): Promise<GenerateChunk[]> => collect(rt.generate(spec.id, prompt(i, 4), { maxTokens: 13 }));
    const got = await Promise.all([run(1), run(2), run(3)]);
    got.forEach((chunks, k) => expect(tokensOf(chunks)).toEqual(gpt2GreedyRef(config, loaded.weights, prompt(k + 1, 4), 13, { adapter: spec.adapter })));

    // Abort mid-way: the request leaves at the end of the step running now, with its KV blocks
    // back before any later step (a step in flight still writes them on the GPU).
    const controller = new AbortController();
    const chunks: GenerateChunk[] = [];
    const others = run(6);
    for await (const c of rt.generate(spec.id, prompt(4, 4), { maxTokens: 13, signal: controller.signal })) {
      chunks.push(c);
      if (chunks.length === 3) controller.abort();
      if (c.done) expect(kv.liveSequences).toBe(1);
    }
    expect(chunks[chunks.length - 1]).toMatchObject({ tokenId: -1, done: true, finishReason: 'abort' });
    expect(chunks.length).toBeLessThan(13);
    await others;
    expect(kv.bytesReserved).toBe(0);

    // Leaving the loop early ends the request the same way.
    for await (const c of rt.generate(spec.id, prompt(5, 4), { maxTokens: 13 })) {
      expect(c.done).toBe(false);
      break;
    }
    expect(kv.liveSequences).toBe(0);
    await rt.dispose();
  });
});

describe('hGPT tenants under pressure', () => {
  it('serves more tenants at once than the adapter pool holds: requests wait for pins, outputs stay exact', async () => {
    const specs = tenants(8, 11);
    const need = Math.max(...specs.map((s) => AdapterPool.bytesNeeded(s.adapter, config.hiddenSize)));
    const rt = await runtime({ poolBytes: 3 * need });
    await rt.tenants.add(specs);
    const got = await Promise.all(specs.map((s, i) => collect(rt.generate(s.id, prompt(i, 2 + (i % 3)), { maxTokens: 4 }))));
    got.forEach((chunks, i) => expect(tokensOf(chunks)).toEqual(gpt2GreedyRef(config, loaded.weights, prompt(i, 2 + (i % 3)), 4, { adapter: specs[i].adapter })));
    expect(engineOf(rt).pool.stats().pinnedTenants).toBe(0);
    expect(engineOf(rt).pool.stats().evictions).toBeGreaterThan(0);
    await rt.dispose();
  });

  it('ends a removed tenant\'s requests with UnknownTenantError, and every request on dispose', async () => {
    const rt = await runtime();
    const specs = tenants(2);
    await rt.tenants.add(specs);
    const removedRun = collect(rt.generate(specs[0].id, prompt(1, 3), { maxTokens: 40 }));
    const keptRun = collect(rt.generate(specs[1].id, prompt(2, 3), { maxTokens: 6 }));
    const it0 = rt.generate(specs[1].id, prompt(3, 3), { maxTokens: 40 })[Symbol.asyncIterator]();
    expect((await it0.next()).done).toBe(false);
    await rt.tenants.remove(specs[0].id);
    await expect(removedRun).rejects.toThrow(UnknownTenantError);
    expect(tokensOf(await keptRun)).toEqual(gpt2GreedyRef(config, loaded.weights, prompt(2, 3), 6, { adapter: specs[1].adapter }));
    const rest = (async (): Promise<void> => {
      for (let r = await it0.next(); !r.done; r = await it0.next());
    })();
    await rt.dispose();
    await expect(rest).rejects.toThrow(RuntimeDisposedError);
    await expect(rt.generate(specs[1].id, 'hi')[Symbol.asyncIterator]().next()).rejects.toThrow(RuntimeDisposedError);
  });
});

describe('hGPT memory over many requests', () => {
  it('returns to the same live GPU buffers, KV blocks and pool pins after 1,000 sequential requests', async () => {
    const tracker = trackGpu(gpu);
    const specs = tenants(8);
    // Room for about three tenants, so requests keep evicting and reloading adapters.
    const need = Math.max(...specs.map((s) => AdapterPool.bytesNeeded(s.adapter, config.hiddenSize)));
    const rt = await runtime({ gpu: tracker.gpu, poolBytes: 3 * need });
    await rt.tenants.add(specs);
    const one = async (i: number): Promise<void> => {
      await collect(rt.generate(specs[i % specs.length].id, prompt(i, 1 + (i % 5)), { maxTokens: 2 }));
    };
    // Warm-up: the workspace and LoRA tables reach their steady sizes.
    for (let i = 0; i < 8; i++) await one(i);
    const baseline = tracker.live();
    for (let i = 0; i < 1000; i++) await one(i);
    expect(tracker.live()).toBe(baseline);
    const engine = engineOf(rt);
    expect(engine.head.kv.liveSequences).toBe(0);
    expect(engine.head.kv.bytesUsed).toBe(0);
    expect(engine.pool.stats().pinnedTenants).toBe(0);
    // The adapter pool holds few tenants: requests evicted and reloaded adapters all along.
    expect(engine.pool.stats().evictions).toBeGreaterThan(0);
    await rt.dispose();
    expect(tracker.live()).toBe(0);
  });
});

describe('device loss during generation', () => {
  it('recovers and finishes every in-flight request with the same tokens, greedy or seeded', async () => {
    const rt = await runtime();
    const specs = tenants(4);
    await rt.tenants.add(specs);
    const expected: number[][] = specs.map((s, i) => gpt2GreedyRef(config, loaded.weights, prompt(i, 4), 12, { adapter: s.adapter }));
    // The last request samples: its seeded stream must resume where it stopped.
    const sampled: GenerateOptions = { maxTokens: 12, temperature: 1, topK: 30, seed: 77 };
    expected[3] = tokensOf(await collect(rt.generate(specs[3].id, prompt(3, 4), sampled)));
    const first = engineOf(rt);
    const streams = specs.map((s, i) => rt.generate(s.id, prompt(i, 4), i === 3 ? sampled : { maxTokens: 12 }));
    const results = streams.map(async (stream, i) => {
      const chunks: GenerateChunk[] = [];
      for await (const c of stream) {
        chunks.push(c);
        if (i === 0 && chunks.length === 4) first.ctx.device.destroy();
      }
      return tokensOf(chunks);
    });
    expect(await Promise.all(results)).toEqual(expected);
    expect(engineOf(rt)).not.toBe(first);
    expect((await rt.metrics()).deviceRecoveries).toBe(1);
    await rt.dispose();
  });
});

describe('completions on an hBERT runtime', () => {
  it('rejects as its generate() does', async () => {
    const bertDir = await writeBertDir({ hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 });
    const rt = await createRuntime({ gpu, model: bertDir, store: new MemoryTenantStore(), poolBytes: 1 << 20 });
    await expect(rt.completions.create({ model: 'any', prompt: 'hello' })).rejects.toThrow(/needs an hGPT model/);
    await rt.dispose();
  });
});

describe('ContinuousBatcher groups', () => {
  it('hands each step its sequences grouped, so one group\'s rows are contiguous', async () => {
    const kv = new BlockAllocator(64, 4);
    const seen: (string | undefined)[][] = [];
    const step = async (batch: readonly StepSeq[]): Promise<Float32Array[]> => {
      seen.push(batch.map((s) => s.group));
      for (const s of batch) kv.advance(s.seqId, s.ids.length);
      return batch.map(() => Float32Array.from([0, 1]));
    };
    const b = new ContinuousBatcher({ kv, step });
    const groups = ['t2', 't1', undefined, 't2', 't1', 't3'];
    await Promise.all(groups.map((g, i) => b.generate({ promptIds: [1], maxNewTokens: 2 + i, ...(g !== undefined ? { group: g } : {}) })));
    for (const s of seen) {
      const runs = s.filter((g, i) => i === 0 || g !== s[i - 1]);
      expect(new Set(runs).size).toBe(runs.length);
    }
    expect(seen[0]).toEqual([undefined, 't1', 't1', 't2', 't2', 't3']);
  });
});
