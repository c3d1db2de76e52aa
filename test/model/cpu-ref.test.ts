import { describe, expect, it } from 'vitest';
import type { BertConfig, Gpt2Config } from '../../src/formats/model-config.js';
import type { HostTensor, LoraAdapter, LoraModule, TensorMap } from '../../src/formats/types.js';
import { attention, erf, geluErf, geluTanh, layerNorm, matmul, MissingTensorError, softmaxInPlace } from '../../src/model/cpu/ops.js';
import { bertEmbeddingsRef, bertForwardRef, bertLayerRef, bertLowerRef, bertUpperRef } from '../../src/model/cpu/bert-ref.js';
import { Gpt2KvCacheRef, gpt2ForwardRef, gpt2GreedyRef, gpt2LowerRef, gpt2UpperRef } from '../../src/model/cpu/gpt2-ref.js';
import { LoraTargetError, mergeLoraRef } from '../../src/model/cpu/lora-ref.js';
import { mulberry32 } from '../../src/util/rng.js';
import {
  bertPlotCombineRef,
  bertPlotForwardRef,
  bertPlotHiddenRef,
  bertTrigramEntryRef,
  bertTrigramKeys,
  gpt2PlotForwardRef,
  gpt2PlotGreedyRef,
  gpt2PlotHiddenRef,
  gpt2TrigramEntryRef,
  gpt2TrigramKeys,
} from '../../src/model/cpu/plot-ref.js';

// ---------- tiny deterministic models ----------

const rng = mulberry32;

/**
 * Values on a 1/64 grid: exact in f32, and LoRA merges with 1/8-grid factors stay exact, so
 * merged-weight comparisons see only f64 summation-order differences.
 */
function grid(n: number, r: () => number, scale: number, step = 64, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + Math.round((r() * 2 - 1) * scale * step) / step);
}

function put(m: TensorMap, name: string, shape: number[], data: ArrayLike<number>): void {
  const t: HostTensor = { shape, data: Float32Array.from(data) };
  m.set(name, t);
}

const BERT: BertConfig = {
  family: 'bert',
  vocabSize: 17,
  hiddenSize: 12,
  numLayers: 3,
  numHeads: 3,
  intermediateSize: 20,
  maxPositions: 16,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  padTokenId: 0,
  numLabels: 3,
};

const GPT2: Gpt2Config = {
  family: 'gpt2',
  vocabSize: 19,
  hiddenSize: 12,
  numLayers: 3,
  numHeads: 3,
  intermediateSize: 20,
  maxPositions: 24,
  layerNormEps: 1e-5,
  bosTokenId: 18,
  eosTokenId: 18,
};

function bertWeights(seed: number, withHead = true): TensorMap {
  const r = rng(seed);
  const { hiddenSize: H, intermediateSize: I } = BERT;
  const m: TensorMap = new Map();
  const lin = (name: string, out: number, inp: number): void => {
    put(m, `${name}.weight`, [out, inp], grid(out * inp, r, 0.5));
    put(m, `${name}.bias`, [out], grid(out, r, 0.25));
  };
  const ln = (name: string): void => {
    put(m, `${name}.weight`, [H], grid(H, r, 0.25, 64, 1));
    put(m, `${name}.bias`, [H], grid(H, r, 0.25));
  };
  put(m, 'embeddings.word_embeddings.weight', [BERT.vocabSize, H], grid(BERT.vocabSize * H, r, 1));
  put(m, 'embeddings.position_embeddings.weight', [BERT.maxPositions, H], grid(BERT.maxPositions * H, r, 0.5));
  put(m, 'embeddings.token_type_embeddings.weight', [BERT.typeVocabSize, H], grid(BERT.typeVocabSize * H, r, 0.5));
  ln('embeddings.LayerNorm');
  for (let l = 0; l < BERT.numLayers; l++) {
    const p = `encoder.layer.${l}`;
    for (const n of ['query', 'key', 'value']) lin(`${p}.attention.self.${n}`, H, H);
    lin(`${p}.attention.output.dense`, H, H);
    ln(`${p}.attention.output.LayerNorm`);
    lin(`${p}.intermediate.dense`, I, H);
    lin(`${p}.output.dense`, H, I);
    ln(`${p}.output.LayerNorm`);
  }
  if (withHead) {
    lin('pooler.dense', H, H);
    lin('classifier', BERT.numLabels ?? 0, H);
  }
  return m;
}

