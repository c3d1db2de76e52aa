import code from '../../shaders/adamw.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import type { KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';

export const adamwKernel: KernelSpec = {
  name: 'adamw',
  code,
  bindings: ['uniform', 'read', 'storage', 'storage', 'storage'],
};

export interface AdamWHyperparameters {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based, for the bias corrections. */
  step: number;
  /** grads are multiplied by this first (default 1). */
  gradScale?: number;
}

export interface AdamWArgs extends AdamWHyperparameters {
  /** f32 [n] each; m and v start at 0. grads must not share a GPUBuffer with params, m or v. */
  params: BufferRef;
  grads: BufferRef;
  m: BufferRef;
  v: BufferRef;
  n: number;
}

/** Throws a ShapeError unless the hyperparameters are ones AdamW is defined for. */
export function validateAdamW(kernel: string, h: AdamWHyperparameters): void {
  requireInts(kernel, { step: h.step });
  const finite = (name: string, v: number, ok: boolean): void => {
    if (!Number.isFinite(v) || !ok) throw new ShapeError(`${kernel}: ${name} out of range, got ${v}`);
  };
  finite('lr', h.lr, h.lr >= 0);
  finite('beta1', h.beta1, h.beta1 >= 0 && h.beta1 < 1);
  finite('beta2', h.beta2, h.beta2 >= 0 && h.beta2 < 1);
  finite('eps', h.eps, h.eps >= 0);
  finite('weightDecay', h.weightDecay, h.weightDecay >= 0);
  finite('gradScale', h.gradScale ?? 1, true);
}

/** One AdamW step (torch.optim.AdamW semantics) over n parameters, in place on params, m and v. */
export function encodeAdamW(ctx: GpuContext, pass: GPUComputePassEncoder, a: AdamWArgs): void {
  const k = adamwKernel.name;
  requireInts(k, { n: a.n }, 0);
  validateAdamW(k, a);
  for (const [name, ref] of [['params', a.params], ['grads', a.grads], ['m', a.m], ['v', a.v]] as const) requireElements(k, name, ref, a.n);
  for (const [name, ref] of [['params', a.params], ['m', a.m], ['v', a.v]] as const) requireUnaliased(k, [name, ref], { grads: a.grads });
  if (a.n === 0) return;
  // Bias corrections and step size in f64, as torch forms them from Python floats.
  const bc1 = 1 - a.beta1 ** a.step;
  const bc2 = 1 - a.beta2 ** a.step;
  const params = new Params()
    .u32(a.n)
    .f32(a.beta1)
    .f32(a.beta2)
    .f32(1 - a.beta1)
    .f32(1 - a.beta2)
    .f32(1 - a.lr * a.weightDecay)
    .f32(a.lr / bc1)
    .f32(Math.sqrt(bc2))
    .f32(a.eps)
    .f32(a.gradScale ?? 1)
    .done();
  dispatch(ctx, pass, adamwKernel, { params, buffers: [a.grads, a.params, a.m, a.v], workgroups: grid1d(a.n, 256) });
}
