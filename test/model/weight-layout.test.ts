import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpuContext, maxBindingBytes, type GpuContext } from '../../src/gpu/device.js';
import { nodeGpu } from '../../src/gpu/node.js';
import type { BertConfig, Gpt2Config } from '../../src/formats/model-config.js';
import type { TensorMap } from '../../src/formats/types.js';
import { toF16Tensors } from '../../src/formats/f16.js';
import { BaseWeights, planBaseLayout, type WeightsDtype } from '../../src/knowledge/general/base-weights.js';
import { bertForwardRef } from '../../src/model/cpu/bert-ref.js';
import { gpt2ForwardRef, gpt2GreedyRef } from '../../src/model/cpu/gpt2-ref.js';
import { BertModel } from '../../src/model/bert.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { run } from '../../src/gpu/dispatch.js';
import { encodeShardedEmbedding } from '../../src/kernels/embedding.js';
import { encodeShardedMatmul } from '../../src/kernels/weight-shards.js';
import { expectClose, randomFloats } from '../helpers/gpu.js';
import { bertConfig, gpt2Config, randomBertWeights, randomGpt2Weights } from './random-model.js';

const MiB = 1024 * 1024;

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return a.length === b.length && ua.every((v, i) => v === ub[i]);
}

function ids(n: number, seed: number, vocab: number): number[] {
  // Spread over the whole vocabulary, so every shard of the table is gathered from.
  return Array.from({ length: n }, (_, i) => (seed * 7919 + i * 4099) % vocab);
}

/** Shapes only: planBaseLayout reads names and shapes (and whether a tensor is held as f16). */
function shapesOf(entries: Array<[string, number[]]>, f16: boolean): Map<string, { shape: number[]; f16?: Uint16Array }> {
  return new Map(entries.map(([n, shape]) => [n, f16 ? { shape, f16: new Uint16Array(0) } : { shape }]));
}

/** GPT-2 small: H 768, 12 layers; medium: H 1024, 24 layers (its wte is 206 MB in f32). */
function gpt2Shapes(H: number, L: number): Array<[string, number[]]> {
  const [V, P, I] = [50257, 1024, 4 * H];
  const out: Array<[string, number[]]> = [['wte.weight', [V, H]], ['wpe.weight', [P, H]], ['ln_f.weight', [H]], ['ln_f.bias', [H]]];
  for (let l = 0; l < L; l++) {
    out.push([`h.${l}.attn.c_attn.weight`, [H, 3 * H]], [`h.${l}.attn.c_proj.weight`, [H, H]], [`h.${l}.mlp.c_fc.weight`, [H, I]], [`h.${l}.mlp.c_proj.weight`, [I, H]]);
    out.push([`h.${l}.attn.c_attn.bias`, [3 * H]], [`h.${l}.mlp.c_fc.bias`, [I]]);
  }
  return out;
}

function bertLargeShapes(): Array<[string, number[]]> {
  const [V, P, H, I] = [30522, 512, 1024, 4096];
  const out: Array<[string, number[]]> = [
    ['embeddings.word_embeddings.weight', [V, H]],
    ['embeddings.position_embeddings.weight', [P, H]],
    ['embeddings.token_type_embeddings.weight', [2, H]],
    ['pooler.dense.weight', [H, H]],
  ];
  for (let l = 0; l < 24; l++) {
    const p = `encoder.layer.${l}`;
    for (const m of ['query', 'key', 'value']) out.push([`${p}.attention.self.${m}.weight`, [H, H]]);
    out.push([`${p}.attention.output.dense.weight`, [H, H]], [`${p}.intermediate.dense.weight`, [I, H]], [`${p}.output.dense.weight`, [H, I]]);
  }
  return out;
}