function gpt2Weights(seed: number): TensorMap {
  const r = rng(seed);
  const { hiddenSize: H, intermediateSize: I } = GPT2;
  const m: TensorMap = new Map();
  const conv = (name: string, inp: number, out: number): void => {
    put(m, `${name}.weight`, [inp, out], grid(inp * out, r, 0.5));
    put(m, `${name}.bias`, [out], grid(out, r, 0.25));
  };
  const ln = (name: string): void => {
    put(m, `${name}.weight`, [H], grid(H, r, 0.25, 64, 1));
    put(m, `${name}.bias`, [H], grid(H, r, 0.25));
  };
  put(m, 'wte.weight', [GPT2.vocabSize, H], grid(GPT2.vocabSize * H, r, 1));
  put(m, 'wpe.weight', [GPT2.maxPositions, H], grid(GPT2.maxPositions * H, r, 0.5));
  for (let l = 0; l < GPT2.numLayers; l++) {
    ln(`h.${l}.ln_1`);
    conv(`h.${l}.attn.c_attn`, H, 3 * H);
    conv(`h.${l}.attn.c_proj`, H, H);
    ln(`h.${l}.ln_2`);
    conv(`h.${l}.mlp.c_fc`, H, I);
    conv(`h.${l}.mlp.c_proj`, I, H);
  }
  ln('ln_f');
  return m;
}

type ModuleSpec = readonly [name: string, inDim: number, outDim: number];

function makeAdapter(specs: readonly ModuleSpec[], rank: number, seed: number, opts: { zeroB?: boolean; head?: TensorMap } = {}): LoraAdapter {
  const r = rng(seed);
  const modules = new Map<string, LoraModule>();
  for (const [name, inDim, outDim] of specs) {
    const A = grid(rank * inDim, r, 1, 8);
    const B = opts.zeroB === true ? new Float32Array(outDim * rank) : grid(outDim * rank, r, 1, 8);
    modules.set(name, { r: rank, inDim, outDim, scale: 0.5, A, B });
  }
  return { modules, head: opts.head ?? new Map() };
}

const Hb = BERT.hiddenSize;
const Ib = BERT.intermediateSize;
const BERT_TARGETS: ModuleSpec[] = [1, 2].flatMap((l) => [
  [`encoder.layer.${l}.attention.self.query`, Hb, Hb],
  [`encoder.layer.${l}.attention.self.key`, Hb, Hb],
  [`encoder.layer.${l}.attention.self.value`, Hb, Hb],
  [`encoder.layer.${l}.attention.output.dense`, Hb, Hb],
  [`encoder.layer.${l}.intermediate.dense`, Hb, Ib],
  [`encoder.layer.${l}.output.dense`, Ib, Hb],
] as ModuleSpec[]);
const Hg = GPT2.hiddenSize;
const Ig = GPT2.intermediateSize;
const GPT2_TARGETS: ModuleSpec[] = [0, 2].flatMap((l) => [
  [`h.${l}.attn.c_attn`, Hg, 3 * Hg],
  [`h.${l}.attn.c_proj`, Hg, Hg],
  [`h.${l}.mlp.c_fc`, Hg, Ig],
  [`h.${l}.mlp.c_proj`, Ig, Hg],
] as ModuleSpec[]);

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
  expect(worst).toBeLessThanOrEqual(tol);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

// ---------- ops ----------

