import type { BufferRef } from '../../gpu/dispatch.js';
import type { GpuContext } from '../../gpu/device.js';
import { encodeAttentionPaged } from '../../kernels/attention-paged.js';
import type { AttentionVariant } from '../../kernels/attention.js';
import { encodeKvScatter } from '../../kernels/kv-scatter.js';
import type { KvPool, KvStep } from './kv-pool.js';

export interface PagedAttentionLayerArgs {
  pool: KvPool;
  /** From pool.stageStep for this step's sequences. */
  step: KvStep;
  layer: number;
  /** GPT-2's fused c_attn output [rows, 3H]: q at 0, k at H, v at 2H. */
  qkv: BufferRef;
  /** [rows, H]. */
  out: BufferRef;
  rows: number;
  numHeads: number;
  variant?: AttentionVariant;
}

/**
 * One GPT-2 layer's attention over the paged cache: the step's keys/values go into their
 * blocks, then every row attends over its sequence's cache, two dispatches for all sequences.
 */
export function encodePagedAttentionLayer(ctx: GpuContext, pass: GPUComputePassEncoder, a: PagedAttentionLayerArgs): void {
  const H = a.pool.hiddenSize;
  const paged = { ...a.pool.layer(a.layer), ...a.step };
  encodeKvScatter(ctx, pass, { ...paged, src: a.qkv, rows: a.rows, width: H, srcStride: 3 * H, kOffset: H, vOffset: 2 * H });
  encodeAttentionPaged(ctx, pass, {
    ...paged,
    q: a.qkv,
    out: a.out,
    qRows: a.rows,
    numHeads: a.numHeads,
    headDim: H / a.numHeads,
    qStride: 3 * H,
    qOffset: 0,
    variant: a.variant,
  });
}
