import type { AttentionBackwardShape } from '../attention-backward.js';

/** The layout of shaders/attention_backward_*.wgsl's inputs, with the sequences on the CPU. */
export interface AttentionBackwardLayout extends AttentionBackwardShape {
  /** u32 pairs (start, len) per sequence. */
  seqs: ArrayLike<number>;
}

export interface AttentionForwardResult {
  /** [rows, numHeads*headDim] */
  out: Float64Array;
  /** [rows*numHeads*2]: per (row, head) the log-sum-exp of the scaled scores and 0 (D needs dOut). */
  stats: Float64Array;
}

export interface AttentionBackwardResult extends AttentionForwardResult {
  /** [rows*stride]: the q/k/v gradients at their offsets, zeros in every other column. */
  dQkv: Float64Array;
  /** [rows*numHeads*2]: L and D = sum_j P_ij dP_ij per (row, head), as the kernel writes them. */
  stats: Float64Array;
}

/** Each row's sequence (start, len) with the kernels' clamping; the first sequence containing a row wins. */
function rowSpans(a: AttentionBackwardLayout): ({ start: number; len: number } | undefined)[] {
  const spans: ({ start: number; len: number } | undefined)[] = new Array(a.rows).fill(undefined);
  for (let s = 0; s < a.numSeqs; s++) {
    const start = Math.min(a.seqs[2 * s], a.rows);
    const len = Math.min(a.seqs[2 * s + 1], a.rows - start);
    for (let r = start; r < start + len; r++) spans[r] ??= { start, len };
  }
  return spans;
}

/** The softmax probabilities P[i][j] (j over the sequence's keys, 0 where not visible) of one row and head. */
function probabilities(qkv: ArrayLike<number>, a: AttentionBackwardLayout, row: number, head: number, start: number, len: number): { p: Float64Array; lse: number } {
  const hd = a.headDim;
  const scale = 1 / Math.sqrt(hd);
  const end = a.causal ? row - start + 1 : len;
  const s = new Float64Array(end);
  const qBase = row * a.stride + a.qOffset + head * hd;
  let m = -Infinity;
  for (let j = 0; j < end; j++) {
    const kBase = (start + j) * a.stride + a.kOffset + head * hd;
    let dot = 0;
    for (let d = 0; d < hd; d++) dot += qkv[qBase + d] * qkv[kBase + d];
    s[j] = dot * scale;
    m = Math.max(m, s[j]);
  }
  let sum = 0;
  for (let j = 0; j < end; j++) sum += Math.exp(s[j] - m);
  const p = new Float64Array(len);
  for (let j = 0; j < end; j++) p[j] = Math.exp(s[j] - m) / sum;
  return { p, lse: m + Math.log(sum) };
}

/** f64 forward of the attention the backward kernels differentiate (rows in no sequence: zeros). */
export function attentionForwardRef(qkv: ArrayLike<number>, a: AttentionBackwardLayout): AttentionForwardResult {
  const { numHeads: nh, headDim: hd } = a;
  const width = nh * hd;
  const out = new Float64Array(a.rows * width);
  const stats = new Float64Array(a.rows * nh * 2);
  const spans = rowSpans(a);
  for (let r = 0; r < a.rows; r++) {
    const span = spans[r];
    if (!span) continue;
    for (let h = 0; h < nh; h++) {
      const { p, lse } = probabilities(qkv, a, r, h, span.start, span.len);
      stats[2 * (r * nh + h)] = lse;
      for (let j = 0; j < span.len; j++) {
        if (p[j] === 0) continue;
        const vBase = (span.start + j) * a.stride + a.vOffset + h * hd;
        for (let d = 0; d < hd; d++) out[r * width + h * hd + d] += p[j] * qkv[vBase + d];
      }
    }
  }
  return { out, stats };
}

/**
 * CPU reference of shaders/attention_backward_query.wgsl + shaders/attention_backward_key.wgsl
 * (f64): dQ, dK, dV of sum(out * dOut) through the forward above, with the P matrix of each
 * (sequence, head) formed outright.
 */
export function attentionBackwardRef(qkv: ArrayLike<number>, dOut: ArrayLike<number>, a: AttentionBackwardLayout): AttentionBackwardResult {
  const { numHeads: nh, headDim: hd } = a;
  const width = nh * hd;
  const scale = 1 / Math.sqrt(hd);
  const { out, stats } = attentionForwardRef(qkv, a);
  const dQkv = new Float64Array(a.rows * a.stride);
  const spans = rowSpans(a);
  for (let r = 0; r < a.rows; r++) {
    const span = spans[r];
    if (!span) continue;
    for (let h = 0; h < nh; h++) {
      const { p } = probabilities(qkv, a, r, h, span.start, span.len);
      const oBase = r * width + h * hd;
      const dp = new Float64Array(span.len);
      let D = 0;
      for (let j = 0; j < span.len; j++) {
        if (p[j] === 0) continue;
        const vBase = (span.start + j) * a.stride + a.vOffset + h * hd;
        for (let d = 0; d < hd; d++) dp[j] += dOut[oBase + d] * qkv[vBase + d];
        D += p[j] * dp[j];
      }
      stats[2 * (r * nh + h) + 1] = D;
      const qBase = r * a.stride + a.qOffset + h * hd;
      for (let j = 0; j < span.len; j++) {
        if (p[j] === 0) continue;
        const row = span.start + j;
        const kBase = row * a.stride + a.kOffset + h * hd;
        const vBase = row * a.stride + a.vOffset + h * hd;
        const ds = p[j] * (dp[j] - D) * scale;
        for (let d = 0; d < hd; d++) {
          dQkv[qBase + d] += ds * qkv[kBase + d];
          dQkv[kBase + d] += ds * qkv[qBase + d];
          dQkv[vBase + d] += p[j] * dOut[oBase + d];
        }
      }
    }
  }
  return { out, stats, dQkv };
}
