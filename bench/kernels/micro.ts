// Micro-benchmark of every non-matmul kernel (matmul variants have bench/kernels/main.ts; here
// only the base matmul's f32 / f16 weight reads), one row per
// kernel variant at a shape this project's models really run: hBERT-mini (H=128, 4 heads,
// FFN 512) on a packed batch of 8 sequences x 64 tokens = 512 rows, hGPT-mini (H=128,
// vocab ~1000, KV blocks of 16) prefilling 4 x 128 tokens or decoding 32 sequences at
// position 127, LoRA ranks 2..16 over pages of H floats.
// The training kernels (backward passes, the weight-gradient matmul_tn, AdamW) run at the
// hBERT-mini batch; cross-entropy also at 256 rows x an 8k vocab.
// Each row goes through the kernel's own encodeX binding: first one dispatch from fresh
// inputs, read back and compared with the f64 CPU reference (max abs diff; a row above its
// tolerance fails, loudly), then timed by src/gpu/timing.ts's timeGpu over rounds of N
// dispatches in one pass (N chosen so a round takes ~TARGET_ROUND_MS), per-dispatch median.
// The CPU reference (JS, f64) is timed on the same inputs for the gpu/cpu ratio.
// Publishes window.__benchResult for scripts/bench.mjs (`node scripts/bench.mjs micro`).
import { createGpuContext, type GpuContext } from '../../src/gpu/device.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { run } from '../../src/gpu/dispatch.js';
import { timeGpu } from '../../src/gpu/timing.js';
import { randomFloats, Rng } from '../../src/util/rng.js';
import { pagedBatch, shuffled, type PagedBatch } from '../../test/knowledge/task/fixtures.js';
import { decodeF16Bits, packF16, packF16Pairs, unpackF16Pairs } from '../../src/formats/f16.js';
import type { LoraAdapter, LoraModule, TensorMap } from '../../src/formats/types.js';
import { rowReductionWorkgroup } from '../../src/kernels/adapter-kind.js';
import { encodeAdd } from '../../src/kernels/add.js';
import { defaultAttentionVariant, encodeAttention, type AttentionVariant } from '../../src/kernels/attention.js';
import { encodeAttentionPaged } from '../../src/kernels/attention-paged.js';
import { encodeClassifierHead, type ClassifierHeadParams } from '../../src/kernels/classifier-head.js';
import { encodeEmbedding } from '../../src/kernels/embedding.js';
import { encodeMatmul, type WeightLayout } from '../../src/kernels/matmul.js';
import { matmulRef } from '../../src/kernels/cpu/matmul.js';
import { weightBytes, type WeightRead } from '../../src/kernels/weight-read.js';
import { encodeGatherRows } from '../../src/kernels/gather-rows.js';
import { encodeGelu, type GeluForm } from '../../src/kernels/gelu.js';
import { encodeKvScatter } from '../../src/kernels/kv-scatter.js';
import { encodeLayerNorm } from '../../src/kernels/layernorm.js';
import { encodeLoraExpand, type LoraExpandParams } from '../../src/kernels/lora-expand.js';
import { chooseLoraVariant, encodeLoraShrink, type LoraKernelVariant, type LoraShrinkParams } from '../../src/kernels/lora-shrink.js';
import { encodePlotCombine, f16SlotWords, packCombineMeta } from '../../src/kernels/plot-combine.js';
import { encodeScatterRows } from '../../src/kernels/scatter-rows.js';
import { encodeSoftmax } from '../../src/kernels/softmax.js';
import { encodeTanh } from '../../src/kernels/tanh.js';
import { addRef } from '../../src/kernels/cpu/add.js';
import { attentionRef } from '../../src/kernels/cpu/attention.js';
import { attentionPagedRef } from '../../src/kernels/cpu/attention-paged.js';
import { classifierHeadRef } from '../../src/kernels/cpu/classifier-head.js';
import { embeddingRef } from '../../src/kernels/cpu/embedding.js';
import { gatherRowsRef } from '../../src/kernels/cpu/gather-rows.js';
import { geluRef } from '../../src/kernels/cpu/gelu.js';
import { kvScatterRef } from '../../src/kernels/cpu/kv-scatter.js';
import { layerNormRef } from '../../src/kernels/cpu/layernorm.js';
import { loraExpandRef } from '../../src/kernels/cpu/lora-expand.js';
import { loraShrinkRef } from '../../src/kernels/cpu/lora-shrink.js';
import { plotCombineRef } from '../../src/kernels/cpu/plot-combine.js';
import { scatterRowsRef } from '../../src/kernels/cpu/scatter-rows.js';
import { softmaxRef } from '../../src/kernels/cpu/softmax.js';
import { tanhRef } from '../../src/kernels/cpu/tanh.js';
import { encodeActivationBackward, type BackwardActivation } from '../../src/kernels/activation-backward.js';
import { encodeAdamW } from '../../src/kernels/adamw.js';
import { encodeAttentionBackward } from '../../src/kernels/attention-backward.js';
import { encodeCrossEntropy } from '../../src/kernels/cross-entropy.js';
import { encodeLayerNormBackward } from '../../src/kernels/layernorm-backward.js';
import { encodeMatmulTN } from '../../src/kernels/matmul-tn.js';
import { activationBackwardRef } from '../../src/kernels/cpu/activation-backward.js';
import { adamwRef } from '../../src/kernels/cpu/adamw.js';
import { attentionBackwardRef } from '../../src/kernels/cpu/attention-backward.js';
import { crossEntropyRef } from '../../src/kernels/cpu/cross-entropy.js';
import { layerNormBackwardRef } from '../../src/kernels/cpu/layernorm-backward.js';
import { matmulTnRef } from '../../src/kernels/cpu/matmul-tn.js';

export interface MicroBenchRow {
  kernel: string;
  variant: string;
  shape: string;
  /** Median microseconds per dispatch (round time / dispatches per round). */
  gpuUs: number;
  /** 'timestamp' (GPU timeline of the pass) or 'wall' (submit to onSubmittedWorkDone), from timeGpu. */
  clock: 'timestamp' | 'wall';
  dispatchesPerRound: number;
  rounds: number;
  /** Inputs read + outputs written once each (compulsory traffic), from the shape. */
  bytes: number;
  gbps: number;
  /** Multiply-adds x 2 where the kernel is a dot-product kernel; null for elementwise/normalisation. */
  flops: number | null;
  gflops: number | null;
  /** Median microseconds of the f64 JS reference on the same inputs. */
  cpuUs: number;
  /** cpuUs / gpuUs: above 1, the GPU kernel is faster than the JS reference. */
  speedup: number;
  maxAbsDiff: number;
  tolerance: number;
  pass: boolean;
  /** Set when the row could not run (shape error, GPU validation error). */
  error?: string;
}

export interface MicroBenchResult {
  adapter: string;
  targetRoundMs: number;
  rows: MicroBenchRow[];
}

