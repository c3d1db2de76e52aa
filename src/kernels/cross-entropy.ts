import statsPrelude from '../../shaders/softmax_stats_prelude.wgsl?raw';
import code from '../../shaders/cross_entropy.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';
import { rowReductionWorkgroup } from './adapter-kind.js';

export const crossEntropyKernel: KernelSpec = {
  name: 'cross_entropy',
  code: composeWgsl(statsPrelude, code),
  bindings: ['uniform', 'read', 'read', 'storage', 'storage'],
};

/** A label that excludes its row: loss 0, gradient 0. */
export const CROSS_ENTROPY_IGNORE = 0xffffffff;

export interface CrossEntropyArgs {
  /** [rows, classes] */
  logits: BufferRef;
  /**
   * u32 [rows]; CROSS_ENTROPY_IGNORE ignores the row. Any other label >= classes is treated as
   * ignored too (checking it would need a readback).
   */
  labels: BufferRef;
  /** [rows, classes]: scale * (softmax - onehot(label)). */
  dLogits: BufferRef;
  /** f32 [rows]: -log softmax[label], unscaled; 0 for ignored rows. */
  loss: BufferRef;
  rows: number;
  classes: number;
  /** e.g. 1 / (number of non-ignored rows). */
  scale: number;
  /** Invocations per row (1..256); by default 64 on GPUs, 4 on CPU adapters. */
  workgroupSize?: number;
}

/** Per-row softmax cross-entropy loss and its logits gradient, one workgroup per row. */
export function encodeCrossEntropy(ctx: GpuContext, pass: GPUComputePassEncoder, a: CrossEntropyArgs): void {
  const k = crossEntropyKernel.name;
  requireInts(k, { classes: a.classes });
  requireInts(k, { rows: a.rows }, 0);
  if (!Number.isFinite(a.scale)) throw new ShapeError(`${k}: scale must be finite, got ${a.scale}`);
  requireElements(k, 'logits', a.logits, a.rows * a.classes);
  requireElements(k, 'dLogits', a.dLogits, a.rows * a.classes);
  requireElements(k, 'labels', a.labels, a.rows);
  requireElements(k, 'loss', a.loss, a.rows);
  requireUnaliased(k, ['dLogits', a.dLogits], { logits: a.logits, labels: a.labels });
  requireUnaliased(k, ['loss', a.loss], { logits: a.logits, labels: a.labels });
  const wg = a.workgroupSize ?? rowReductionWorkgroup(ctx);
  if (!Number.isInteger(wg) || wg < 1 || wg > 256) throw new ShapeError(`${k}: workgroupSize must be an integer in 1..256, got ${wg}`);
  if (a.rows === 0) return;
  dispatch(ctx, pass, crossEntropyKernel, {
    constants: { WG: wg },
    params: new Params().u32(a.rows).u32(a.classes).f32(a.scale).done(),
    buffers: [a.logits, a.labels, a.dLogits, a.loss],
    workgroups: grid1d(a.rows, 1),
  });
}
