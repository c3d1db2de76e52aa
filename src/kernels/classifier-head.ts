import code from '../../shaders/classifier_head.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import type { KernelSpec } from '../gpu/pipelines.js';

export const classifierHeadKernel: KernelSpec = {
  name: 'classifier_head',
  code,
  bindings: ['uniform', 'read', 'read', 'read', 'read', 'storage'],
};

/** u32 per request: (numLabels, wOff, bOff, pool buffer index). */
export const HEAD_REQUEST_U32 = 4;

export interface ClassifierHeadBuffers {
  /** [numRequests, inDim] */
  readonly pooled: BufferRef;
  readonly pool: BufferRef;
  readonly requests: BufferRef;
  readonly table: BufferRef;
  /** [numRequests, maxLabels] */
  readonly logits: BufferRef;
}

export interface ClassifierHeadParams {
  readonly numRequests: number;
  readonly inDim: number;
  readonly pageFloats: number;
  readonly maxLabels: number;
  /** Index of the bound pool buffer: requests of other buffers are skipped. */
  readonly shard: number;
}

/** logits[q, 0..L_t) = W_t @ pooled[q] + b_t for every request of the bound pool buffer. */
export function encodeClassifierHead(ctx: GpuContext, pass: GPUComputePassEncoder, b: ClassifierHeadBuffers, p: ClassifierHeadParams): void {
  if (p.numRequests === 0 || p.maxLabels === 0) return;
  const params = new Params().u32(p.numRequests).u32(p.inDim).u32(p.pageFloats).u32(p.maxLabels).u32(p.shard).done();
  dispatch(ctx, pass, classifierHeadKernel, {
    params,
    buffers: [b.pooled, b.pool, b.requests, b.table, b.logits],
    workgroups: grid1d(p.numRequests * p.maxLabels, 64),
  });
}
