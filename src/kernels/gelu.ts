import prelude from '../../shaders/gelu_prelude.wgsl?raw';
import code from '../../shaders/gelu.wgsl?raw';
import inplaceCode from '../../shaders/gelu_inplace.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';

export type GeluForm = 'erf' | 'tanh';

export const geluKernel: KernelSpec = { name: 'gelu', code: composeWgsl(prelude, code), bindings: ['uniform', 'read', 'storage'] };
export const geluInplaceKernel: KernelSpec = { name: 'gelu_inplace', code: composeWgsl(prelude, inplaceCode), bindings: ['uniform', 'storage'] };

export interface GeluArgs {
  x: BufferRef;
  /** Omitted: x is overwritten in place. */
  y?: BufferRef;
  n: number;
  /** 'erf' = exact BERT gelu, 'tanh' = GPT-2 gelu_new. */
  form: GeluForm;
}

export function encodeGelu(ctx: GpuContext, pass: GPUComputePassEncoder, a: GeluArgs): void {
  const k = geluKernel.name;
  requireInts(k, { n: a.n }, 0);
  if (a.form !== 'erf' && a.form !== 'tanh') throw new ShapeError(`${k}: unknown form ${String(a.form)}`);
  requireElements(k, 'x', a.x, a.n);
  if (a.y) {
    requireElements(k, 'y', a.y, a.n);
    requireUnaliased(k, ['y', a.y], { x: a.x });
  }
  if (a.n === 0) return;
  dispatch(ctx, pass, a.y ? geluKernel : geluInplaceKernel, {
    constants: { TANH: a.form === 'tanh' ? 1 : 0 },
    params: new Params().u32(a.n).done(),
    buffers: a.y ? [a.x, a.y] : [a.x],
    workgroups: grid1d(a.n, 256),
  });
}
