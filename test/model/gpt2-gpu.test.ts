import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { AdapterMismatchError } from '../../src/formats/errors.js';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import type { LoraAdapter, TensorMap } from '../../src/formats/types.js';
import { BaseWeights } from '../../src/knowledge/general/base-weights.js';
import type { PackedBatch } from '../../src/model/batch.js';
import type { Gpt2Config } from '../../src/formats/model-config.js';
import { gpt2ForwardRef, gpt2GreedyRef, gpt2LowerRef, gpt2UpperRef, Gpt2KvCacheRef } from '../../src/model/cpu/gpt2-ref.js';
import { InputError, KvCacheError } from '../../src/model/errors.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { KvPoolError } from '../../src/model/kv/errors.js';
import { KvPool } from '../../src/model/kv/kv-pool.js';
import { SingleAdapterLora } from '../../src/model/single-lora.js';
import { expectClose, testContext } from '../helpers/gpu.js';
import { gpt2Config, randomAdapter, randomGpt2Weights } from './random-model.js';
import { makeDefaultModels } from './default-models.js';

const RTOL = 1e-4;
const ATOL = 2e-5;

function ids(n: number, seed: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed * 11 + i * 17 + ((i * i) % 7)) % vocab);
}

function rowsOf(x: Float32Array, batch: PackedBatch, s: number, dim: number): Float32Array {
  return x.subarray(batch.starts[s] * dim, (batch.starts[s] + batch.lengths[s]) * dim);
}

const CONFIGS: [string, Gpt2Config][] = [
  ['H=21, 7 heads, FFN 37, 3 layers', gpt2Config()],
  ['H=15, 1 head, FFN 37, 2 layers', gpt2Config({ hiddenSize: 15, numHeads: 1, numLayers: 2, vocabSize: 47, maxPositions: 20 })],
];

