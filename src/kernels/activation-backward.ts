import geluPrelude from '../../shaders/gelu_prelude.wgsl?raw';
import code from '../../shaders/activation_backward.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';

export const activationBackwardKernel: KernelSpec = {
  name: 'activation_backward',
  // The GELU derivatives are built from gelu_prelude's pieces: one GELU source.
  code: composeWgsl(geluPrelude, code),
  bindings: ['uniform', 'read', 'read', 'storage'],
};

/** 'gelu_erf' = BERT's exact gelu, 'gelu_tanh' = GPT-2 gelu_new, 'tanh' = BERT's pooler. */
export type BackwardActivation = 'gelu_erf' | 'gelu_tanh' | 'tanh';

/** The kernel's ACT override of each form. */
const ACT: Readonly<Record<BackwardActivation, number>> = { gelu_erf: 0, gelu_tanh: 1, tanh: 2 };

export interface ActivationBackwardArgs {
  /** The activation's INPUT. */
  x: BufferRef;
  dy: BufferRef;
  /** A different GPUBuffer from x and dy. */
  dx: BufferRef;
  n: number;
  activation: BackwardActivation;
  /** dx += dy * f'(x) instead of dx = dy * f'(x). */
  accumulate?: boolean;
}

/** dx (+)= dy * f'(x) over n floats. */
export function encodeActivationBackward(ctx: GpuContext, pass: GPUComputePassEncoder, a: ActivationBackwardArgs): void {
  const k = activationBackwardKernel.name;
  requireInts(k, { n: a.n }, 0);
  if (!Object.hasOwn(ACT, a.activation)) throw new ShapeError(`${k}: unknown activation ${String(a.activation)} (expected gelu_erf, gelu_tanh or tanh)`);
  requireElements(k, 'x', a.x, a.n);
  requireElements(k, 'dy', a.dy, a.n);
  requireElements(k, 'dx', a.dx, a.n);
  requireUnaliased(k, ['dx', a.dx], { x: a.x, dy: a.dy });
  if (a.n === 0) return;
  dispatch(ctx, pass, activationBackwardKernel, {
    constants: { ACT: ACT[a.activation] },
    params: new Params().u32(a.n).u32(a.accumulate ? 1 : 0).done(),
    buffers: [a.x, a.dy, a.dx],
    workgroups: grid1d(a.n, 256),
  });
}
