import { ShapeError } from '../errors.js';
import type { BufferRef } from '../gpu/dispatch.js';

/**
 * Shape checks shared by the kernel bindings: a wrong size caught here is a ShapeError
 * naming the kernel and the argument, instead of a silently clamped read on the GPU.
 */

/** Bytes a BufferRef exposes to a binding (what WebGPU binds when `size` is omitted). */
export function boundBytes(ref: BufferRef): number {
  if ('buffer' in ref) return ref.size ?? ref.buffer.size - (ref.offset ?? 0);
  return ref.size;
}

/** Every value must be an integer >= min (1 unless told). */
export function requireInts(kernel: string, dims: Readonly<Record<string, number>>, min = 1): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < min || v > 0xffffffff) {
      throw new ShapeError(`${kernel}: ${name} must be an integer >= ${min}, got ${v}`);
    }
  }
}

/** The binding must hold at least `elements` 4-byte elements (f32 or u32). */
export function requireElements(kernel: string, name: string, ref: BufferRef, elements: number): void {
  const have = Math.floor(boundBytes(ref) / 4);
  if (have < elements) {
    throw new ShapeError(`${kernel}: ${name} holds ${have} elements, needs ${elements}`);
  }
}

function gpuBuffer(ref: BufferRef): GPUBuffer {
  return 'buffer' in ref ? ref.buffer : ref;
}

/**
 * WebGPU tracks usage per buffer, not per range: a buffer bound read-only and read-write in
 * one dispatch is a validation error even for disjoint ranges. Caught here with names.
 */
export function requireUnaliased(kernel: string, written: [string, BufferRef], read: Readonly<Record<string, BufferRef | undefined>>): void {
  const target = gpuBuffer(written[1]);
  for (const [name, ref] of Object.entries(read)) {
    if (ref && gpuBuffer(ref) === target) {
      throw new ShapeError(`${kernel}: ${written[0]} must be a different GPUBuffer from ${name} (it is written while ${name} is read)`);
    }
  }
}
