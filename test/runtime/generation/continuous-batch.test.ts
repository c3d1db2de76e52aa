import { describe, expect, it } from 'vitest';
import { ContinuousBatcher, type GenerationRequest, type StepSeq } from '../../../src/runtime/generation/continuous-batch.js';
import { BlockAllocator } from '../../../src/model/kv/kv-blocks.js';
import { KvTooLargeError } from '../../../src/model/kv/errors.js';
import { InvalidInputError } from '../../../src/runtime/errors.js';
import type { SamplerOptions } from '../../../src/runtime/generation/sampler.js';

const V = 23;

/**
 * A deterministic fake model: a sequence's logits depend only on its own tokens so far.
 * It keeps each sequence's "cache" (its tokens) and checks the batcher feeds them in order,
 * and grows the KV allocator as the real model would.
 */
class FakeModel {
  readonly history = new Map<number, number[]>();
  readonly stepSizes: number[] = [];
  maxLive = 0;

  constructor(private readonly kv: BlockAllocator) {}

  step = async (batch: readonly StepSeq[]): Promise<Float32Array[]> => {
    this.stepSizes.push(batch.length);
    this.maxLive = Math.max(this.maxLive, this.kv.liveSequences);
    await Promise.resolve();
    return batch.map(({ seqId, ids, past }) => {
      const h = this.history.get(seqId) ?? [];
      if (past === 0) this.history.set(seqId, h);
      expect(past).toBe(h.length);
      expect(this.kv.length(seqId)).toBe(past);
      this.kv.advance(seqId, ids.length);
      h.push(...ids);
      return FakeModel.logits(h);
    });
  };

  static logits(tokens: readonly number[]): Float32Array {
    let hsh = 2166136261;
    for (const t of tokens) hsh = Math.imul(hsh ^ (t + 1), 16777619);
    const out = new Float32Array(V);
    for (let v = 0; v < V; v++) {
      const x = Math.imul(hsh ^ Math.imul(v + 7, 0x9e3779b1), 0x85ebca6b) >>> 0;
      out[v] = (x % 1000) / 250 + (v === tokens.length % V ? 0.5 : 0);
    }
    return out;
  }
}

function setup(numBlocks: number, blockTokens = 4, maxActive?: number): { kv: BlockAllocator; model: FakeModel; batcher: ContinuousBatcher } {
  const kv = new BlockAllocator(numBlocks, blockTokens);
  const model = new FakeModel(kv);
  return { kv, model, batcher: new ContinuousBatcher({ kv, step: model.step, maxActive }) };
}

function prompt(seed: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) % V);
}

const TARGETS: { req: Omit<GenerationRequest, 'signal'>; name: string }[] = [
  { name: 'greedy', req: { promptIds: prompt(1, 6), maxNewTokens: 12 } },
  { name: 'greedy with a stop token', req: { promptIds: prompt(2, 3), maxNewTokens: 20, sampling: { stopTokenIds: [4, 9] } } },
  { name: 'seeded sampling', req: { promptIds: prompt(3, 9), maxNewTokens: 15, sampling: { temperature: 0.9, topK: 8, topP: 0.95, seed: 77 } as SamplerOptions } },
];