type Outcome = { ok: true; result: MicroBenchResult } | { ok: false; error: string };
const publish = (o: Outcome): void => {
  (window as unknown as { __benchResult?: Outcome }).__benchResult = o;
};

const TARGET_ROUND_MS = 60;
const ROUNDS = 7;
const WARMUP = 3;
const MAX_DISPATCHES = 256;
const CPU_WARMUP_MS = 100;
const CPU_SAMPLE_MS = 10;
const CPU_MIN_MS = 200;
const CPU_MAX_SAMPLES = 15;

// Model shapes (src/model/synthetic.ts defaults).
const H = 128;
const HEADS = 4;
const FFN = 4 * H;
const BERT_SEQS = 8;
const BERT_LEN = 64;
const ROWS = BERT_SEQS * BERT_LEN;
const VOCAB = 1000;
const POS = 128;
const BLOCK_TOKENS = 16;
const F = 4;

// ---------------------------------------------------------------------------------------------
// Pure helpers

const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN propagates as NaN > anything
  }
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Dispatches per round so one round takes about `targetMs`, given one dispatch's cost. */
export function dispatchesFor(oneMs: number, targetMs = TARGET_ROUND_MS, max = MAX_DISPATCHES): number {
  return Math.max(1, Math.min(max, Math.round(targetMs / Math.max(oneMs, 1e-3))));
}

function randomInts(n: number, below: number, seed: number): Uint32Array {
  const rng = new Rng(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(rng.next() * below));
}

const log = (msg: string): void => {
  console.log(`[micro] ${msg}`);
  const status = document.getElementById('status');
  if (status) status.textContent = msg;
};

// ---------------------------------------------------------------------------------------------
// Cases

interface Built {
  encode: (pass: GPUComputePassEncoder) => void;
  /** Buffer the check reads after one dispatch from the fresh inputs, and its float count. */
  out: GPUBuffer;
  outCount: number;
  /** The CPU reference on the same inputs (what the check compares with, and what is timed). */
  ref: () => ArrayLike<number>;
  buffers: GPUBuffer[];
}

interface Case {
  kernel: string;
  variant: string;
  shape: string;
  bytes: number;
  flops: number | null;
  /** Absolute tolerance relative to the reference's magnitude: tol = rtol * max(1, max|ref|). */
  rtol: number;
  build: (ctx: GpuContext) => Promise<Built>;
}

async function up(ctx: GpuContext, bufs: GPUBuffer[], data: Float32Array | Uint32Array | Uint16Array, label: string): Promise<GPUBuffer> {
  const b = await uploadBuffer(ctx, data, label);
  bufs.push(b);
  return b;
}

async function alloc(ctx: GpuContext, bufs: GPUBuffer[], floats: number, label: string): Promise<GPUBuffer> {
  const b = await allocBuffer(ctx, floats * F, label);
  bufs.push(b);
  return b;
}

function elementwise(kernel: string, variant: string, shape: string, n: number, streams: number, rtol: number, build: Case['build']): Case {
  return { kernel, variant, shape, bytes: streams * n * F, flops: null, rtol, build };
}

function addCase(): Case {
  const n = ROWS * H;
  return elementwise('add', 'f32', `n=${ROWS}x${H} (residual)`, n, 3, 1e-6, async (ctx) => {
    const bufs: GPUBuffer[] = [];
    const a = randomFloats(n, 1);
    const b = randomFloats(n, 2);
    const [ga, gb, out] = [await up(ctx, bufs, a, 'a'), await up(ctx, bufs, b, 'b'), await alloc(ctx, bufs, n, 'out')];
    return { encode: (pass) => encodeAdd(ctx, pass, ga, gb, out, n), out, outCount: n, ref: () => addRef(a, b), buffers: bufs };
  });
}

function tanhCase(): Case {
  const n = 32 * H;
  return elementwise('tanh', 'f32', `n=32x${H} (pooler, 32 seqs)`, n, 2, 1e-5, async (ctx) => {
    const bufs: GPUBuffer[] = [];
    const x = randomFloats(n, 3, 3);
    const [gx, y] = [await up(ctx, bufs, x, 'x'), await alloc(ctx, bufs, n, 'y')];
    return { encode: (pass) => encodeTanh(ctx, pass, { x: gx, y, n }), out: y, outCount: n, ref: () => tanhRef(x), buffers: bufs };
  });
}

function geluCase(form: GeluForm, inPlace: boolean): Case {
  const n = ROWS * FFN;
  const variant = `${inPlace ? 'gelu_inplace' : 'gelu'} ${form}`;
  return elementwise('gelu', variant, `n=${ROWS}x${FFN} (FFN)`, n, 2, 1e-5, async (ctx) => {
    const bufs: GPUBuffer[] = [];
    const x = randomFloats(n, 4, 4);
    const gx = await up(ctx, bufs, x, 'x');
    const y = inPlace ? gx : await alloc(ctx, bufs, n, 'y');
    // In place, the check's dispatch is the first one on x; the timed ones then re-apply gelu (still finite).
    const encode = (pass: GPUComputePassEncoder): void => encodeGelu(ctx, pass, inPlace ? { x: gx, n, form } : { x: gx, y, n, form });
    return { encode, out: y, outCount: n, ref: () => geluRef(x, form), buffers: bufs };
  });
}

function softmaxCase(wg: number | undefined, ctxWg: number): Case {
  const rows = 32;
  const cols = VOCAB;
  const variant = wg === undefined ? `wg=${ctxWg} (default)` : `wg=${wg}`;
  return elementwise('softmax', variant, `${rows}x${cols} (hGPT decode logits)`, rows * cols, 2, 1e-5, async (ctx) => {
    const bufs: GPUBuffer[] = [];
    const x = randomFloats(rows * cols, 5, 8);
    const [gx, y] = [await up(ctx, bufs, x, 'x'), await alloc(ctx, bufs, rows * cols, 'y')];
    return {
      encode: (pass) => encodeSoftmax(ctx, pass, { x: gx, y, rows, cols, ...(wg === undefined ? {} : { workgroupSize: wg }) }),
      out: y,
      outCount: rows * cols,
      ref: () => softmaxRef(x, rows, cols),
      buffers: bufs,
    };
  });
}

function layerNormCase(wg: number | undefined, ctxWg: number): Case {
  const variant = wg === undefined ? `wg=${ctxWg} (default)` : `wg=${wg}`;
  return {
    kernel: 'layernorm',
    variant,
    shape: `${ROWS}x${H}`,
    bytes: (2 * ROWS * H + 2 * H) * F,
    flops: null,
    rtol: 1e-4,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const x = randomFloats(ROWS * H, 6, 3);
      const gamma = Float32Array.from(randomFloats(H, 7), (v) => 1 + 0.2 * v);
      const beta = randomFloats(H, 8, 0.2);
      const gx = await up(ctx, bufs, x, 'x');
      const gg = await up(ctx, bufs, gamma, 'gamma');
      const gb = await up(ctx, bufs, beta, 'beta');
      const y = await alloc(ctx, bufs, ROWS * H, 'y');
      return {
        encode: (pass) => encodeLayerNorm(ctx, pass, { x: gx, gamma: gg, beta: gb, y, rows: ROWS, cols: H, eps: 1e-12, ...(wg === undefined ? {} : { workgroupSize: wg }) }),
        out: y,
        outCount: ROWS * H,
        ref: () => layerNormRef(x, gamma, beta, ROWS, H, 1e-12),
        buffers: bufs,
      };
    },
  };
}