describe('f64 ops', () => {
  it('erf matches known values (CPython math.erf) on both branches', () => {
    const known: [number, number][] = [
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [2.9, 0.9999589021219005],
      [3, 0.9999779095030014],
      [3.5, 0.9999992569016276],
      [4, 0.9999999845827421],
      [5.5, 0.9999999999999927],
    ];
    for (const [x, e] of known) {
      expect(Math.abs(erf(x) - e)).toBeLessThanOrEqual(4e-16);
      expect(erf(-x)).toBe(-erf(x));
    }
    expect(erf(0)).toBe(0);
    expect(erf(40)).toBe(1);
  });

  it('gelu (erf) and gelu_new (tanh) give their known values', () => {
    expect(geluErf(1)).toBeCloseTo(0.8413447460685429, 15);
    expect(geluErf(-1)).toBeCloseTo(-0.15865525393145707, 15);
    expect(geluErf(-3)).toBeCloseTo(-0.00404969409489031, 15);
    expect(geluTanh(1)).toBeCloseTo(0.8411919906082768, 15);
    expect(geluTanh(0)).toBe(0);
  });

  it('layernorm uses the biased variance with eps inside the root', () => {
    expectNear(layerNorm([1, -1], 1, 2, [1, 1], [0, 0], 3), [0.5, -0.5]);
    const s = Math.sqrt(1.5);
    expectNear(layerNorm([0, 0, 3, 2, 4, 6], 2, 3, [1, 2, 1], [0, 0, 1], 0), [-Math.SQRT1_2, -Math.SQRT2, 1 + Math.SQRT2, -s, 0, 1 + s]);
  });

  it('softmax is exact and stable for large logits', () => {
    const y = Float64Array.from([0, Math.log(3), 1000, 1000 + Math.log(3)]);
    softmaxInPlace(y, 0, 2);
    softmaxInPlace(y, 2, 4);
    expectNear(y.subarray(0, 2), [0.25, 0.75], 1e-15);
    // 1000 + ln 3 is itself rounded to an ulp of 1000
    expectNear(y.subarray(2), [0.25, 0.75], 1e-12);
  });

  it('matmul reads [out,in] for nk and [in,out] for kn', () => {
    const x = [1, 2, 3, -1, 0, 2];
    const wNk = [1, 0, -1, 2, 1, 0.5, 0, 0, 3, 1, 1, 1]; // [4 out, 3 in]
    const wKn = [1, 2, 0, 1, 0, 1, 0, 1, -1, 0.5, 3, 1]; // its transpose, [3 in, 4 out]
    const expected = [-2, 5.5, 9, 6, -3, -1, 6, 1];
    expectNear(matmul(x, 2, 3, wNk, 4, 'nk'), expected);
    expectNear(matmul(x, 2, 3, wKn, 4, 'kn'), expected);
    expectNear(matmul(x, 2, 3, wKn, 4, 'kn', [1, 1, 1, -1]), expected.map((v, i) => v + [1, 1, 1, -1][i % 4]));
  });

  it('attention: causal prefixes, masked keys, per-head slices', () => {
    // 2 heads of dim 1; keys chosen so that head 0 scores are ln(3)*sqrt(1)
    const q = [1, 0, 1, 0];
    const k = [0, 5, Math.log(3), 7];
    const v = [10, 1, 20, 2];
    const full = attention(q, k, v, { queries: 2, keys: 2, hidden: 2, heads: 2 });
    // head 0: weights softmax([0, ln3]) = [1/4, 3/4]; head 1: q=0 -> uniform
    expectNear(full, [17.5, 1.5, 17.5, 1.5]);
    const causal = attention(q, k, v, { queries: 2, keys: 2, hidden: 2, heads: 2, pastLength: 0 });
    expectNear(causal, [10, 1, 17.5, 1.5]);
    const masked = attention(q, k, v, { queries: 2, keys: 2, hidden: 2, heads: 2, keyMask: [0, 1] });
    expectNear(masked, [20, 2, 20, 2]);
  });
});

// ---------- hand-computed 1-layer models (H=2, 1 head, FFN 1) ----------

/** For a 2-vector [x, y] with LN gamma 1, beta 0, eps 3: [d, -d] / sqrt(d^2 + 3), d = (x - y) / 2. */
function ln2(x: number, y: number): [number, number] {
  const d = (x - y) / 2;
  const n = d / Math.sqrt(d * d + 3);
  return [n, -n];
}

const GELU_ERF_1 = 0.8413447460685429; // Phi(1), from Python's math.erf
const GELU_TANH_1 = 0.8411919906082768;
/** 2*sigmoid(sqrt 2) - 1: the self-minus-other attention weight when scores are +-1/sqrt(2). */
const C = Math.tanh(Math.SQRT1_2);

const KA_BERT: BertConfig = {
  family: 'bert',
  vocabSize: 3,
  hiddenSize: 2,
  numLayers: 1,
  numHeads: 1,
  intermediateSize: 1,
  maxPositions: 2,
  typeVocabSize: 1,
  layerNormEps: 3,
  padTokenId: 2,
};