describe('ContinuousBatcher', () => {
  for (const { name, req } of TARGETS) {
    it(`${name}: a request's output is the same alone and among 50 others joining and leaving`, async () => {
      const alone = setup(64);
      const solo = await alone.batcher.generate(req);
      expect(solo.tokens.length).toBeGreaterThan(0);

      // A small pool: admission control makes requests wait for others to leave.
      const busy = setup(40, 4, 12);
      const others: Promise<unknown>[] = [];
      const aborts: AbortController[] = [];
      let sampled = 0;
      const submitOther = (i: number): void => {
        const ac = new AbortController();
        aborts.push(ac);
        others.push(
          busy.batcher.generate({
            promptIds: prompt(100 + i, 1 + ((i * 5) % 11)),
            maxNewTokens: 1 + ((i * 7) % 13),
            sampling: i % 3 === 0 ? { temperature: 1, seed: i } : { stopTokenIds: [i % V] },
            signal: ac.signal,
            onToken: () => {
              sampled++;
              // Cancel some requests mid-flight, and submit more as the batch runs.
              if (sampled % 9 === 0) aborts[(sampled * 13) % aborts.length].abort();
              if (sampled % 5 === 0 && aborts.length < 50) submitOther(aborts.length);
            },
          }),
        );
      };
      for (let i = 0; i < 20; i++) submitOther(i);
      const target = busy.batcher.generate(req);
      for (let i = 20; i < 30; i++) submitOther(i);
      const results = await Promise.all([target, ...others]);
      await busy.batcher.idle();

      expect(results[0]).toEqual(solo);
      expect(aborts.length).toBe(50);
      expect(results.filter((r) => (r as { finishReason: string }).finishReason === 'cancelled').length).toBeGreaterThan(0);
      // Sequences really shared steps, within the batch limit and the pool.
      expect(Math.max(...busy.model.stepSizes)).toBeGreaterThan(3);
      expect(Math.max(...busy.model.stepSizes)).toBeLessThanOrEqual(12);
      expect(busy.kv.reservedBlocks).toBe(0);
      expect([busy.kv.usedBlocks, busy.kv.liveSequences, busy.batcher.activeCount, busy.batcher.waitingCount]).toEqual([0, 0, 0, 0]);
    });
  }

  it('keeps each step within its token budget (an oversized prompt runs as a step\'s only prefill)', async () => {
    const kv = new BlockAllocator(64, 4);
    const model = new FakeModel(kv);
    const fed: number[] = [];
    const prefills: number[] = [];
    const batcher = new ContinuousBatcher({
      kv,
      maxStepTokens: 12,
      step: (batch) => {
        fed.push(batch.reduce((n, s) => n + s.ids.length, 0));
        prefills.push(batch.filter((s) => s.past === 0).length);
        return model.step(batch);
      },
    });
    const lens = [5, 6, 4, 20, 3, 7, 2];
    const results = await Promise.all(lens.map((n, i) => batcher.generate({ promptIds: prompt(i, n), maxNewTokens: 4 })));
    for (const r of results) expect(r.tokens).toHaveLength(4);
    fed.forEach((n, i) => {
      if (n > 12) expect(prefills[i], `step ${i} fed ${n} tokens`).toBe(1);
    });
    expect(Math.max(...fed)).toBeLessThanOrEqual(12 + 20);
    expect(fed.filter((n) => n > 12)).toHaveLength(1);
  });

  it('ends with "length", or "stop" including the stop token, and streams every token', async () => {
    const { batcher } = setup(16);
    const streamed: number[] = [];
    const r = await batcher.generate({ promptIds: [1, 2, 3], maxNewTokens: 5, onToken: (t) => void streamed.push(t) });
    expect(r.finishReason).toBe('length');
    expect(r.tokens).toHaveLength(5);
    expect(streamed).toEqual(r.tokens);
    const stopAt = r.tokens[2];
    const s = await batcher.generate({ promptIds: [1, 2, 3], maxNewTokens: 5, sampling: { stopTokenIds: [stopAt] } });
    expect(s.finishReason).toBe('stop');
    expect(s.tokens).toEqual(r.tokens.slice(0, r.tokens.indexOf(stopAt) + 1));
  });

  it('onToken can end a request (stop strings) and a throwing onToken fails only its request', async () => {
    const { kv, batcher } = setup(16);
    let n = 0;
    const stopped = batcher.generate({ promptIds: [5, 6], maxNewTokens: 9, onToken: () => ++n === 3 });
    const failing = batcher.generate({
      promptIds: [7],
      maxNewTokens: 9,
      onToken: () => {
        throw new Error('client went away');
      },
    });
    const other = batcher.generate({ promptIds: [8], maxNewTokens: 4 });
    expect(await stopped).toMatchObject({ finishReason: 'stop' });
    expect((await stopped).tokens).toHaveLength(3);
    await expect(failing).rejects.toThrow('client went away');
    expect((await other).tokens).toHaveLength(4);
    expect(kv.liveSequences).toBe(0);
  });

  it('cancellation frees the blocks at once and lets a waiting request in', async () => {
    const { kv, batcher } = setup(4, 4);
    const ac = new AbortController();
    let tokensA = 0;
    const a = batcher.generate({
      promptIds: [1, 2, 3, 4, 5],
      maxNewTokens: 11,
      signal: ac.signal,
      onToken: () => {
        if (++tokensA === 2) ac.abort();
      },
    });
    // b needs the whole pool, so it waits until a leaves; c is cancelled while it waits.
    const b = batcher.generate({
      promptIds: [6, 7, 8, 9],
      maxNewTokens: 13,
      onToken: () => {
        expect(tokensA).toBe(2);
        expect(kv.liveSequences).toBe(1);
      },
    });
    const cAbort = new AbortController();
    const c = batcher.generate({ promptIds: [1], maxNewTokens: 1, signal: cAbort.signal });
    cAbort.abort();
    expect(await c).toEqual({ tokens: [], finishReason: 'cancelled' });
    const ra = await a;
    expect(ra.finishReason).toBe('cancelled');
    expect(ra.tokens).toHaveLength(2);
    expect((await b).finishReason).toBe('length');
    expect(kv.liveSequences).toBe(0);
  });

  it('a request cancelled while its step runs leaves when the step returns, before the next one', async () => {
    const kv = new BlockAllocator(16, 4);
    const model = new FakeModel(kv);
    const ac = new AbortController();
    let calls = 0;
    const batcher = new ContinuousBatcher({
      kv,
      step: async (batch) => {
        calls++;
        if (calls === 3) ac.abort();
        if (calls === 4) expect(batch.map((s) => s.seqId)).toEqual([2]);
        return model.step(batch);
      },
    });
    const a = batcher.generate({ promptIds: [1, 2], maxNewTokens: 10, signal: ac.signal });
    const b = batcher.generate({ promptIds: [3], maxNewTokens: 6 });
    const ra = await a;
    // The third step's logits are dropped: a sampled in steps 1 and 2 only.
    expect(ra).toEqual({ tokens: ra.tokens.slice(0, 2), finishReason: 'cancelled' });
    expect(ra.tokens).toHaveLength(2);
    expect((await b).tokens).toHaveLength(6);
    expect(kv.liveSequences).toBe(0);
  });

  it('rejects requests that can never fit or are invalid, and fails the batch when a step throws', async () => {
    const { batcher } = setup(4, 4);
    await expect(batcher.generate({ promptIds: prompt(1, 17), maxNewTokens: 1 })).rejects.toThrow(KvTooLargeError);
    await expect(batcher.generate({ promptIds: [], maxNewTokens: 1 })).rejects.toThrow(InvalidInputError);
    await expect(batcher.generate({ promptIds: [1], maxNewTokens: 2, sampling: { topP: 2 } })).rejects.toThrow(InvalidInputError);
    expect(await batcher.generate({ promptIds: [1], maxNewTokens: 0 })).toEqual({ tokens: [], finishReason: 'length' });

    const kv = new BlockAllocator(8, 4);
    const failing = new ContinuousBatcher({ kv, step: () => Promise.reject(new Error('device lost')) });
    await expect(failing.generate({ promptIds: [1, 2], maxNewTokens: 3 })).rejects.toThrow('device lost');
    expect(kv.liveSequences).toBe(0);
  });
});