function embeddingCase(read: WeightRead = 'f32'): Case {
  const rows = ROWS;
  const wordDtype = read === 'f32' ? 'f32' : 'f16';
  return {
    kernel: 'embedding',
    variant: read === 'f32' ? 'word+pos+type' : `word+pos+type, ${read} word table`,
    shape: `${rows} rows x ${H}, vocab ${VOCAB}, ${POS} pos, 2 types`,
    // 3 u32 indices per row, 3 table rows read and one row written per token.
    bytes: (3 * rows + 3 * rows * H) * F + rows * H * weightBytes(wordDtype),
    flops: null,
    rtol: 1e-6,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const ids = randomInts(rows, VOCAB, 9);
      const positions = Uint32Array.from({ length: rows }, (_, i) => i % BERT_LEN);
      const types = Uint32Array.from({ length: rows }, (_, i) => ((i % BERT_LEN) >= BERT_LEN / 2 ? 1 : 0));
      // f16 rows read the same values rounded to f16, so the reference is shared.
      const bits = packF16(randomFloats(VOCAB * H, 10));
      const word = read === 'f32' ? randomFloats(VOCAB * H, 10) : decodeF16Bits(bits);
      const pos = randomFloats(POS * H, 11);
      const type = randomFloats(2 * H, 12);
      const g = {
        ids: await up(ctx, bufs, ids, 'ids'),
        positions: await up(ctx, bufs, positions, 'positions'),
        types: await up(ctx, bufs, types, 'types'),
        wordTable: await up(ctx, bufs, read === 'f32' ? word : bits, 'word'),
        posTable: await up(ctx, bufs, pos, 'pos'),
        typeTable: await up(ctx, bufs, type, 'type'),
        out: await alloc(ctx, bufs, rows * H, 'out'),
      };
      const dims = { rows, dim: H, vocabRows: VOCAB, posRows: POS, typeRows: 2 };
      return {
        encode: (pass) => encodeEmbedding(ctx, pass, { ...g, ...dims, wordDtype, wordRead: read }),
        out: g.out,
        outCount: rows * H,
        ref: () => embeddingRef({ ids, positions, types, wordTable: word, posTable: pos, typeTable: type, ...dims }),
        buffers: bufs,
      };
    },
  };
}

/**
 * The base matmul with its weights read as f32 or f16 (matmul variants themselves are timed by
 * bench/kernels/main.ts): hGPT-mini's tied LM head on a decode step of 32 sequences, and
 * hBERT-mini's FFN up-projection over the packed batch.
 */
function weightMatmulCase(which: 'lm-head' | 'ffn', read: WeightRead): Case {
  const [M, N, K, wLayout]: [number, number, number, WeightLayout] = which === 'lm-head' ? [32, VOCAB, H, 'nk'] : [ROWS, FFN, H, 'nk'];
  const wDtype = read === 'f32' ? 'f32' : 'f16';
  return {
    kernel: 'matmul-weights',
    variant: `${which}, ${read} weights`,
    shape: `M=${M} N=${N} K=${K} ${wLayout}`,
    bytes: (M * K + M * N) * F + N * K * weightBytes(wDtype),
    flops: 2 * M * N * K,
    rtol: 1e-4,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const x = randomFloats(M * K, 50);
      const bits = packF16(randomFloats(N * K, 51, 0.2));
      const w = decodeF16Bits(bits);
      const g = {
        x: await up(ctx, bufs, x, 'x'),
        w: await up(ctx, bufs, wDtype === 'f16' ? bits : w, 'w'),
        y: await alloc(ctx, bufs, M * N, 'y'),
      };
      return {
        encode: (pass) => encodeMatmul(ctx, pass, { ...g, M, N, K, wLayout, wDtype, wRead: read }),
        out: g.y,
        outCount: M * N,
        ref: () => matmulRef({ x, w, M, N, K, wLayout }),
        buffers: bufs,
      };
    },
  };
}

function gatherRowsCase(): Case {
  const rows = BERT_SEQS;
  return {
    kernel: 'gather-rows',
    variant: 'f32',
    shape: `${rows} of ${ROWS} rows x ${H} (CLS rows)`,
    bytes: (rows + 2 * rows * H) * F,
    flops: null,
    rtol: 1e-7,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const src = randomFloats(ROWS * H, 13);
      const idx = Uint32Array.from({ length: rows }, (_, s) => s * BERT_LEN);
      const gs = await up(ctx, bufs, src, 'src');
      const gi = await up(ctx, bufs, idx, 'rowIdx');
      const dst = await alloc(ctx, bufs, rows * H, 'dst');
      return {
        encode: (pass) => encodeGatherRows(ctx, pass, { src: gs, rowIdx: gi, dst, rows, dim: H, srcRows: ROWS }),
        out: dst,
        outCount: rows * H,
        ref: () => gatherRowsRef(src, idx, H, ROWS),
        buffers: bufs,
      };
    },
  };
}

function scatterRowsCase(): Case {
  const rows = ROWS;
  return {
    kernel: 'scatter-rows',
    variant: 'f32',
    shape: `${rows} rows x ${H}, permuted`,
    bytes: (rows + 2 * rows * H) * F,
    flops: null,
    rtol: 1e-7,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const src = randomFloats(rows * H, 14);
      const idx = Uint32Array.from(shuffled(rows, 15));
      const dst0 = new Float32Array(rows * H);
      const gs = await up(ctx, bufs, src, 'src');
      const gi = await up(ctx, bufs, idx, 'rowIdx');
      const dst = await up(ctx, bufs, dst0, 'dst');
      return {
        encode: (pass) => encodeScatterRows(ctx, pass, { src: gs, rowIdx: gi, dst, rows, dim: H, srcStride: H, dstStride: H }),
        out: dst,
        outCount: rows * H,
        ref: () => scatterRowsRef(src, idx, dst0, { rows, dim: H, srcStride: H, dstStride: H }),
        buffers: bufs,
      };
    },
  };
}