function kaBertWeights(): TensorMap {
  const m: TensorMap = new Map();
  put(m, 'embeddings.word_embeddings.weight', [3, 2], [1, -1, 0.5, 0.25, 0, 0]);
  put(m, 'embeddings.position_embeddings.weight', [2, 2], [0, 0, -2, 2]);
  put(m, 'embeddings.token_type_embeddings.weight', [1, 2], [0.25, 0.25]);
  put(m, 'embeddings.LayerNorm.weight', [2], [1, 1]);
  put(m, 'embeddings.LayerNorm.bias', [2], [0, 0]);
  const p = 'encoder.layer.0';
  put(m, `${p}.attention.self.query.weight`, [2, 2], [2, 0, 0, 0]);
  put(m, `${p}.attention.self.key.weight`, [2, 2], [2, 0, 0, 0]);
  put(m, `${p}.attention.self.value.weight`, [2, 2], [2, 0, 0, 2]);
  put(m, `${p}.attention.output.dense.weight`, [2, 2], [1, 0, 0, 1]);
  for (const n of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'output.dense']) {
    put(m, `${p}.${n}.bias`, [2], [0, 0]);
  }
  put(m, `${p}.attention.output.LayerNorm.weight`, [2], [2, 1]);
  put(m, `${p}.attention.output.LayerNorm.bias`, [2], [0.125, -0.25]);
  put(m, `${p}.intermediate.dense.weight`, [1, 2], [0, 0]);
  put(m, `${p}.intermediate.dense.bias`, [1], [1]);
  put(m, `${p}.output.dense.weight`, [2, 1], [1, -1]);
  put(m, `${p}.output.LayerNorm.weight`, [2], [1, 1]);
  put(m, `${p}.output.LayerNorm.bias`, [2], [0, 0]);
  put(m, 'pooler.dense.weight', [2, 2], [1, 0, 0, 1]);
  put(m, 'pooler.dense.bias', [2], [0, 0]);
  put(m, 'classifier.weight', [1, 2], [1, 0]);
  put(m, 'classifier.bias', [1], [0.5]);
  return m;
}

describe('known answers', () => {
  it('BERT: post-LN layer, erf GELU, 1/sqrt(d) softmax, pooler and classifier', () => {
    // embeddings: [1.25,-0.75] and [-0.75,1.25] -> LN -> e0 = [.5,-.5], e1 = -e0
    // q = k = [2 e[0], 0], v = 2e: scores +-1/sqrt2, ctx0 = C[1,-1], ctx1 = -ctx0
    // residual + LN(gamma [2,1], beta [1/8,-1/4]): g = (0.5+C)/sqrt((0.5+C)^2+3)
    const g = (0.5 + C) / Math.sqrt((0.5 + C) ** 2 + 3);
    const a0 = [2 * g + 0.125, -g - 0.25];
    const a1 = [-2 * g + 0.125, g - 0.25];
    // FFN: u = 1 (bias only) -> gelu(1), out = [G, -G]
    const h0 = ln2(a0[0] + GELU_ERF_1, a0[1] - GELU_ERF_1);
    const h1 = ln2(a1[0] + GELU_ERF_1, a1[1] - GELU_ERF_1);
    const out = bertForwardRef(KA_BERT, kaBertWeights(), [0, 0]);
    expectNear(out.hidden, [...h0, ...h1], 1e-15);
    expectNear(out.pooled ?? [], [Math.tanh(h0[0]), Math.tanh(h0[1])], 1e-15);
    expectNear(out.logits ?? [], [Math.tanh(h0[0]) + 0.5], 1e-15);
  });

  it('GPT-2: pre-LN block, Conv1D [in,out], causal, gelu_new, ln_f, tied head', () => {
    const cfg: Gpt2Config = {
      family: 'gpt2',
      vocabSize: 2,
      hiddenSize: 2,
      numLayers: 1,
      numHeads: 1,
      intermediateSize: 1,
      maxPositions: 2,
      layerNormEps: 3,
      bosTokenId: 1,
      eosTokenId: 1,
    };
    const m: TensorMap = new Map();
    put(m, 'wte.weight', [2, 2], [1, -1, 0.5, 0.25]);
    put(m, 'wpe.weight', [2, 2], [0, 0, -2, 2]);
    for (const n of ['h.0.ln_1', 'h.0.ln_2']) {
      put(m, `${n}.weight`, [2], [1, 1]);
      put(m, `${n}.bias`, [2], [0, 0]);
    }
    // rows = inputs: q = [0, 2a0], k = [0, 2a0], v = 2a
    put(m, 'h.0.attn.c_attn.weight', [2, 6], [0, 2, 0, 2, 2, 0, 0, 0, 0, 0, 0, 2]);
    put(m, 'h.0.attn.c_attn.bias', [6], [0, 0, 0, 0, 0, 0]);
    put(m, 'h.0.attn.c_proj.weight', [2, 2], [1, 0, 0, 1]);
    put(m, 'h.0.attn.c_proj.bias', [2], [0, 0]);
    put(m, 'h.0.mlp.c_fc.weight', [2, 1], [0, 0]);
    put(m, 'h.0.mlp.c_fc.bias', [1], [1]);
    put(m, 'h.0.mlp.c_proj.weight', [1, 2], [1, -1]);
    put(m, 'h.0.mlp.c_proj.bias', [2], [0, 0]);
    put(m, 'ln_f.weight', [2], [1, 2]);
    put(m, 'ln_f.bias', [2], [0, 0.5]);
    // x0 = [1,-1], x1 = [-1,1]; token 0 sees only itself: + v0 = [1,-1] -> [2,-2];
    // token 1: scores -+1/sqrt2 -> + (-C)[1,-1]; MLP adds [G,-G] to both.
    const n0 = ln2(2 + GELU_TANH_1, -2 - GELU_TANH_1)[0];
    const n1 = ln2(-1 - C + GELU_TANH_1, 1 + C - GELU_TANH_1)[0];
    const h = [n0, -2 * n0 + 0.5, n1, -2 * n1 + 0.5];
    const out = gpt2ForwardRef(cfg, m, [0, 0]);
    expectNear(out.hidden, h, 1e-15);
    expectNear(out.logits, [h[0] - h[1], 0.5 * h[0] + 0.25 * h[1], h[2] - h[3], 0.5 * h[2] + 0.25 * h[3]], 1e-15);
  });
});

