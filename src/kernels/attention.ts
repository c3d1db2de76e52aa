import code from '../../shaders/attention.wgsl?raw';
import threadCode from '../../shaders/attention_thread.wgsl?raw';
import contiguousKeys from '../../shaders/attention_keys_contiguous_prelude.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';
import { isCpuAdapter } from './adapter-kind.js';

/** Largest head size: 64 invocations x 4 accumulators in the workgroup variant, and the private accumulator of the thread variant. */
export const ATTENTION_MAX_HEAD_DIM = 256;

const BINDINGS = ['uniform', 'read', 'read', 'read', 'read', 'read', 'storage'] as const;

/**
 * 'workgroup': 64 invocations cooperate on each (query row, head), flash-style (GPUs).
 * 'thread': one invocation per (query row, head) with register-blocked keys (CPU adapters).
 */
export type AttentionVariant = 'workgroup' | 'thread';

export const attentionKernels: Readonly<Record<AttentionVariant, KernelSpec>> = {
  workgroup: { name: 'attention', code: composeWgsl(contiguousKeys, code), bindings: BINDINGS },
  thread: { name: 'attention_thread', code: composeWgsl(contiguousKeys, threadCode), bindings: BINDINGS },
};

export function defaultAttentionVariant(ctx: GpuContext): AttentionVariant {
  return isCpuAdapter(ctx) ? 'thread' : 'workgroup';
}

export interface AttentionArgs {
  q: BufferRef;
  k: BufferRef;
  v: BufferRef;
  /** [qRows, numHeads*headDim]. */
  out: BufferRef;
  /** u32, 4 per sequence: qStart, qLen, kvStart, kvLen. */
  seqs: BufferRef;
  numSeqs: number;
  qRows: number;
  kvRows: number;
  numHeads: number;
  headDim: number;
  qStride: number;
  qOffset: number;
  kvStride: number;
  kOffset: number;
  vOffset: number;
  causal: boolean;
  /** u32 per k/v row, 0 = padding key. */
  keyMask?: BufferRef;
  /** Which kernel; by default the one suited to the adapter (defaultAttentionVariant). */
  variant?: AttentionVariant;
}

/**
 * Scaled-dot-product attention (scale 1/sqrt(headDim)) for many sequences of different
 * lengths in one dispatch; see shaders/attention_keys_contiguous_prelude.wgsl for positions,
 * causality and masks, shaders/attention.wgsl for the algorithm.
 */
export function encodeAttention(ctx: GpuContext, pass: GPUComputePassEncoder, a: AttentionArgs): void {
  const name = 'attention';
  requireInts(name, { numHeads: a.numHeads, headDim: a.headDim });
  requireInts(name, { numSeqs: a.numSeqs, qRows: a.qRows, kvRows: a.kvRows, qOffset: a.qOffset, kOffset: a.kOffset, vOffset: a.vOffset }, 0);
  requireInts(name, { qStride: a.qStride, kvStride: a.kvStride });
  if (a.headDim > ATTENTION_MAX_HEAD_DIM) {
    throw new ShapeError(`${name}: headDim ${a.headDim} is above the kernel's maximum ${ATTENTION_MAX_HEAD_DIM}`);
  }
  const width = a.numHeads * a.headDim;
  for (const [what, offset, stride] of [
    ['q', a.qOffset, a.qStride],
    ['k', a.kOffset, a.kvStride],
    ['v', a.vOffset, a.kvStride],
  ] as const) {
    if (offset + width > stride) {
      throw new ShapeError(`${name}: ${what} offset ${offset} + numHeads*headDim ${width} exceeds its row stride ${stride}`);
    }
  }
  const rowsNeed = (rows: number, stride: number, offset: number): number => (rows === 0 ? 0 : (rows - 1) * stride + offset + width);
  requireElements(name, 'q', a.q, rowsNeed(a.qRows, a.qStride, a.qOffset));
  requireElements(name, 'k', a.k, rowsNeed(a.kvRows, a.kvStride, a.kOffset));
  requireElements(name, 'v', a.v, rowsNeed(a.kvRows, a.kvStride, a.vOffset));
  requireElements(name, 'out', a.out, a.qRows * width);
  requireElements(name, 'seqs', a.seqs, a.numSeqs * 4);
  if (a.keyMask) requireElements(name, 'keyMask', a.keyMask, a.kvRows);
  requireUnaliased(name, ['out', a.out], { q: a.q, k: a.k, v: a.v, seqs: a.seqs, keyMask: a.keyMask });
  if (a.qRows === 0) return;
  const params = new Params()
    .u32(a.numSeqs)
    .u32(a.qRows)
    .u32(a.kvRows)
    .u32(a.numHeads)
    .u32(a.headDim)
    .u32(a.qStride)
    .u32(a.qOffset)
    .u32(a.kvStride)
    .u32(a.kOffset)
    .u32(a.vOffset)
    .u32(a.causal ? 1 : 0)
    .u32(a.keyMask ? 1 : 0)
    .f32(1 / Math.sqrt(a.headDim))
    .done();
  const variant = a.variant ?? defaultAttentionVariant(ctx);
  // Without a mask, seqs fills the mask slot: a second read-only binding of one buffer is legal.
  const buffers = [a.q, a.k, a.v, a.seqs, a.keyMask ?? a.seqs, a.out];
  const items = a.qRows * a.numHeads;
  if (variant === 'workgroup') {
    dispatch(ctx, pass, attentionKernels.workgroup, { params, buffers, workgroups: grid1d(items, 1) });
  } else {
    // 4 = SwiftShader's SIMD width: one SIMD group per workgroup.
    const wg = isCpuAdapter(ctx) ? 4 : 64;
    dispatch(ctx, pass, attentionKernels.thread, { constants: { WG: wg }, params, buffers, workgroups: grid1d(items, wg) });
  }
}