function attentionCase(variant: AttentionVariant, chosen: AttentionVariant): Case {
  const W = H;
  const hd = H / HEADS;
  const seqLen = BERT_LEN;
  const keysSeen = ROWS * seqLen; // non-causal: every row sees its whole sequence
  return {
    kernel: 'attention',
    variant: `${variant}${variant === chosen ? ' (default)' : ''}`,
    shape: `hBERT ${BERT_SEQS}x${seqLen} rows, ${HEADS} heads x ${hd}, bidirectional`,
    bytes: (ROWS * W * 4 + BERT_SEQS * 4) * F, // q, k, v read, out written
    flops: 4 * keysSeen * W,
    rtol: 1e-5,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const q = randomFloats(ROWS * W, 16);
      const k = randomFloats(ROWS * W, 17);
      const v = randomFloats(ROWS * W, 18);
      const seqs = new Uint32Array(BERT_SEQS * 4);
      for (let s = 0; s < BERT_SEQS; s++) seqs.set([s * seqLen, seqLen, s * seqLen, seqLen], s * 4);
      const g = {
        q: await up(ctx, bufs, q, 'q'),
        k: await up(ctx, bufs, k, 'k'),
        v: await up(ctx, bufs, v, 'v'),
        seqs: await up(ctx, bufs, seqs, 'seqs'),
        out: await alloc(ctx, bufs, ROWS * W, 'out'),
      };
      const dims = { numSeqs: BERT_SEQS, qRows: ROWS, numHeads: HEADS, headDim: hd, qStride: W, qOffset: 0, kvStride: W, kOffset: 0, vOffset: 0, causal: false };
      return {
        encode: (pass) => encodeAttention(ctx, pass, { ...g, ...dims, kvRows: ROWS, variant }),
        out: g.out,
        outCount: ROWS * W,
        ref: () => attentionRef({ q, k, v, seqs, ...dims }),
        buffers: bufs,
      };
    },
  };
}

/** A paged KV layer for `numSeqs` sequences of kvLen positions, their last qLen positions new this step. */
function pagedKv(numSeqs: number, qLen: number, kvLen: number, seed: number): { seqs: Uint32Array; table: Uint32Array; numBlocks: number; pool: Float32Array } {
  const perSeq = Math.ceil(kvLen / BLOCK_TOKENS);
  const numBlocks = numSeqs * perSeq + 4; // a few free blocks, as a real pool has
  const order = shuffled(numBlocks, seed);
  const table = Uint32Array.from({ length: numSeqs * perSeq }, (_, i) => order[i]);
  const seqs = new Uint32Array(numSeqs * 4);
  for (let s = 0; s < numSeqs; s++) seqs.set([s * qLen, qLen, s * perSeq, kvLen], s * 4);
  const pool = randomFloats(numBlocks * BLOCK_TOKENS * 2 * H, seed + 1);
  return { seqs, table, numBlocks, pool };
}

function kvScatterCase(): Case {
  const numSeqs = 4;
  const len = 128;
  const rows = numSeqs * len;
  return {
    kernel: 'kv-scatter',
    variant: 'f32',
    shape: `hGPT prefill ${numSeqs}x${len} rows, width ${H}, blocks of ${BLOCK_TOKENS}`,
    bytes: (4 * rows * H + numSeqs * 4 + (numSeqs * len) / BLOCK_TOKENS) * F,
    flops: null,
    rtol: 1e-7,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const kv = pagedKv(numSeqs, len, len, 19);
      const src = randomFloats(rows * 3 * H, 20);
      const g = {
        src: await up(ctx, bufs, src, 'qkv'),
        seqs: await up(ctx, bufs, kv.seqs, 'seqs'),
        table: await up(ctx, bufs, kv.table, 'table'),
        pool: await up(ctx, bufs, kv.pool, 'pool'),
      };
      const dims = { layerBase: 0, numBlocks: kv.numBlocks, blockTokens: BLOCK_TOKENS, numSeqs, tableLen: kv.table.length, rows, width: H, srcStride: 3 * H, kOffset: H, vOffset: 2 * H };
      return {
        encode: (pass) => encodeKvScatter(ctx, pass, { ...g, ...dims }),
        out: g.pool,
        outCount: kv.pool.length,
        ref: () => kvScatterRef({ ...dims, src, pool: kv.pool, seqs: kv.seqs, table: kv.table }),
        buffers: bufs,
      };
    },
  };
}

function attentionPagedCase(phase: 'decode' | 'prefill', variant: AttentionVariant, chosen: AttentionVariant): Case {
  const [numSeqs, qLen, kvLen] = phase === 'decode' ? [32, 1, 128] : [4, 128, 128];
  const rows = numSeqs * qLen;
  const hd = H / HEADS;
  // Causal: query j of a sequence sees kvLen - qLen + j + 1 keys.
  let keysSeen = 0;
  for (let j = 0; j < qLen; j++) keysSeen += kvLen - qLen + j + 1;
  keysSeen *= numSeqs;
  return {
    kernel: 'attention-paged',
    variant: `${variant}${variant === chosen ? ' (default)' : ''}`,
    shape: `hGPT ${phase} ${numSeqs} seqs x ${qLen} rows, kv ${kvLen}, ${HEADS} heads x ${hd}`,
    bytes: (2 * rows * H + numSeqs * kvLen * 2 * H + numSeqs * 4 + numSeqs * Math.ceil(kvLen / BLOCK_TOKENS)) * F,
    flops: 4 * keysSeen * H,
    rtol: 1e-5,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const kv = pagedKv(numSeqs, qLen, kvLen, 21);
      const q = randomFloats(rows * 3 * H, 22);
      const g = {
        q: await up(ctx, bufs, q, 'qkv'),
        pool: await up(ctx, bufs, kv.pool, 'pool'),
        seqs: await up(ctx, bufs, kv.seqs, 'seqs'),
        table: await up(ctx, bufs, kv.table, 'table'),
        out: await alloc(ctx, bufs, rows * H, 'out'),
      };
      const dims = { layerBase: 0, numBlocks: kv.numBlocks, blockTokens: BLOCK_TOKENS, numSeqs, tableLen: kv.table.length, qRows: rows, numHeads: HEADS, headDim: hd, qStride: 3 * H, qOffset: 0 };
      return {
        encode: (pass) => encodeAttentionPaged(ctx, pass, { ...g, ...dims, variant }),
        out: g.out,
        outCount: rows * H,
        ref: () => attentionPagedRef({ ...dims, q, pool: kv.pool, seqs: kv.seqs, table: kv.table }),
        buffers: bufs,
      };
    },
  };
}

// LoRA: tenants laid out in one pool exactly as page-table.ts pages them, on scattered pages.

const LORA_RANKS = [2, 4, 8, 16];
const MOD = 'encoder.layer.3.attention.self.query';

function loraAdapter(seed: number, r: number, head?: number, inDim = H, outDim = H): LoraAdapter {
  const modules = new Map<string, LoraModule>([[MOD, { r, inDim, outDim, scale: 2, A: randomFloats(r * inDim, seed * 10 + 1, 0.3), B: randomFloats(outDim * r, seed * 10 + 2, 0.3) }]]);
  const tensors: TensorMap = new Map();
  if (head !== undefined) {
    tensors.set('classifier.weight', { shape: [head, H], data: randomFloats(head * H, seed * 10 + 3, 0.3) });
    tensors.set('classifier.bias', { shape: [head], data: randomFloats(head, seed * 10 + 4, 0.3) });
  }
  return { modules, head: tensors };
}