// ---------- self-consistency on random tiny models ----------

const BERT_IDS = [3, 16, 0, 7, 7, 1, 12, 5, 9];
const GPT2_IDS = [18, 4, 11, 0, 9, 9, 2, 17, 6, 13];

describe('BERT reference', () => {
  const w = bertWeights(11);
  const adapter = makeAdapter(BERT_TARGETS, 3, 5);
  const typeIds = BERT_IDS.map((_, i) => (i < 4 ? 0 : 1));

  it('split at every S: upper(lower) == full forward', () => {
    const full = bertForwardRef(BERT, w, BERT_IDS, { adapter, typeIds });
    expect(full.logits?.length).toBe(3);
    for (let s = 0; s <= BERT.numLayers; s++) {
      const h = bertLowerRef(BERT, w, s, BERT_IDS, { adapter, typeIds });
      const up = bertUpperRef(BERT, w, s, h, BERT_IDS.length, { adapter });
      expectNear(up.hidden, full.hidden, 0);
      expectNear(up.logits ?? [], full.logits ?? [], 0);
    }
    // and the layers compose: embeddings then bertLayerRef one by one
    let h = bertEmbeddingsRef(BERT, w, BERT_IDS, typeIds);
    for (let l = 0; l < BERT.numLayers; l++) h = bertLayerRef(BERT, w, l, h, BERT_IDS.length, adapter);
    expectNear(h, full.hidden, 0);
  });

  it('LoRA with B = 0 is the base model; a real adapter changes it', () => {
    const base = bertForwardRef(BERT, w, BERT_IDS);
    const zero = bertForwardRef(BERT, w, BERT_IDS, { adapter: makeAdapter(BERT_TARGETS, 2, 9, { zeroB: true }) });
    expectNear(zero.hidden, base.hidden, 0);
    expect(maxDiff(bertForwardRef(BERT, w, BERT_IDS, { adapter }).hidden, base.hidden)).toBeGreaterThan(1e-3);
  });

  it('LoRA equals merging W + scale * B @ A into nn.Linear weights, head override included', () => {
    const head: TensorMap = new Map();
    const r = rng(77);
    put(head, 'classifier.weight', [2, Hb], grid(2 * Hb, r, 0.5));
    put(head, 'classifier.bias', [2], grid(2, r, 0.5));
    for (const rank of [1, 3]) {
      const a = makeAdapter(BERT_TARGETS, rank, 21 + rank, { head });
      const viaLora = bertForwardRef(BERT, w, BERT_IDS, { adapter: a, typeIds });
      const merged = bertForwardRef(BERT, mergeLoraRef(BERT, w, a), BERT_IDS, { typeIds });
      expectNear(viaLora.hidden, merged.hidden, 1e-12);
      expect(viaLora.logits?.length).toBe(2);
      expectNear(viaLora.logits ?? [], merged.logits ?? [], 1e-12);
    }
  });

  it('padding keys (mask 0) do not change the other positions', () => {
    const T = BERT_IDS.length;
    const prefix = bertForwardRef(BERT, w, BERT_IDS.slice(0, 6), { adapter });
    const mask = BERT_IDS.map((_, i) => (i < 6 ? 1 : 0));
    const padded = bertForwardRef(BERT, w, BERT_IDS, { adapter, attentionMask: mask });
    expectNear(padded.hidden.subarray(0, 6 * Hb), prefix.hidden, 1e-13);
    expectNear(padded.logits ?? [], prefix.logits ?? [], 1e-13);
    // a masked key in the middle: its token id no longer matters to the others
    const midMask = BERT_IDS.map((_, i) => (i === 3 ? 0 : 1));
    const other = [...BERT_IDS];
    other[3] = 14;
    const a = bertForwardRef(BERT, w, BERT_IDS, { attentionMask: midMask }).hidden;
    const b = bertForwardRef(BERT, w, other, { attentionMask: midMask }).hidden;
    for (let t = 0; t < T; t++) {
      if (t !== 3) expectNear(a.subarray(t * Hb, (t + 1) * Hb), b.subarray(t * Hb, (t + 1) * Hb), 1e-13);
    }
    expect(maxDiff(bertForwardRef(BERT, w, BERT_IDS).hidden.subarray(0, Hb), bertForwardRef(BERT, w, other).hidden.subarray(0, Hb))).toBeGreaterThan(1e-3);
    expect(() => bertForwardRef(BERT, w, [1, 2], { attentionMask: [0, 0] })).toThrow(/no visible key/);
  });

  it('no head without a pooler/classifier; a classifier needs a pooler; bad targets are rejected', () => {
    const bare = bertWeights(11, false);
    const out = bertForwardRef(BERT, bare, [1, 2]);
    expect(out.pooled).toBeUndefined();
    expect(out.logits).toBeUndefined();
    const head: TensorMap = new Map();
    put(head, 'classifier.weight', [1, Hb], new Float32Array(Hb));
    put(head, 'classifier.bias', [1], [0]);
    expect(() => bertForwardRef(BERT, bare, [1, 2], { adapter: { modules: new Map(), head } })).toThrow(MissingTensorError);
    expect(() => bertForwardRef(BERT, w, [1], { adapter: makeAdapter([['encoder.layer.1.attention.self.querry', Hb, Hb]], 1, 1) })).toThrow(LoraTargetError);
    expect(() => bertForwardRef(BERT, w, [1], { adapter: makeAdapter([['encoder.layer.3.output.dense', Ib, Hb]], 1, 1) })).toThrow(LoraTargetError);
  });
});

