import code from '../../shaders/tanh.wgsl?raw';
import { grid1d, dispatch, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import type { KernelSpec } from '../gpu/pipelines.js';

export const tanhKernel: KernelSpec = { name: 'tanh', code, bindings: ['uniform', 'read', 'storage'] };

/** y = tanh(x) over n floats (y must not alias x). */
export function encodeTanh(ctx: GpuContext, pass: GPUComputePassEncoder, args: { x: BufferRef; y: BufferRef; n: number }): void {
  dispatch(ctx, pass, tanhKernel, { params: new Params().u32(args.n).done(), buffers: [args.x, args.y], workgroups: grid1d(args.n, 256) });
}