interface LoraBatch {
  name: string;
  inDim: number;
  outDim: number;
  tenants: number;
  rows: number;
  tp: PagedBatch;
  ranks: number[];
  /** Rank of each row's tenant. */
  rowRanks: number[];
}

/** prefill: 8 tenants x 64 rows (hBERT batch); decode: 64 tenants x 1 row. FFN widths: 4H in or out. */
function loraBatch(phase: 'prefill' | 'decode', inDim = H, outDim = H): LoraBatch {
  const [tenants, perTenant] = phase === 'prefill' ? [BERT_SEQS, BERT_LEN] : [64, 1];
  const ranks = Array.from({ length: tenants }, (_, t) => LORA_RANKS[t % LORA_RANKS.length]);
  const segments = Array.from({ length: tenants }, (_, t) => ({ tenant: t, rowStart: t * perTenant, rowCount: perTenant }));
  const tp = pagedBatch(H, ranks.map((r, t) => loraAdapter(t + 1, r, undefined, inDim, outDim)), MOD, segments, phase === 'prefill' ? 31 : 32, 8);
  const rowRanks = ranks.flatMap((r) => Array.from({ length: perTenant }, () => r));
  const name = `${phase} ${tenants} tenants x ${perTenant} rows, ranks ${LORA_RANKS.join('/')}, ${inDim}->${outDim}`;
  return { name, inDim, outDim, tenants, rows: tenants * perTenant, tp, ranks, rowRanks };
}

function loraShrinkCase(b: LoraBatch, variant: LoraKernelVariant, chosen: LoraKernelVariant): Case {
  const rankRows = b.rowRanks.reduce((a, r) => a + r, 0);
  return {
    kernel: 'lora-shrink',
    variant: `lora_shrink${variant === 'block' ? '' : `_${variant}`}${variant === chosen ? ' (runtime choice)' : ''}`,
    shape: b.name,
    // x read, each tenant's A read once, tmp written (its ranks only), tiles + metadata.
    bytes: (b.rows * b.inDim + b.ranks.reduce((a, r) => a + r * b.inDim, 0) + rankRows + b.tp.tiles.length + b.tenants * 4) * F,
    flops: 2 * rankRows * b.inDim,
    rtol: 1e-5,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const x = randomFloats(b.rows * b.inDim, 33);
      const tmp0 = new Float32Array(b.rows * b.tp.tmpStride);
      const g = {
        x: await up(ctx, bufs, x, 'x'),
        pool: await up(ctx, bufs, b.tp.pool, 'pool'),
        tiles: await up(ctx, bufs, b.tp.tiles, 'tiles'),
        table: await up(ctx, bufs, b.tp.table, 'table'),
        tmp: await up(ctx, bufs, tmp0, 'tmp'),
      };
      const p: LoraShrinkParams = { rows: b.rows, inDim: b.inDim, pageFloats: H, tmpStride: b.tp.tmpStride, kCount: b.tp.tmpStride, tileOffset: 0, numTiles: b.tp.numTiles, metaOffset: 0, variant };
      return {
        encode: (pass) => encodeLoraShrink(ctx, pass, g, p),
        out: g.tmp,
        outCount: tmp0.length,
        ref: () => loraShrinkRef({ x, pool: b.tp.pool, tiles: b.tp.tiles, table: b.tp.table, tmp: tmp0 }, p),
        buffers: bufs,
      };
    },
  };
}

function loraExpandCase(b: LoraBatch, variant: LoraKernelVariant, chosen: LoraKernelVariant): Case {
  const rankRows = b.rowRanks.reduce((a, r) => a + r, 0);
  return {
    kernel: 'lora-expand',
    variant: `lora_expand${variant === 'block' ? '' : `_${variant}`}${variant === chosen ? ' (runtime choice)' : ''}`,
    shape: b.name,
    // tmp read (ranks only), each tenant's B read once, y read and written, tiles + metadata.
    bytes: (rankRows + b.ranks.reduce((a, r) => a + r * b.outDim, 0) + 2 * b.rows * b.outDim + b.tp.tiles.length + b.tenants * 4) * F,
    flops: 2 * rankRows * b.outDim,
    rtol: 1e-5,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const tmp = randomFloats(b.rows * b.tp.tmpStride, 34);
      const y0 = randomFloats(b.rows * b.outDim, 35);
      const g = {
        tmp: await up(ctx, bufs, tmp, 'tmp'),
        pool: await up(ctx, bufs, b.tp.pool, 'pool'),
        tiles: await up(ctx, bufs, b.tp.tiles, 'tiles'),
        table: await up(ctx, bufs, b.tp.table, 'table'),
        y: await up(ctx, bufs, y0, 'y'),
      };
      const p: LoraExpandParams = { rows: b.rows, outDim: b.outDim, pageFloats: H, tmpStride: b.tp.tmpStride, tileOffset: 0, numTiles: b.tp.numTiles, metaOffset: 0, variant };
      // y accumulates: the check's dispatch is the first on y0; timed ones keep adding (finite).
      return {
        encode: (pass) => encodeLoraExpand(ctx, pass, g, p),
        out: g.y,
        outCount: y0.length,
        ref: () => loraExpandRef({ tmp, pool: b.tp.pool, tiles: b.tp.tiles, table: b.tp.table, y: y0 }, p),
        buffers: bufs,
      };
    },
  };
}

function classifierHeadCase(): Case {
  const tenants = 16;
  const numRequests = 64;
  const labelsOf = (t: number): number => 2 + (t % 5);
  const tenantOf = (q: number): number => (q * 5) % tenants;
  const maxLabels = Math.max(...Array.from({ length: numRequests }, (_, q) => labelsOf(tenantOf(q))));
  let dots = 0;
  for (let q = 0; q < numRequests; q++) dots += labelsOf(tenantOf(q));
  let headFloats = 0;
  for (let t = 0; t < tenants; t++) headFloats += labelsOf(t) * (H + 1);
  return {
    kernel: 'classifier-head',
    variant: 'f32',
    shape: `${numRequests} requests of ${tenants} tenants, ${H} -> 2..6 labels`,
    bytes: (numRequests * H + headFloats + numRequests * 4 + numRequests * maxLabels) * F,
    flops: 2 * dots * H,
    rtol: 1e-5,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const tp = pagedBatch(H, Array.from({ length: tenants }, (_, t) => loraAdapter(t + 100, 2, labelsOf(t))), MOD, [], 36, 8);
      const requests = new Uint32Array(numRequests * 4);
      for (let q = 0; q < numRequests; q++) requests.set(tp.heads.subarray(tenantOf(q) * 4, tenantOf(q) * 4 + 4), q * 4);
      const pooled = randomFloats(numRequests * H, 37);
      const logits0 = new Float32Array(numRequests * maxLabels);
      const g = {
        pooled: await up(ctx, bufs, pooled, 'pooled'),
        pool: await up(ctx, bufs, tp.pool, 'pool'),
        requests: await up(ctx, bufs, requests, 'requests'),
        table: await up(ctx, bufs, tp.table, 'table'),
        logits: await up(ctx, bufs, logits0, 'logits'),
      };
      const p: ClassifierHeadParams = { numRequests, inDim: H, pageFloats: H, maxLabels, shard: 0 };
      return {
        encode: (pass) => encodeClassifierHead(ctx, pass, g, p),
        out: g.logits,
        outCount: logits0.length,
        ref: () => classifierHeadRef({ pooled, pool: tp.pool, requests, table: tp.table, logits: logits0 }, p),
        buffers: bufs,
      };
    },
  };
}