describe('GPT-2 reference', () => {
  const w = gpt2Weights(13);
  const adapter = makeAdapter(GPT2_TARGETS, 2, 6);
  const V = GPT2.vocabSize;

  it('split at every S: upper(lower) == full forward', () => {
    const full = gpt2ForwardRef(GPT2, w, GPT2_IDS, { adapter });
    for (let s = 0; s <= GPT2.numLayers; s++) {
      const h = gpt2LowerRef(GPT2, w, s, GPT2_IDS, { adapter });
      const up = gpt2UpperRef(GPT2, w, s, h, GPT2_IDS.length, { adapter });
      expectNear(up.logits, full.logits, 0);
    }
  });

  it('LoRA with B = 0 is the base model; rank-1 LoRA equals merging (B @ A)^T into Conv1D [in,out]', () => {
    const base = gpt2ForwardRef(GPT2, w, GPT2_IDS);
    expectNear(gpt2ForwardRef(GPT2, w, GPT2_IDS, { adapter: makeAdapter(GPT2_TARGETS, 4, 3, { zeroB: true }) }).logits, base.logits, 0);
    for (const rank of [1, 3]) {
      const a = makeAdapter(GPT2_TARGETS, rank, 40 + rank);
      const viaLora = gpt2ForwardRef(GPT2, w, GPT2_IDS, { adapter: a });
      expect(maxDiff(viaLora.logits, base.logits)).toBeGreaterThan(1e-3);
      expectNear(viaLora.logits, gpt2ForwardRef(GPT2, mergeLoraRef(GPT2, w, a), GPT2_IDS).logits, 1e-12);
    }
  });

  it('causal: appending tokens leaves the prefix logits unchanged', () => {
    const full = gpt2ForwardRef(GPT2, w, GPT2_IDS, { adapter }).logits;
    for (const k of [1, 4, 7]) {
      expectNear(gpt2ForwardRef(GPT2, w, GPT2_IDS.slice(0, k), { adapter }).logits, full.subarray(0, k * V), 1e-13);
    }
  });

  it('a KV cache fed in chunks gives the full forward', () => {
    const full = gpt2ForwardRef(GPT2, w, GPT2_IDS, { adapter }).logits;
    const cache = new Gpt2KvCacheRef(GPT2);
    const chunks = [[0, 3], [3, 4], [4, 10]];
    for (const [a, b] of chunks) {
      const out = gpt2ForwardRef(GPT2, w, GPT2_IDS.slice(a, b), { adapter, cache });
      expectNear(out.logits, full.subarray(a * V, b * V), 1e-13);
    }
    expect(cache.length).toBe(10);
  });

  it('greedy with a KV cache == greedy by recomputation; stop ids end decoding', () => {
    for (const opts of [{}, { adapter }]) {
      const cached = gpt2GreedyRef(GPT2, w, [18, 4, 11], 12, opts);
      const recomputed = gpt2GreedyRef(GPT2, w, [18, 4, 11], 12, { ...opts, kvCache: false });
      expect(cached).toHaveLength(12);
      expect(cached).toEqual(recomputed);
      // each step is the argmax of the full forward's last row
      const all = [18, 4, 11, ...cached.slice(0, 5)];
      const last = gpt2ForwardRef(GPT2, w, all, opts).logits.subarray((all.length - 1) * V);
      expect(last.indexOf(Math.max(...last))).toBe(cached[5]);
      const stop = cached[2];
      const stopped = gpt2GreedyRef(GPT2, w, [18, 4, 11], 12, { ...opts, stopIds: [stop] });
      expect(stopped).toEqual(cached.slice(0, cached.indexOf(stop) + 1));
    }
    expect(() => gpt2GreedyRef(GPT2, w, [1], GPT2.maxPositions + 1)).toThrow(RangeError);
  });
});

