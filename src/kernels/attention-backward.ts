import prelude from '../../shaders/attention_backward_prelude.wgsl?raw';
import queryCode from '../../shaders/attention_backward_query.wgsl?raw';
import keyCode from '../../shaders/attention_backward_key.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';
import { isCpuAdapter } from './adapter-kind.js';

/** Largest head size: the private dQ / dK / dV accumulators of the two kernels (as the forward's). */
export const ATTENTION_BACKWARD_MAX_HEAD_DIM = 256;

export const attentionBackwardKernels: Readonly<Record<'query' | 'key', KernelSpec>> = {
  query: { name: 'attention_backward_query', code: composeWgsl(prelude, queryCode), bindings: ['uniform', 'read', 'read', 'read', 'storage', 'storage'] },
  key: { name: 'attention_backward_key', code: composeWgsl(prelude, keyCode), bindings: ['uniform', 'read', 'read', 'read', 'storage', 'read'] },
};

/**
 * The shape and column layout of the two kernels' inputs, shared with the CPU reference
 * (./cpu/attention-backward.ts): rows [rows, stride], q of row r head h at
 * r*stride + qOffset + h*headDim .. +headDim, k at kOffset, v at vOffset.
 */
export interface AttentionBackwardShape {
  /** Sequences in seqs (2 u32 each). */
  numSeqs: number;
  rows: number;
  numHeads: number;
  headDim: number;
  stride: number;
  qOffset: number;
  kOffset: number;
  vOffset: number;
  /** Key j visible to query i iff j <= i (positions within the sequence). */
  causal: boolean;
}

export interface AttentionBackwardArgs extends AttentionBackwardShape {
  /** Forward inputs: q of row r head h at qkv[r*stride + qOffset + h*headDim ..], k at kOffset, v at vOffset. */
  qkv: BufferRef;
  /** [rows, numHeads*headDim]: the gradient of the attention output. */
  dOut: BufferRef;
  /** [rows, stride]: q/k/v gradients written at the same offsets; other columns untouched (overwrite, not accumulate). */
  dQkv: BufferRef;
  /** f32 scratch >= rows*numHeads*2: per (row, head) the softmax log-sum-exp L and D = sum_j P_ij dP_ij. */
  stats: BufferRef;
  /** u32, 2 per sequence: (start, len); disjoint row ranges, self-attention within each. */
  seqs: BufferRef;
  /** Invocations per workgroup; by default 4 (one SIMD group) on CPU adapters, 64 on GPUs. */
  workgroupSize?: number;
}

/**
 * Gradients of packed self-attention (scale 1/sqrt(headDim), as encodeAttention) with respect
 * to q, k and v: two dispatches into the pass, dQ + stats then dK + dV (FlashAttention-2
 * style, P recomputed from the stats, no T x T scratch). Rows in no sequence get zero
 * gradients.
 */
export function encodeAttentionBackward(ctx: GpuContext, pass: GPUComputePassEncoder, a: AttentionBackwardArgs): void {
  const name = 'attention_backward';
  requireInts(name, { numHeads: a.numHeads, headDim: a.headDim, stride: a.stride });
  requireInts(name, { numSeqs: a.numSeqs, rows: a.rows, qOffset: a.qOffset, kOffset: a.kOffset, vOffset: a.vOffset }, 0);
  if (a.headDim > ATTENTION_BACKWARD_MAX_HEAD_DIM) {
    throw new ShapeError(`${name}: headDim ${a.headDim} is above the kernel's maximum ${ATTENTION_BACKWARD_MAX_HEAD_DIM}`);
  }
  const width = a.numHeads * a.headDim;
  const ranges = [
    ['q', a.qOffset],
    ['k', a.kOffset],
    ['v', a.vOffset],
  ] as const;
  for (const [what, offset] of ranges) {
    if (offset + width > a.stride) {
      throw new ShapeError(`${name}: ${what} offset ${offset} + numHeads*headDim ${width} exceeds the row stride ${a.stride}`);
    }
  }
  // The kernels write the three gradients' columns from different dispatches: overlapping
  // ranges would make one overwrite another.
  for (let i = 0; i < 3; i++) {
    for (let j = i + 1; j < 3; j++) {
      const [n1, o1] = ranges[i];
      const [n2, o2] = ranges[j];
      if (o1 < o2 + width && o2 < o1 + width) {
        throw new ShapeError(`${name}: the ${n1} columns (${o1}..${o1 + width}) and ${n2} columns (${o2}..${o2 + width}) overlap`);
      }
    }
  }
  const rowFloats = a.rows === 0 ? 0 : (a.rows - 1) * a.stride + Math.max(a.qOffset, a.kOffset, a.vOffset) + width;
  requireElements(name, 'qkv', a.qkv, rowFloats);
  requireElements(name, 'dQkv', a.dQkv, rowFloats);
  requireElements(name, 'dOut', a.dOut, a.rows * width);
  requireElements(name, 'stats', a.stats, a.rows * a.numHeads * 2);
  requireElements(name, 'seqs', a.seqs, a.numSeqs * 2);
  requireUnaliased(name, ['dQkv', a.dQkv], { qkv: a.qkv, dOut: a.dOut, seqs: a.seqs, stats: a.stats });
  requireUnaliased(name, ['stats', a.stats], { qkv: a.qkv, dOut: a.dOut, seqs: a.seqs });
  const wg = a.workgroupSize ?? (isCpuAdapter(ctx) ? 4 : 64);
  if (!Number.isInteger(wg) || wg < 1 || wg > 256) throw new ShapeError(`${name}: workgroupSize must be an integer in 1..256, got ${wg}`);
  if (a.rows === 0) return;
  const params = new Params()
    .u32(a.numSeqs)
    .u32(a.rows)
    .u32(a.numHeads)
    .u32(a.headDim)
    .u32(a.stride)
    .u32(a.qOffset)
    .u32(a.kOffset)
    .u32(a.vOffset)
    .u32(a.causal ? 1 : 0)
    .f32(1 / Math.sqrt(a.headDim))
    .done();
  const workgroups = grid1d(a.rows * a.numHeads, wg);
  dispatch(ctx, pass, attentionBackwardKernels.query, {
    constants: { WG: wg },
    params,
    buffers: [a.qkv, a.dOut, a.seqs, a.dQkv, a.stats],
    workgroups,
  });
  dispatch(ctx, pass, attentionBackwardKernels.key, {
    constants: { WG: wg },
    params,
    buffers: [a.qkv, a.dOut, a.seqs, a.dQkv, a.stats],
    workgroups,
  });
}