function plotCombineCase(dtype: 'f32' | 'f16'): Case {
  const rows = ROWS;
  const slots = 384; // repeated tri-grams share a slot
  const numLn = 2;
  const valueBytes = dtype === 'f16' ? f16SlotWords(H) * 4 : 3 * H * F;
  return {
    kernel: 'plot-combine',
    variant: dtype === 'f16' ? 'plot_combine_f16 (u32-packed halves)' : 'plot_combine f32',
    shape: `${BERT_SEQS}x${BERT_LEN} rows, H=${H}, ${slots} cached slots`,
    bytes: slots * valueBytes + (rows * 4 + BERT_LEN * H + H + numLn * 2 * H + rows * H) * F,
    flops: null,
    rtol: 1e-4,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const values = randomFloats(slots * 3 * H, 38, 2);
      const slotOf = Uint32Array.from({ length: rows }, (_, r) => (r * 7 + 3) % slots);
      const meta = packCombineMeta(Array.from({ length: BERT_SEQS }, () => BERT_LEN), slotOf, Array.from({ length: BERT_SEQS }, (_, s) => s % numLn));
      const pos = randomFloats(POS * H, 39);
      const typeRow = randomFloats(H, 40);
      const ln = Float32Array.from(randomFloats(numLn * 2 * H, 41), (v, i) => (Math.floor(i / H) % 2 === 0 ? 1 + v * 0.5 : v));
      const words = f16SlotWords(H);
      let packed: Uint32Array | undefined;
      let decoded = values;
      if (dtype === 'f16') {
        packed = new Uint32Array(slots * words);
        decoded = new Float32Array(slots * 3 * H);
        for (let s = 0; s < slots; s++) {
          const p = packF16Pairs(values.subarray(s * 3 * H, (s + 1) * 3 * H));
          packed.set(p, s * words);
          decoded.set(unpackF16Pairs(p, 3 * H), s * 3 * H);
        }
      }
      const g = {
        values: await up(ctx, bufs, packed ?? values, 'values'),
        meta: await up(ctx, bufs, meta, 'meta'),
        pos: await up(ctx, bufs, pos, 'pos'),
        typeRow: await up(ctx, bufs, typeRow, 'type'),
        ln: await up(ctx, bufs, ln, 'ln'),
        out: await alloc(ctx, bufs, rows * H, 'out'),
      };
      const dims = { slots, posRows: POS, numLn, rows, hidden: H, eps: 1e-12 };
      return {
        encode: (pass) => encodePlotCombine(ctx, pass, { ...g, ...dims, dtype }),
        out: g.out,
        outCount: rows * H,
        // The f16 kernel is checked against the reference on the decoded halves (as its test does).
        ref: () => plotCombineRef({ ...dims, values: decoded, meta, pos, typeRow, ln }),
        buffers: bufs,
      };
    },
  };
}

// Training (backward kernels and the optimizer), at the hBERT-mini batch above.

/** dW = X^T dY over the batch's rows: a LoRA factor's gradient (rank 8 x H) and an FFN weight's. */
function matmulTnCase(which: 'lora' | 'ffn'): Case {
  const [M, N, K] = which === 'lora' ? [8, H, ROWS] : [H, FFN, ROWS];
  return {
    kernel: 'matmul-tn',
    variant: which === 'lora' ? 'LoRA factor grad (rank 8)' : 'FFN weight grad',
    shape: `M=${M} N=${N} K=${K} (reduced over ${BERT_SEQS}x${BERT_LEN} rows)`,
    bytes: (K * M + K * N + M * N) * F,
    flops: 2 * M * N * K,
    rtol: 1e-4,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const a = randomFloats(K * M, 60);
      const b = randomFloats(K * N, 61);
      const g = { a: await up(ctx, bufs, a, 'a'), b: await up(ctx, bufs, b, 'b'), c: await alloc(ctx, bufs, M * N, 'c') };
      return { encode: (pass) => encodeMatmulTN(ctx, pass, { ...g, M, N, K }), out: g.c, outCount: M * N, ref: () => matmulTnRef(a, b, M, N, K), buffers: bufs };
    },
  };
}

function layerNormBackwardCase(ctxWg: number): Case {
  return {
    kernel: 'layernorm-backward',
    variant: `wg=${ctxWg} (default)`,
    shape: `${ROWS}x${H}`,
    bytes: (3 * ROWS * H + H) * F,
    flops: null,
    rtol: 1e-4,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const x = randomFloats(ROWS * H, 62, 3);
      const gamma = Float32Array.from(randomFloats(H, 63), (v) => 1 + 0.2 * v);
      const dy = randomFloats(ROWS * H, 64);
      const g = { x: await up(ctx, bufs, x, 'x'), gamma: await up(ctx, bufs, gamma, 'gamma'), dy: await up(ctx, bufs, dy, 'dy'), dx: await alloc(ctx, bufs, ROWS * H, 'dx') };
      return {
        encode: (pass) => encodeLayerNormBackward(ctx, pass, { ...g, rows: ROWS, cols: H, eps: 1e-12 }),
        out: g.dx,
        outCount: ROWS * H,
        ref: () => layerNormBackwardRef(x, gamma, dy, ROWS, H, 1e-12),
        buffers: bufs,
      };
    },
  };
}

function activationBackwardCase(activation: BackwardActivation): Case {
  const n = ROWS * FFN;
  return elementwise('activation-backward', activation, `n=${ROWS}x${FFN} (FFN)`, n, 3, 1e-5, async (ctx) => {
    const bufs: GPUBuffer[] = [];
    const x = randomFloats(n, 65, 4);
    const dy = randomFloats(n, 66);
    const g = { x: await up(ctx, bufs, x, 'x'), dy: await up(ctx, bufs, dy, 'dy'), dx: await alloc(ctx, bufs, n, 'dx') };
    return { encode: (pass) => encodeActivationBackward(ctx, pass, { ...g, n, activation }), out: g.dx, outCount: n, ref: () => activationBackwardRef(x, dy, activation), buffers: bufs };
  });
}