// ---------- PLOT ----------

describe('PLOT reference', () => {
  const LN = { weight: [2, 1], bias: [0.125, -0.25] };
  const lnOut = ([a, b]: [number, number]): number[] => [a * 2 + 0.125, b - 0.25];

  it('hBERT keys pad both edges', () => {
    expect(bertTrigramKeys(KA_BERT, [1])).toEqual([[2, 1, 2]]);
    expect(bertTrigramKeys(KA_BERT, [0, 1])).toEqual([
      [2, 0, 1],
      [0, 1, 2],
    ]);
    expect(bertTrigramKeys(BERT, [5, 6, 7])).toEqual([
      [0, 5, 6],
      [5, 6, 7],
      [6, 7, 0],
    ]);
  });

  it('hBERT combine for T=1 keeps only the centre slot', () => {
    // rep0 = [1,-1] + pos0 [0,0] + type0 [.25,.25] = [1.25,-0.75]: d = 1
    const out = bertPlotCombineRef(KA_BERT, kaBertWeights(), [[5, -3, 1, -1, -4, 6]], LN);
    expectNear(out, lnOut(ln2(1.25, -0.75)), 1e-15);
  });

  it('hBERT combine for T=2 adds the right neighbour slot 0 and the left neighbour slot 2', () => {
    const e0 = [5, -3, 1, -1, 0.5, 0];
    const e1 = [0, 1, 2, 0, -4, 6];
    // rep0 = e0[1] + e1[0] + pos0 + type = [1.25, 0.25]
    // rep1 = e1[1] + e0[2] + pos1 [-2,2] + type = [0.75, 2.25]
    const out = bertPlotCombineRef(KA_BERT, kaBertWeights(), [e0, e1], LN);
    expectNear(out, [...lnOut(ln2(1.25, 0.25)), ...lnOut(ln2(0.75, 2.25))], 1e-15);
  });

  it('hBERT entries are the lower layers on the padded window alone, then feed the upper layers', () => {
    const w = bertWeights(11);
    const adapterLower = makeAdapter([['encoder.layer.0.intermediate.dense', Hb, Ib]], 2, 8);
    const ids = [4, 9, 2];
    const split = 2;
    const entry = bertTrigramEntryRef(BERT, w, split, [0, 4, 9], adapterLower);
    // same as the window through the lower layers; the window is independent of the rest of the sequence
    expectNear(entry, bertLowerRef(BERT, w, split, [0, 4, 9], { adapter: adapterLower }), 0);
    expect(maxDiff(entry, bertTrigramEntryRef(BERT, w, split, [0, 4, 9]))).toBeGreaterThan(1e-3);
    const ln = { weight: w.get('embeddings.LayerNorm.weight')?.data ?? [], bias: w.get('embeddings.LayerNorm.bias')?.data ?? [] };
    const keys = bertTrigramKeys(BERT, ids);
    const h = bertPlotHiddenRef(BERT, w, split, ids, ln, { adapterLower });
    expectNear(h, bertPlotCombineRef(BERT, w, keys.map((k) => bertTrigramEntryRef(BERT, w, split, k, adapterLower)), ln), 0);
    // token 0 reads trigrams 0 and 1 only: changing x[3] leaves it alone but moves token 1 (via trigram 2)
    const a = bertPlotHiddenRef(BERT, w, split, [4, 9, 2, 6], ln, { adapterLower });
    const b = bertPlotHiddenRef(BERT, w, split, [4, 9, 2, 5], ln, { adapterLower });
    expectNear(b.subarray(0, Hb), a.subarray(0, Hb), 0);
    expect(maxDiff(b.subarray(Hb, 2 * Hb), a.subarray(Hb, 2 * Hb))).toBeGreaterThan(1e-3);
    const adapter = makeAdapter(BERT_TARGETS, 2, 31);
    const fwd = bertPlotForwardRef(BERT, w, split, ids, ln, { adapterLower, adapter });
    expectNear(fwd.logits ?? [], bertUpperRef(BERT, w, split, h, ids.length, { adapter }).logits ?? [], 0);
  });

  it('hGPT keys pad the start with eos; entries take the last slot of the causal window', () => {
    expect(gpt2TrigramKeys(GPT2, [3])).toEqual([[18, 18, 3]]);
    expect(gpt2TrigramKeys(GPT2, [3, 4, 5])).toEqual([
      [18, 18, 3],
      [18, 3, 4],
      [3, 4, 5],
    ]);
    const w = gpt2Weights(13);
    // split 0: the lower "layers" are the embeddings: wte[x_i] + wpe[2], whatever the real position
    const wte = w.get('wte.weight')?.data ?? new Float32Array();
    const wpe = w.get('wpe.weight')?.data ?? new Float32Array();
    const e = gpt2TrigramEntryRef(GPT2, w, 0, [7, 8, 5]);
    expectNear(e, Array.from({ length: Hg }, (_, i) => wte[5 * Hg + i] + wpe[2 * Hg + i]), 0);
    const h = gpt2PlotHiddenRef(GPT2, w, 2, [3, 4, 5]);
    expectNear(h.subarray(Hg, 2 * Hg), gpt2LowerRef(GPT2, w, 2, [18, 3, 4]).subarray(2 * Hg), 0);
    expectNear(h.subarray(0, Hg), gpt2LowerRef(GPT2, w, 2, [18, 18, 3]).subarray(2 * Hg), 0);
    expectNear(h.subarray(2 * Hg), gpt2LowerRef(GPT2, w, 2, [3, 4, 5]).subarray(2 * Hg), 0);
  });

  it('hGPT greedy with PLOT windows and a KV cache == recomputing the PLOT forward each step', () => {
    const w = gpt2Weights(13);
    const adapter = makeAdapter(GPT2_TARGETS.slice(4), 2, 12);
    const adapterLower = makeAdapter([['h.0.mlp.c_fc', Hg, Ig]], 1, 4);
    const split = 1;
    const prompt = [5, 11];
    const got = gpt2PlotGreedyRef(GPT2, w, split, prompt, 8, { adapter, adapterLower });
    expect(got).toHaveLength(8);
    const ids = [...prompt];
    for (let n = 0; n < 8; n++) {
      const logits = gpt2PlotForwardRef(GPT2, w, split, ids, { adapter, adapterLower }).logits.subarray((ids.length - 1) * GPT2.vocabSize);
      ids.push(logits.indexOf(Math.max(...logits)));
    }
    expect(got).toEqual(ids.slice(prompt.length));
  });
});