describe('planned weight layout of real-size models under a 128 MiB binding limit', () => {
  const cap = 128 * MiB;
  // Conv1D ([K, N]) weights cannot be split without changing the sums: they must fit whole.
  const isKn = (name: string): boolean => /^h\.\d+\./.test(name) && name.endsWith('.weight') && !/ln_/.test(name);
  for (const [model, shapes] of [['GPT-2 small', gpt2Shapes(768, 12)], ['GPT-2 medium', gpt2Shapes(1024, 24)], ['BERT-large', bertLargeShapes()]] as const) {
    for (const dtype of ['f32', 'f16'] as const) {
      it(`${model} in ${dtype}: no buffer exceeds the cap, only [N, K] tables are split`, () => {
        const plan = planBaseLayout(shapesOf(shapes, dtype === 'f16'), cap, dtype === 'f16' ? 'auto' : 'f32');
        for (const t of plan) {
          for (const s of t.shards) expect(s.bytes, `${t.name} shard at row ${s.row0}`).toBeLessThanOrEqual(cap);
          expect(t.shards.reduce((n, s) => n + s.rows, 0)).toBe(t.shape[0]);
          if (isKn(t.name)) expect(t.shards.length, t.name).toBe(1);
        }
        const split = plan.filter((t) => t.shards.length > 1).map((t) => t.name);
        // GPT-2's wte is 154 MB (small) or 206 MB (medium) in f32: two shards; in f16 one. Everything else fits whole.
        expect(split).toEqual(model !== 'BERT-large' && dtype === 'f32' ? ['wte.weight'] : []);
        const matrices = plan.filter((t) => t.shape.length === 2 && !/position|token_type|wpe/.test(t.name));
        expect(matrices.every((t) => t.dtype === dtype)).toBe(true);
      });
    }
  }
});

/** A model under a 1 MiB cap: a 30011 x 48 vocabulary is 5.8 MB in f32 (6 shards), 2.9 MB in f16 (3). */
const TINY_CAP = MiB;
const GPT2: Gpt2Config = gpt2Config({ vocabSize: 30011, hiddenSize: 48, numHeads: 4, numLayers: 2, intermediateSize: 72, maxPositions: 16 });
const BERT: BertConfig = bertConfig({ vocabSize: 30011, hiddenSize: 48, numHeads: 4, numLayers: 2, intermediateSize: 72, maxPositions: 16 });

