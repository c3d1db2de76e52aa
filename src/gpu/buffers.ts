import { MAP_READ, Usage } from './flags.js';
import { GpuOutOfMemoryError, GpuValidationError, ShapeError } from '../errors.js';
import type { GpuContext } from './device.js';

export const STORAGE = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST;

/**
 * Allocates under out-of-memory and validation error scopes, so a failed allocation is a
 * typed error at the call site instead of an uncaptured device error later.
 */
export async function allocBuffer(ctx: GpuContext, size: number, label: string, usage: number = STORAGE): Promise<GPUBuffer> {
  if (!Number.isFinite(size) || size < 0) throw new ShapeError(`buffer ${label}: invalid size ${size}`);
  const bytes = Math.max(16, Math.ceil(size / 4) * 4);
  const max = ctx.limits.maxBufferSize;
  if (bytes > max) throw new GpuOutOfMemoryError(bytes, `${label} (above maxBufferSize ${max})`);
  const { device } = ctx;
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  const buffer = device.createBuffer({ label, size: bytes, usage });
  const [oom, invalid] = await Promise.all([device.popErrorScope(), device.popErrorScope()]);
  if (oom) {
    buffer.destroy();
    throw new GpuOutOfMemoryError(bytes, label);
  }
  if (invalid) {
    buffer.destroy();
    throw new GpuValidationError(`creating buffer ${label}: ${invalid.message}`);
  }
  return buffer;
}

/** Allocates a storage buffer and fills it. */
export async function uploadBuffer(ctx: GpuContext, data: ArrayBufferView, label: string, usage: number = STORAGE): Promise<GPUBuffer> {
  const buffer = await allocBuffer(ctx, data.byteLength, label, usage);
  writeBuffer(ctx, buffer, data);
  return buffer;
}

/** queue.writeBuffer needs a multiple of 4 bytes; pads odd-sized data with zeros. */
export function writeBuffer(ctx: GpuContext, buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
  if (data.byteLength % 4 === 0) {
    ctx.device.queue.writeBuffer(buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
    return;
  }
  const padded = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  ctx.device.queue.writeBuffer(buffer, byteOffset, padded);
}

/** Copies `byteLength` bytes of a GPU buffer back to the CPU. */
export async function readBytes(ctx: GpuContext, buffer: GPUBuffer, byteLength: number, byteOffset = 0): Promise<ArrayBuffer> {
  const size = Math.ceil(byteLength / 4) * 4;
  const staging = ctx.device.createBuffer({ label: 'readback', size: Math.max(4, size), usage: Usage.COPY_DST | Usage.MAP_READ });
  try {
    const enc = ctx.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    ctx.submit([enc.finish()]);
    await staging.mapAsync(MAP_READ);
    return staging.getMappedRange().slice(0, byteLength);
  } finally {
    staging.destroy();
  }
}

export async function readF32(ctx: GpuContext, buffer: GPUBuffer, count: number, offset = 0): Promise<Float32Array> {
  return new Float32Array(await readBytes(ctx, buffer, count * 4, offset * 4));
}

export async function readU32(ctx: GpuContext, buffer: GPUBuffer, count: number, offset = 0): Promise<Uint32Array> {
  return new Uint32Array(await readBytes(ctx, buffer, count * 4, offset * 4));
}
