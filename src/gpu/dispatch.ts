import type { GpuContext } from './device.js';
import type { KernelSpec, OverrideConstants } from './pipelines.js';

export type BufferRef = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export interface DispatchArgs {
  constants?: OverrideConstants;
  /** Contents of binding 0 when the kernel's first binding is 'uniform'. */
  params?: ArrayBufferView;
  /** The storage bindings, in binding order after the uniform. */
  buffers: readonly BufferRef[];
  workgroups: readonly [number, number?, number?];
}

/** Encodes one dispatch of a kernel into an open compute pass. */
export function dispatch(ctx: GpuContext, pass: GPUComputePassEncoder, spec: KernelSpec, args: DispatchArgs): void {
  const { pipeline, layout } = ctx.pipelines.get(spec, args.constants);
  const entries: GPUBindGroupEntry[] = [];
  let binding = 0;
  if (spec.bindings[0] === 'uniform') {
    if (!args.params) throw new Error(`kernel ${spec.name} needs params`);
    const slot = ctx.uniforms.push(args.params);
    entries.push({ binding: binding++, resource: { buffer: slot.buffer, offset: slot.offset, size: slot.size } });
  }
  for (const ref of args.buffers) {
    entries.push({ binding: binding++, resource: 'buffer' in ref ? ref : { buffer: ref } });
  }
  if (binding !== spec.bindings.length) {
    throw new Error(`kernel ${spec.name} takes ${spec.bindings.length} bindings, got ${binding}`);
  }
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, ctx.device.createBindGroup({ layout, entries }));
  const [x, y = 1, z = 1] = args.workgroups;
  pass.dispatchWorkgroups(x, y, z);
}

/** Encodes dispatches in one compute pass of a fresh encoder and submits them. */
export function run(ctx: GpuContext, encode: (pass: GPUComputePassEncoder) => void): void {
  const enc = ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encode(pass);
  pass.end();
  ctx.submit([enc.finish()]);
}

const MAX_DIM = 65535;

/**
 * Workgroup counts for `n` independent items of `perGroup` each, folded into 2D when one
 * dimension would exceed the 65535 limit. Shaders recover the flat index as
 * `wid.x + wid.y * nwg.x` (see the header of each 1D kernel).
 */
export function grid1d(n: number, perGroup: number): [number, number] {
  const groups = Math.max(1, Math.ceil(n / perGroup));
  if (groups <= MAX_DIM) return [groups, 1];
  const y = Math.ceil(groups / MAX_DIM);
  return [Math.ceil(groups / y), y];
}

/** Builds a uniform block field by field with WGSL's 4-byte scalars, padded to 16 bytes. */
export class Params {
  private readonly view: DataView;
  private bytes = 0;
  constructor(capacity = 64) {
    this.view = new DataView(new ArrayBuffer(capacity));
  }
  u32(v: number): this {
    this.view.setUint32(this.bytes, v >>> 0, true);
    this.bytes += 4;
    return this;
  }
  i32(v: number): this {
    this.view.setInt32(this.bytes, v | 0, true);
    this.bytes += 4;
    return this;
  }
  f32(v: number): this {
    this.view.setFloat32(this.bytes, v, true);
    this.bytes += 4;
    return this;
  }
  done(): Uint8Array {
    return new Uint8Array(this.view.buffer, 0, Math.max(16, Math.ceil(this.bytes / 16) * 16));
  }
}