describe('models on a device capped at 1 MiB per buffer match the uncapped device bit for bit', () => {
  let full: GpuContext;
  let capped: GpuContext;
  beforeAll(async () => {
    const gpu = await nodeGpu();
    full = await createGpuContext(gpu, { label: 'uncapped' });
    capped = await createGpuContext(gpu, { label: 'capped', capLimits: { maxStorageBufferBindingSize: TINY_CAP, maxBufferSize: TINY_CAP } });
  });
  afterAll(() => {
    full.destroy();
    capped.destroy();
  });

  it('reports the capped limits', () => {
    expect(maxBindingBytes(capped.limits)).toBe(TINY_CAP);
    expect(capped.limits.maxBufferSize).toBe(TINY_CAP);
    expect(maxBindingBytes(full.limits)).toBeGreaterThan(TINY_CAP);
  });

  for (const dtype of ['f32', 'f16'] as const) {
    it(`GPT-2 (${dtype} checkpoint): wte in ${dtype === 'f32' ? 6 : 3} shards, same hidden states, logits and greedy tokens; close to the f64 reference`, async () => {
      const random = randomGpt2Weights(GPT2, 41);
      const weights: TensorMap = dtype === 'f16' ? toF16Tensors(random) : random;
      const bases = await Promise.all([BaseWeights.upload(full, weights), BaseWeights.upload(capped, weights)]);
      const wte = bases[1].tensor('wte.weight');
      expect(wte.dtype).toBe(dtype);
      expect(wte.shards.length).toBe(dtype === 'f32' ? 6 : 3);
      expect(wte.shards.every((s) => s.buffer.size <= TINY_CAP)).toBe(true);
      expect(bases[0].tensor('wte.weight').shards.length).toBe(1);
      const models = await Promise.all([
        Gpt2Model.create(full, GPT2, bases[0], { maxTokens: 8, maxSeqs: 2, autotune: false }),
        Gpt2Model.create(capped, GPT2, bases[1], { maxTokens: 8, maxSeqs: 2, autotune: false }),
      ]);
      const prompts = [ids(5, 1, GPT2.vocabSize), ids(3, 2, GPT2.vocabSize)];
      const outs = [];
      for (const m of models) {
        const out = await m.forward(m.pack(prompts.map((p) => ({ ids: p }))));
        outs.push({ hidden: await m.readHidden(out), logits: await m.readLogits(out) });
      }
      expect(sameBits(outs[1].hidden, outs[0].hidden)).toBe(true);
      expect(sameBits(outs[1].logits, outs[0].logits)).toBe(true);
      const V = GPT2.vocabSize;
      const ref = gpt2ForwardRef(GPT2, weights, prompts[0]);
      expectClose(outs[1].logits.subarray(0, 5 * V), ref.logits, 1e-4, 2e-5);
      const greedy = await models[1].generateGreedy(prompts[1], 3);
      expect(greedy).toEqual(await models[0].generateGreedy(prompts[1], 3));
      expect(greedy).toEqual(gpt2GreedyRef(GPT2, weights, prompts[1], 3));
      for (const m of models) m.dispose();
      for (const b of bases) b.dispose();
    });

    it(`BERT (${dtype} checkpoint): word embeddings in shards, same outputs; close to the f64 reference`, async () => {
      const random = randomBertWeights(BERT, 43);
      const weights: TensorMap = dtype === 'f16' ? toF16Tensors(random) : random;
      const bases = await Promise.all([BaseWeights.upload(full, weights), BaseWeights.upload(capped, weights)]);
      expect(bases[1].tensor('embeddings.word_embeddings.weight').shards.length).toBe(dtype === 'f32' ? 6 : 3);
      const models = await Promise.all([
        BertModel.create(full, BERT, bases[0], { maxTokens: 8, maxSeqs: 2, autotune: false }),
        BertModel.create(capped, BERT, bases[1], { maxTokens: 8, maxSeqs: 2, autotune: false }),
      ]);
      const seqs = [{ ids: ids(6, 3, BERT.vocabSize) }, { ids: ids(2, 4, BERT.vocabSize) }];
      const got = [];
      for (const m of models) got.push(await m.read(await m.forward(m.pack(seqs))));
      expect(sameBits(got[1].hidden, got[0].hidden)).toBe(true);
      expect(sameBits(got[1].logits!, got[0].logits!)).toBe(true);
      const ref = bertForwardRef(BERT, weights, seqs[0].ids);
      expectClose(got[1].hidden.subarray(0, 6 * BERT.hiddenSize), ref.hidden, 1e-4, 2e-5);
      expectClose(got[1].logits!.subarray(0, BERT.numLabels!), ref.logits!, 1e-4, 2e-5);
      for (const m of models) m.dispose();
      for (const b of bases) b.dispose();
    });
  }
});

describe('weightsDtype', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await createGpuContext(await nodeGpu(), { label: 'dtype' });
  });
  afterAll(() => ctx.destroy());

  const cases: Array<[string, boolean, WeightsDtype, 'f32' | 'f16']> = [
    ['an f16 checkpoint under auto stays f16', true, 'auto', 'f16'],
    ['an f32 checkpoint under auto stays f32', false, 'auto', 'f32'],
    ['an f16 checkpoint under f32 is widened', true, 'f32', 'f32'],
    ['an f32 checkpoint under f16 is rounded', false, 'f16', 'f16'],
  ];
  for (const [name, f16, dtype, expected] of cases) {
    it(`${name}; vectors and position tables stay f32; GPU bytes follow`, async () => {
      const random = randomGpt2Weights(GPT2, 47);
      const weights = f16 ? toF16Tensors(random) : random;
      const base = await BaseWeights.upload(ctx, weights, 'base', { dtype });
      expect(base.tensor('wte.weight').dtype).toBe(expected);
      expect(base.tensor('h.0.mlp.c_fc.weight').dtype).toBe(expected);
      expect(base.tensor('wpe.weight').dtype).toBe('f32');
      expect(base.tensor('h.0.mlp.c_fc.bias').dtype).toBe('f32');
      if (expected === 'f16') expect(() => base.get('wte.weight')).toThrow(/held as 1 f16 shard/);
      else expect(base.get('wte.weight')).toBe(base.tensor('wte.weight').shards[0].buffer);
      const elements = [...weights.values()].reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
      if (expected === 'f32') expect(base.totalBytes).toBe(elements * 4);
      else expect(base.totalBytes).toBeLessThan(elements * 2.2);
      expect(base.gpuBytes).toBeGreaterThanOrEqual(base.totalBytes);
      if (expected === 'f16') {
        // The f16 forward equals the f64 reference on the f16-rounded weights.
        const m = await Gpt2Model.create(ctx, GPT2, base, { maxTokens: 8, maxSeqs: 1, autotune: false });
        const p = ids(4, 9, GPT2.vocabSize);
        const out = await m.readLogits(await m.forward(m.pack([{ ids: p }])));
        // What the GPU holds: the matrices rounded to f16, the rest as given.
        const rounded = toF16Tensors(weights);
        const roundedWeights: TensorMap = new Map([...weights].map(([n, t]) => [n, base.tensor(n).dtype === 'f16' ? rounded.get(n)! : t]));
        expectClose(out, gpt2ForwardRef(GPT2, roundedWeights, p).logits, 1e-4, 2e-5);
        m.dispose();
      }
      base.dispose();
    });
  }
});

