import type { GpuContext } from '../gpu/device.js';
import type { MatmulActivation, WeightLayout } from '../kernels/matmul.js';
import { encodeShardedMatmul, type ShardedWeight } from '../kernels/weight-shards.js';
import type { BaseWeights } from '../knowledge/general/base-weights.js';
import type { LoraApplier } from './lora-hook.js';

/** A base projection's GPU tensors, looked up (and shape-checked) once at model creation. */
export interface Projection {
  readonly module: string;
  /** f32 or f16, whole or in row shards (BaseWeights decides). */
  readonly w: ShardedWeight;
  readonly bias: GPUBuffer;
  readonly inDim: number;
  readonly outDim: number;
  readonly layout: WeightLayout;
}

export function projection(base: BaseWeights, module: string, inDim: number, outDim: number, layout: WeightLayout): Projection {
  const shape = layout === 'nk' ? [outDim, inDim] : [inDim, outDim];
  return { module, w: base.tensor(`${module}.weight`, shape), bias: base.get(`${module}.bias`, [outDim]), inDim, outDim, layout };
}

/**
 * y (+)= x @ W + b, then the LoRA hook on the same x and y. The activation is fused only
 * when no hook runs: with a hook it must come after the delta, so the caller applies it.
 */
export function encodeProjection(
  ctx: GpuContext,
  pass: GPUComputePassEncoder,
  p: Projection,
  x: GPUBuffer,
  y: GPUBuffer,
  rows: number,
  opts: { lora?: LoraApplier; accumulate?: boolean; activation?: MatmulActivation } = {},
): void {
  encodeShardedMatmul(ctx, pass, {
    x,
    w: p.w,
    bias: p.bias,
    y,
    M: rows,
    N: p.outDim,
    K: p.inDim,
    wLayout: p.layout,
    accumulate: opts.accumulate,
    activation: opts.lora ? 'none' : opts.activation,
  });
  opts.lora?.apply(pass, p.module, x, y, rows, p.inDim, p.outDim);
}
