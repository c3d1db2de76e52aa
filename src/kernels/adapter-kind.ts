import type { GpuContext } from '../gpu/device.js';

/**
 * True on software adapters that run WebGPU on the CPU (SwiftShader, lavapipe/llvmpipe, WARP).
 * They execute a workgroup as SIMD groups of 4 and switch every group's fiber at a barrier,
 * so kernels there prefer tiny workgroups and per-invocation register blocking over the
 * shared-memory cooperation that suits real GPUs (measured on SwiftShader: a 64-wide
 * row-reduction workgroup is 4x slower than a 4-wide one, the 64-wide flash attention
 * workgroup 10x slower than one invocation per (row, head)).
 */
export function isCpuAdapter(ctx: GpuContext): boolean {
  const i = ctx.adapterInfo;
  return /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${i.vendor} ${i.architecture} ${i.device} ${i.description}`);
}

/** Workgroup size of the one-workgroup-per-row reductions (layernorm, softmax). */
export function rowReductionWorkgroup(ctx: GpuContext): number {
  return isCpuAdapter(ctx) ? 4 : 64;
}