for (const [name, c] of CONFIGS) {
  describe(`GPT-2 on the GPU, ${name}`, () => {
    let ctx: GpuContext;
    let weights: TensorMap;
    let base: BaseWeights;
    let model: Gpt2Model;
    let adapter: LoraAdapter;
    let lora: SingleAdapterLora;
    const V = c.vocabSize;
    const H = c.hiddenSize;
    const prompts = [ids(5, 1, V), ids(1, 2, V), ids(8, 3, V)];

    beforeAll(async () => {
      ctx = await testContext();
      weights = randomGpt2Weights(c, c.hiddenSize + 100);
      base = await BaseWeights.upload(ctx, weights);
      model = await Gpt2Model.create(ctx, c, base, { maxTokens: 4, maxSeqs: 1, autotune: c.hiddenSize === 21 });
      adapter = randomAdapter(c, 13);
      lora = await SingleAdapterLora.upload(ctx, c, adapter, 2);
    });

    afterAll(() => {
      model.dispose();
      lora.dispose();
      base.dispose();
    });

    for (const [bname, seqs] of [
      ['one sequence', [prompts[2]]],
      ['three sequences of lengths 5, 1, 8', prompts],
    ] as const) {
      for (const withAdapter of [false, true]) {
        it(`forward matches the CPU reference: ${bname}, ${withAdapter ? 'with' : 'without'} an adapter`, async () => {
          const batch = model.pack(seqs.map((x) => ({ ids: x })));
          const out = await model.forward(batch, { lora: withAdapter ? lora : undefined });
          const [hidden, logits] = [await model.readHidden(out), await model.readLogits(out)];
          seqs.forEach((s, i) => {
            const ref = gpt2ForwardRef(c, weights, s, { adapter: withAdapter ? adapter : undefined });
            expectClose(rowsOf(hidden, batch, i, H), ref.hidden, RTOL, ATOL);
            expectClose(rowsOf(logits, batch, i, V), ref.logits, RTOL, ATOL);
          });
        });
      }
    }

    it('computes logits only for the last row of each sequence when asked', async () => {
      const batch = model.pack(prompts.map((x) => ({ ids: x })));
      const out = await model.forward(batch, { lora, logits: 'last' });
      expect(out.logitRows).toBe(3);
      const logits = await model.readLogits(out);
      prompts.forEach((s, i) => {
        const ref = gpt2ForwardRef(c, weights, s, { adapter }).logits;
        expectClose(logits.subarray(i * V, (i + 1) * V), ref.subarray((s.length - 1) * V), RTOL, ATOL);
      });
    });

    for (const split of [0, Math.floor(c.numLayers / 2), c.numLayers]) {
      it(`split at S=${split}: runLower, then runUpper on its output or on an outside buffer`, async () => {
        const batch = model.pack(prompts.map((x) => ({ ids: x })));
        const lower = await readF32(ctx, await model.runLower(batch, split, { lora }), batch.rows * H);
        const hSplit = new Float32Array(batch.rows * H);
        prompts.forEach((s, i) => {
          const ref = gpt2LowerRef(c, weights, split, s, { adapter });
          expectClose(rowsOf(lower, batch, i, H), ref, RTOL, ATOL);
          hSplit.set(ref, batch.starts[i] * H);
        });
        const outside = await uploadBuffer(ctx, hSplit, 'plot-hidden');
        const out = await model.runUpper(batch, split, outside, { lora });
        const logits = await model.readLogits(out);
        prompts.forEach((s, i) => {
          const h = Float64Array.from(rowsOf(hSplit, batch, i, H));
          const ref = gpt2UpperRef(c, weights, split, h, s.length, { adapter });
          expectClose(rowsOf(logits, batch, i, V), ref.logits, RTOL, ATOL);
        });
        outside.destroy();
      });
    }

    for (const withAdapter of [false, true]) {
      it(`greedy decode with the KV cache equals the CPU reference token for token, ${withAdapter ? 'with' : 'without'} an adapter`, async () => {
        const opts = { lora: withAdapter ? lora : undefined };
        const refAdapter = withAdapter ? adapter : undefined;
        const n = 6;
        expect(await model.generateGreedy(prompts[0], n, opts)).toEqual(gpt2GreedyRef(c, weights, prompts[0], n, { adapter: refAdapter }));
        const all = await model.generateGreedyBatch(prompts, n, opts);
        expect(all).toEqual(prompts.map((p) => gpt2GreedyRef(c, weights, p, n, { adapter: refAdapter })));
      });
    }

    it('stops a sequence at a stop id while the others go on', async () => {
      const free = prompts.map((p) => gpt2GreedyRef(c, weights, p, 5));
      const stop = free[2][1];
      const got = await model.generateGreedyBatch(prompts, 5, { stopIds: [stop] });
      expect(got).toEqual(prompts.map((p) => gpt2GreedyRef(c, weights, p, 5, { stopIds: [stop] })));
      expect(got[2].length).toBeLessThanOrEqual(2);
    });

    it('keeps overlapping generations on one model apart', async () => {
      const got = await Promise.all(prompts.map((p, i) => model.generateGreedy(p, 4, { lora: i === 1 ? lora : undefined })));
      expect(got).toEqual(prompts.map((p, i) => gpt2GreedyRef(c, weights, p, 4, { adapter: i === 1 ? adapter : undefined })));
    });

    const poolOf = (blocks: number): Promise<KvPool> => {
      const shape = { numLayers: c.numLayers, hiddenSize: H, blockTokens: 4 };
      return KvPool.create(ctx, { ...shape, budgetBytes: KvPool.budgetFor(shape, blocks) });
    };

    it('mixes a prefill and decode steps of several sequences in one pass', async () => {
      const pool = await poolOf(8);
      const [a, b] = [1, 2];
      expect(pool.admit(a, prompts[0].length, 3)).toBe(true);
      expect(pool.admit(b, prompts[2].length, 2)).toBe(true);
      const refA = new Gpt2KvCacheRef(c);
      const refB = new Gpt2KvCacheRef(c);
      const last = (ref: Float64Array, T: number): Float64Array => ref.subarray((T - 1) * V, T * V);
      const l0 = await model.step(pool, [{ seqId: a, ids: prompts[0] }], lora);
      expectClose(l0, last(gpt2ForwardRef(c, weights, prompts[0], { adapter, cache: refA }).logits, prompts[0].length), RTOL, ATOL);
      // Sequence a decodes one token while b is prefilled, in one pass.
      const l1 = await model.step(pool, [{ seqId: a, ids: [3] }, { seqId: b, ids: prompts[2] }], lora);
      expectClose(l1.subarray(0, V), gpt2ForwardRef(c, weights, [3], { adapter, cache: refA }).logits, RTOL, ATOL);
      expectClose(l1.subarray(V), last(gpt2ForwardRef(c, weights, prompts[2], { adapter, cache: refB }).logits, prompts[2].length), RTOL, ATOL);
      const l2 = await model.step(pool, [{ seqId: b, ids: [7] }, { seqId: a, ids: [9] }], lora);
      expectClose(l2.subarray(0, V), gpt2ForwardRef(c, weights, [7], { adapter, cache: refB }).logits, RTOL, ATOL);
      expectClose(l2.subarray(V), gpt2ForwardRef(c, weights, [9], { adapter, cache: refA }).logits, RTOL, ATOL);
      expect([pool.length(a), pool.length(b)]).toEqual([prompts[0].length + 2, prompts[2].length + 1]);
      // Past the reservation (prompt + 3 new - 1 positions) the pool refuses the step.
      await expect(model.step(pool, [{ seqId: a, ids: ids(6, 9, V) }])).rejects.toThrow(KvPoolError);
      expect(() => model.packStep(pool, [{ seqId: 3, ids: [1] }])).toThrow(KvPoolError);
      expect(() => model.packStep(pool, [{ seqId: a, ids: [1] }, { seqId: a, ids: [2] }])).toThrow(KvCacheError);
      pool.free(a);
      pool.free(b);
      expect(pool.bytesUsed).toBe(0);
      pool.dispose();
    });

    it('serves the upper layers from a cache that starts at the split', async () => {
      const split = Math.floor(c.numLayers / 2);
      const pool = await poolOf(4);
      expect(pool.admit(1, prompts[0].length, 3)).toBe(true);
      const ref = new Gpt2KvCacheRef(c);
      let fed = prompts[0];
      for (let step = 0; step < 3; step++) {
        const { batch, kv } = model.packStep(pool, [{ seqId: 1, ids: fed }]);
        const lower = await model.runLower(batch, split, { kv, lora });
        const out = await model.runUpper(batch, split, lower, { kv, lora, logits: 'last' });
        pool.advance([{ seqId: 1, qStart: 0, qLen: fed.length }]);
        const logits = await model.readLogits(out);
        const r = gpt2ForwardRef(c, weights, fed, { adapter, cache: ref }).logits;
        expectClose(logits, r.subarray((fed.length - 1) * V), RTOL, ATOL);
        fed = [(step * 5 + 1) % V];
      }
      pool.dispose();
    });

    it('rejects bad input with a named error before any GPU work', async () => {
      expect(() => model.pack([{ ids: [0, V] }])).toThrow(/sequence 0, token 1: token id \d+ is outside/);
      expect(() => model.pack([{ ids: ids(c.maxPositions + 1, 1, V) }])).toThrow(InputError);
      expect(() => model.pack([{ ids: [] }])).toThrow(/sequence 0 is empty/);
      expect(() => model.pack([{ ids: [1], typeIds: [0] }])).toThrow(InputError);
      await expect(model.generateGreedy([], 3)).rejects.toThrow(InputError);
      await expect(model.generateGreedy([1, 2], c.maxPositions)).rejects.toThrow(/exceed the model's \d+ positions/);
      await expect(model.generateGreedy([1, V + 5], 2)).rejects.toThrow(InputError);
      const [key, mod] = [...randomAdapter(c, 3).modules][0];
      const wrong: LoraAdapter = { modules: new Map([[key, { ...mod, B: mod.B.subarray(1) }]]), head: new Map() };
      await expect(SingleAdapterLora.upload(ctx, c, wrong)).rejects.toThrow(AdapterMismatchError);
      const foreign: LoraAdapter = { modules: new Map([['encoder.layer.0.attention.self.query', mod]]), head: new Map() };
      await expect(SingleAdapterLora.upload(ctx, c, foreign)).rejects.toThrow(AdapterMismatchError);
    });
  });
}

describe('GPT-2 on the GPU, default hgpt-mini and its PEFT adapters', () => {
  let ctx: GpuContext;
  let loaded: LoadedModel;
  let base: BaseWeights;
  let model: Gpt2Model;
  let cleanup: () => void;
  let adapter: LoraAdapter;
  let lora: SingleAdapterLora;
  const texts = ['The morning was cold and clear, and the river', 'The old stone'];

  beforeAll(async () => {
    const made = makeDefaultModels();
    cleanup = made.cleanup;
    ctx = await testContext();
    loaded = await loadModel(directorySource(join(made.dir, 'hgpt-mini')));
    base = await BaseWeights.upload(ctx, loaded.weights);
    model = await Gpt2Model.create(ctx, loaded.config as Gpt2Config, base);
    adapter = await loadAdapter(directorySource(join(made.dir, 'adapters/hgpt-mini/coder-r8')), loaded.config);
    lora = await SingleAdapterLora.upload(ctx, loaded.config, adapter);
  });

  afterAll(() => {
    model.dispose();
    lora.dispose();
    base.dispose();
    cleanup();
  });

  for (const withAdapter of [false, true]) {
    it(`forward, split at S=2 and greedy decode match the CPU reference, ${withAdapter ? 'with coder-r8' : 'base'}`, async () => {
      const c = loaded.config as Gpt2Config;
      const V = c.vocabSize;
      const ref = withAdapter ? adapter : undefined;
      const l = withAdapter ? lora : undefined;
      const prompts = texts.map((t) => loaded.tokenizer.encode(t));
      const batch = model.pack(prompts.map((ids) => ({ ids })));
      const full = await model.readLogits(await model.forward(batch, { lora: l }));
      const split = await model.readLogits(await model.runUpper(batch, 2, await model.runLower(batch, 2, { lora: l }), { lora: l }));
      prompts.forEach((p, i) => {
        const r = gpt2ForwardRef(c, loaded.weights, p, { adapter: ref }).logits;
        expectClose(rowsOf(full, batch, i, V), r, RTOL, ATOL);
        expectClose(rowsOf(split, batch, i, V), r, RTOL, ATOL);
      });
      const got = await model.generateGreedyBatch(prompts, 8, { lora: l });
      expect(got).toEqual(prompts.map((p) => gpt2GreedyRef(c, loaded.weights, p, 8, { adapter: ref })));
    });
  }
});
