import code from '../../shaders/attention.wgsl?raw';
import threadCode from '../../shaders/attention_thread.wgsl?raw';
import pagedKeys from '../../shaders/attention_keys_paged_prelude.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';
import { checkPagedKv, type PagedKvArgs } from './kv-scatter.js';
import { defaultAttentionVariant, type AttentionVariant } from './attention.js';
import { isCpuAdapter } from './adapter-kind.js';

/** Largest head size: 64 invocations x 4 accumulators (workgroup variant), the private accumulator (thread variant). */
export const ATTENTION_PAGED_MAX_HEAD_DIM = 256;

const BINDINGS = ['uniform', 'read', 'read', 'read', 'read', 'storage'] as const;

/**
 * The variants of attention.ts: 'workgroup' for GPUs, 'thread' (one invocation per row and
 * head) for CPU adapters. The same cores as attention.ts; only the key resolver differs.
 */
export const attentionPagedKernels: Readonly<Record<AttentionVariant, KernelSpec>> = {
  workgroup: { name: 'attention_paged', code: composeWgsl(pagedKeys, code), bindings: BINDINGS },
  thread: { name: 'attention_paged_thread', code: composeWgsl(pagedKeys, threadCode), bindings: BINDINGS },
};


export interface AttentionPagedArgs extends PagedKvArgs {
  q: BufferRef;
  /** [qRows, numHeads*headDim]. */
  out: BufferRef;
  qRows: number;
  numHeads: number;
  headDim: number;
  qStride: number;
  qOffset: number;
  /** Which kernel; by default the one suited to the adapter (as attention.ts). */
  variant?: AttentionVariant;
}

/**
 * Causal attention of every active sequence's new rows over its cached keys/values in the
 * paged pool, one dispatch for all sequences; see shaders/attention_keys_paged_prelude.wgsl.
 */
export function encodeAttentionPaged(ctx: GpuContext, pass: GPUComputePassEncoder, a: AttentionPagedArgs): void {
  const name = 'attention_paged';
  requireInts(name, { numHeads: a.numHeads, headDim: a.headDim, qStride: a.qStride });
  requireInts(name, { qRows: a.qRows, qOffset: a.qOffset }, 0);
  if (a.headDim > ATTENTION_PAGED_MAX_HEAD_DIM) {
    throw new ShapeError(`${name}: headDim ${a.headDim} is above the kernel's maximum ${ATTENTION_PAGED_MAX_HEAD_DIM}`);
  }
  const width = a.numHeads * a.headDim;
  checkPagedKv(name, a, width);
  if (a.qOffset + width > a.qStride) throw new ShapeError(`${name}: q offset ${a.qOffset} + width ${width} exceeds its row stride ${a.qStride}`);
  requireElements(name, 'q', a.q, a.qRows === 0 ? 0 : (a.qRows - 1) * a.qStride + a.qOffset + width);
  requireElements(name, 'out', a.out, a.qRows * width);
  requireUnaliased(name, ['out', a.out], { q: a.q, pool: a.pool, seqs: a.seqs, table: a.table });
  if (a.qRows === 0) return;
  const params = new Params()
    .u32(a.numSeqs)
    .u32(a.qRows)
    .u32(a.numHeads)
    .u32(a.headDim)
    .u32(a.qStride)
    .u32(a.qOffset)
    .u32(a.blockTokens)
    .u32(a.numBlocks)
    .u32(a.tableLen)
    .u32(a.layerBase)
    .f32(1 / Math.sqrt(a.headDim))
    .done();
  const buffers = [a.q, a.pool, a.seqs, a.table, a.out];
  const items = a.qRows * a.numHeads;
  if ((a.variant ?? defaultAttentionVariant(ctx)) === 'workgroup') {
    dispatch(ctx, pass, attentionPagedKernels.workgroup, { params, buffers, workgroups: grid1d(items, 1) });
  } else {
    // 4 = SwiftShader's SIMD width: one SIMD group per workgroup.
    const wg = isCpuAdapter(ctx) ? 4 : 64;
    dispatch(ctx, pass, attentionPagedKernels.thread, { constants: { WG: wg }, params, buffers, workgroups: grid1d(items, wg) });
  }
}