describe('GPT-2 small wte on a device capped at exactly 128 MiB', () => {
  it('is split in two shards and gathers and projects (tied LM head) every vocabulary row right', async () => {
    const ctx = await createGpuContext(await nodeGpu(), { label: '128MiB', capLimits: { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 128 * MiB } });
    try {
      expect(ctx.limits.maxStorageBufferBindingSize).toBe(128 * MiB);
      expect(ctx.limits.maxBufferSize).toBe(128 * MiB);
      const [V, H] = [50257, 768];
      const wte = randomFloats(V * H, 5, 0.2);
      const base = await BaseWeights.upload(ctx, new Map([['wte.weight', { shape: [V, H], data: wte }]]));
      const t = base.tensor('wte.weight', [V, H]);
      expect(t.shards.map((s) => s.rows)).toEqual([43690, V - 43690]);
      expect(t.shards.every((s) => s.buffer.size <= 128 * MiB)).toBe(true);
      // Rows from both shards, the boundary on either side included.
      const tokens = Uint32Array.from([0, 43689, 43690, V - 1]);
      const M = tokens.length;
      const [gIds, gPos, gWpe] = await Promise.all([
        uploadBuffer(ctx, tokens, 'ids'),
        uploadBuffer(ctx, new Uint32Array(M), 'pos'),
        uploadBuffer(ctx, new Float32Array(H), 'wpe'),
      ]);
      const gH = await allocBuffer(ctx, M * H * 4, 'h');
      const gLogits = await allocBuffer(ctx, M * V * 4, 'logits');
      run(ctx, (pass) => {
        encodeShardedEmbedding(ctx, pass, { ids: gIds, positions: gPos, word: t, posTable: gWpe, out: gH, rows: M, dim: H, posRows: 1 });
        encodeShardedMatmul(ctx, pass, { x: gH, w: t, y: gLogits, M, N: V, K: H, wLayout: 'nk' });
      });
      const h = await readF32(ctx, gH, M * H);
      tokens.forEach((id, r) => expect(sameBits(h.subarray(r * H, (r + 1) * H), wte.subarray(id * H, (id + 1) * H))).toBe(true));
      const logits = await readF32(ctx, gLogits, M * V);
      for (let r = 0; r < M; r++) {
        for (const col of [0, 1, 43689, 43690, 43691, V - 1, Number(tokens[r])]) {
          let dot = 0;
          for (let k = 0; k < H; k++) dot += wte[tokens[r] * H + k] * wte[col * H + k];
          expect(Math.abs(logits[r * V + col] - dot)).toBeLessThan(1e-4 * (1 + Math.abs(dot)));
        }
      }
      for (const b of [gIds, gPos, gWpe, gH, gLogits]) b.destroy();
      base.dispose();
    } finally {
      ctx.destroy();
    }
  });
});