function attentionBackwardCase(causal: boolean): Case {
  const W = H;
  const hd = H / HEADS;
  const seqLen = BERT_LEN;
  // (query, key) pairs per head: causal sees the lower triangle.
  const pairs = BERT_SEQS * (causal ? (seqLen * (seqLen + 1)) / 2 : seqLen * seqLen);
  return {
    kernel: 'attention-backward',
    variant: causal ? 'causal' : 'bidirectional',
    shape: `hBERT ${BERT_SEQS}x${seqLen} rows, ${HEADS} heads x ${hd}, fused qkv (query + key kernels)`,
    // qkv and dOut read, dQkv written, stats written and read back.
    bytes: (ROWS * 3 * W + ROWS * W + ROWS * 3 * W + 2 * ROWS * HEADS * 2 + BERT_SEQS * 2) * F,
    // Per pair and head element: query kernel s, dP (twice: both passes) and dQ; key kernel s, dP, dV, dK.
    flops: 2 * 9 * pairs * W,
    rtol: 1e-4,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const qkv = randomFloats(ROWS * 3 * W, 67);
      const dOut = randomFloats(ROWS * W, 68);
      const seqs = new Uint32Array(BERT_SEQS * 2);
      for (let s = 0; s < BERT_SEQS; s++) seqs.set([s * seqLen, seqLen], s * 2);
      const g = {
        qkv: await up(ctx, bufs, qkv, 'qkv'),
        dOut: await up(ctx, bufs, dOut, 'dOut'),
        seqs: await up(ctx, bufs, seqs, 'seqs'),
        dQkv: await alloc(ctx, bufs, ROWS * 3 * W, 'dQkv'),
        stats: await alloc(ctx, bufs, ROWS * HEADS * 2, 'stats'),
      };
      const dims = { numSeqs: BERT_SEQS, rows: ROWS, numHeads: HEADS, headDim: hd, stride: 3 * W, qOffset: 0, kOffset: W, vOffset: 2 * W, causal };
      return {
        encode: (pass) => encodeAttentionBackward(ctx, pass, { ...g, ...dims }),
        out: g.dQkv,
        outCount: ROWS * 3 * W,
        ref: () => attentionBackwardRef(qkv, dOut, { ...dims, seqs }).dQkv,
        buffers: bufs,
      };
    },
  };
}

/** Scale 1, so the checked gradient is O(1) (softmax - onehot) and the tolerance means something. */
function crossEntropyCase(rows: number, classes: number, what: string, ctxWg: number): Case {
  return {
    kernel: 'cross-entropy',
    variant: `wg=${ctxWg} (default)`,
    shape: `${rows}x${classes} (${what})`,
    bytes: (2 * rows * classes + 2 * rows) * F,
    flops: null,
    rtol: 1e-5,
    build: async (ctx) => {
      const bufs: GPUBuffer[] = [];
      const logits = randomFloats(rows * classes, 69, 6);
      // Every fourth row ignored, as padding would be.
      const labels = Uint32Array.from(randomInts(rows, classes, 70), (l, r) => (r % 4 === 3 ? 0xffffffff : l));
      const g = {
        logits: await up(ctx, bufs, logits, 'logits'),
        labels: await up(ctx, bufs, labels, 'labels'),
        dLogits: await alloc(ctx, bufs, rows * classes, 'dLogits'),
        loss: await alloc(ctx, bufs, rows, 'loss'),
      };
      return {
        encode: (pass) => encodeCrossEntropy(ctx, pass, { ...g, rows, classes, scale: 1 }),
        out: g.dLogits,
        outCount: rows * classes,
        ref: () => crossEntropyRef(logits, labels, rows, classes, 1).dLogits,
        buffers: bufs,
      };
    },
  };
}

function adamwCase(): Case {
  const n = H * FFN;
  // grads read; params, m, v read and written.
  return elementwise('adamw', 'f32', `n=${H}x${FFN} (one FFN weight)`, n, 7, 1e-6, async (ctx) => {
    const bufs: GPUBuffer[] = [];
    const params = randomFloats(n, 71);
    const grads = randomFloats(n, 72, 0.1);
    const zeros = new Float32Array(n);
    const g = { params: await up(ctx, bufs, params, 'params'), grads: await up(ctx, bufs, grads, 'grads'), m: await up(ctx, bufs, zeros, 'm'), v: await up(ctx, bufs, zeros, 'v') };
    const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 1 };
    // The check's dispatch is the first step from fresh state; the timed ones keep stepping (finite).
    return { encode: (pass) => encodeAdamW(ctx, pass, { ...g, n, ...h }), out: g.params, outCount: n, ref: () => adamwRef(params, grads, zeros, zeros, h).params, buffers: bufs };
  });
}

function allCases(ctx: GpuContext): Case[] {
  const attn = defaultAttentionVariant(ctx);
  // Native f16 reads only where the device has shader-f16; packed halves run everywhere.
  const f16Reads: WeightRead[] = ctx.features.shaderF16 ? ['f16-packed', 'f16-native'] : ['f16-packed'];
  const wg = rowReductionWorkgroup(ctx);
  const prefill = loraBatch('prefill');
  const decode = loraBatch('decode');
  const ffnIn = loraBatch('prefill', 4 * H, H);
  const ffnOut = loraBatch('prefill', H, 4 * H);
  // The runtime's choice (MultiTenantLora calls the same function) is marked on its row.
  const chosen = (op: 'shrink' | 'expand', b: LoraBatch): LoraKernelVariant =>
    chooseLoraVariant(op, { pageFloats: H, dim: op === 'shrink' ? b.inDim : b.outDim, oneRowTiles: b === decode });
  return [
    ...(['gelu_erf', 'gelu_tanh', 'tanh'] as const).map((a) => activationBackwardCase(a)),
    adamwCase(),
    addCase(),
    attentionCase('thread', attn),
    attentionCase('workgroup', attn),
    attentionBackwardCase(false),
    attentionBackwardCase(true),
    attentionPagedCase('decode', 'thread', attn),
    attentionPagedCase('decode', 'workgroup', attn),
    attentionPagedCase('prefill', 'thread', attn),
    attentionPagedCase('prefill', 'workgroup', attn),
    classifierHeadCase(),
    crossEntropyCase(ROWS, VOCAB, 'hBERT batch, vocab', wg),
    crossEntropyCase(256, 8192, 'LM head over an 8k vocab', wg),
    embeddingCase(),
    ...f16Reads.map((r) => embeddingCase(r)),
    gatherRowsCase(),
    geluCase('erf', false),
    geluCase('tanh', false),
    geluCase('erf', true),
    kvScatterCase(),
    layerNormCase(undefined, wg),
    layerNormBackwardCase(wg),
    ...(['lm-head', 'ffn'] as const).flatMap((which) => (['f32', ...f16Reads] as const).map((r) => weightMatmulCase(which, r))),
    ...(wg === 64 ? [] : [layerNormCase(64, wg)]),
    ...(['vec4', 'block', 'rows'] as const).map((v) => loraShrinkCase(prefill, v, chosen('shrink', prefill))),
    ...(['vec4', 'block'] as const).map((v) => loraShrinkCase(ffnIn, v, chosen('shrink', ffnIn))),
    ...(['vec4', 'rows', 'block'] as const).map((v) => loraShrinkCase(decode, v, chosen('shrink', decode))),
    ...(['vec4', 'block', 'rows'] as const).map((v) => loraExpandCase(prefill, v, chosen('expand', prefill))),
    ...(['vec4', 'block'] as const).map((v) => loraExpandCase(ffnOut, v, chosen('expand', ffnOut))),
    loraExpandCase(decode, 'rows', chosen('expand', decode)),
    loraExpandCase(decode, 'block', chosen('expand', decode)),
    matmulTnCase('lora'),
    matmulTnCase('ffn'),
    plotCombineCase('f32'),
    plotCombineCase('f16'),
    scatterRowsCase(),
    softmaxCase(undefined, wg),
    ...(wg === 64 ? [] : [softmaxCase(64, wg)]),
    tanhCase(),
  ];
}

