import code from '../../shaders/add.wgsl?raw';
import { grid1d, dispatch, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import type { KernelSpec } from '../gpu/pipelines.js';

export const addKernel: KernelSpec = { name: 'add', code, bindings: ['uniform', 'read', 'read', 'storage'] };

/** out = a + b over n floats. */
export function encodeAdd(ctx: GpuContext, pass: GPUComputePassEncoder, a: BufferRef, b: BufferRef, out: BufferRef, n: number): void {
  dispatch(ctx, pass, addKernel, { params: new Params().u32(n).done(), buffers: [a, b, out], workgroups: grid1d(n, 256) });
}