// ---------------------------------------------------------------------------------------------
// Measuring

async function submitAndWait(ctx: GpuContext, encode: (pass: GPUComputePassEncoder) => void, n: number): Promise<number> {
  const t0 = performance.now();
  run(ctx, (pass) => {
    for (let i = 0; i < n; i++) encode(pass);
  });
  await ctx.device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

/** Sink for reference outputs, so the JIT cannot drop a call whose result goes unused. */
let sink = 0;

/**
 * Median ms of one reference run. performance.now() is coarsened (100 us in a page that is not
 * cross-origin isolated), so a sample is as many back-to-back runs as fill CPU_SAMPLE_MS.
 */
function timeCpu(ref: () => ArrayLike<number>): number {
  const once = (): void => {
    sink += ref()[0] ?? 0;
  };
  // Warm-up: let V8 tier the reference up (its first calls run unoptimised) before any sample.
  const w0 = performance.now();
  for (let i = 0; i < 3 || performance.now() - w0 < CPU_WARMUP_MS; i++) once();
  let reps = 0;
  const c0 = performance.now();
  do {
    once();
    reps++;
  } while (performance.now() - c0 < CPU_SAMPLE_MS);
  const samples: number[] = [];
  let total = 0;
  while (samples.length < 3 || (total < CPU_MIN_MS && samples.length < CPU_MAX_SAMPLES)) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) once();
    const ms = performance.now() - t0;
    samples.push(ms / reps);
    total += ms;
  }
  return median(samples);
}

async function benchCase(ctx: GpuContext, c: Case): Promise<MicroBenchRow> {
  const base = { kernel: c.kernel, variant: c.variant, shape: c.shape, bytes: c.bytes, flops: c.flops };
  let built: Built | undefined;
  try {
    built = await c.build(ctx);
    const b = built;
    // Check: one dispatch from the fresh inputs, under a validation scope so a bad binding is this row's error.
    ctx.device.pushErrorScope('validation');
    run(ctx, b.encode);
    const invalid = await ctx.device.popErrorScope();
    if (invalid) throw new Error(`GPU validation error: ${invalid.message}`);
    const gpu = await readF32(ctx, b.out, b.outCount);
    const t0 = performance.now();
    const ref = b.ref();
    const firstCpuMs = performance.now() - t0;
    const diff = maxAbsDiff(gpu, ref);
    const tolerance = c.rtol * Math.max(1, maxAbs(ref));
    const pass = diff <= tolerance;
    if (!pass) console.error(`[micro] CHECK FAILED ${c.kernel} ${c.variant}: max abs diff ${diff} > tolerance ${tolerance}`);

    // Time: warm-up, calibrate N from one dispatch's wall time, then timeGpu over rounds of N.
    for (let i = 0; i < WARMUP; i++) await submitAndWait(ctx, b.encode, 1);
    const oneMs = Math.min(await submitAndWait(ctx, b.encode, 2), await submitAndWait(ctx, b.encode, 2)) / 2;
    const n = dispatchesFor(oneMs);
    const timing = await timeGpu(ctx, (pass) => {
      for (let i = 0; i < n; i++) b.encode(pass);
    }, ROUNDS);
    const gpuUs = (timing.ms / n) * 1000;
    const cpuUs = (firstCpuMs > 2000 ? firstCpuMs : timeCpu(b.ref)) * 1000;
    return {
      ...base,
      gpuUs,
      clock: timing.source,
      dispatchesPerRound: n,
      rounds: ROUNDS,
      gbps: c.bytes / (gpuUs * 1e3),
      gflops: c.flops === null ? null : c.flops / (gpuUs * 1e3),
      cpuUs,
      speedup: cpuUs / gpuUs,
      maxAbsDiff: diff,
      tolerance,
      pass,
    };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    console.error(`[micro] ROW FAILED ${c.kernel} ${c.variant}: ${error}`);
    return { ...base, gpuUs: NaN, clock: 'wall', dispatchesPerRound: 0, rounds: 0, gbps: NaN, gflops: null, cpuUs: NaN, speedup: NaN, maxAbsDiff: NaN, tolerance: NaN, pass: false, error };
  } finally {
    if (built) for (const buf of built.buffers) buf.destroy();
  }
}

async function main(): Promise<MicroBenchResult> {
  const ctx = await createGpuContext(navigator.gpu, { label: 'micro-bench' });
  try {
    // ?kernels=lora-shrink,lora-expand runs only those kernels' rows (npm run bench -- micro --kernels=...).
    const only = new URL(location.href).searchParams.get('kernels')?.split(',');
    const cases = allCases(ctx).filter((c) => !only || only.includes(c.kernel));
    const rows: MicroBenchRow[] = [];
    for (const [i, c] of cases.entries()) {
      log(`${i + 1}/${cases.length} ${c.kernel} ${c.variant}: ${c.shape}`);
      const row = await benchCase(ctx, c);
      rows.push(row);
      log(`  ${row.gpuUs.toFixed(1)} us/dispatch (x${row.dispatchesPerRound}, ${row.clock}), cpu ${row.cpuUs.toFixed(0)} us, diff ${row.maxAbsDiff.toExponential(2)} ${row.pass ? 'ok' : 'FAIL'}`);
    }
    const table = document.getElementById('table');
    if (table) table.textContent = JSON.stringify(rows, null, 2);
    return { adapter: `${ctx.adapterInfo.vendor} ${ctx.adapterInfo.architecture}`.trim(), targetRoundMs: TARGET_ROUND_MS, rows };
  } finally {
    ctx.destroy();
  }
}

main().then(
  (result) => {
    log('done');
    publish({ ok: true, result });
  },
  (err: unknown) => {
    log(`failed: ${String(err)}`);
    publish({ ok: false, error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
  },
);
