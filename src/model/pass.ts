import type { GpuContext } from '../gpu/device.js';
import { ShapeError } from '../errors.js';

/** A buffer copied into another at the start of the command buffer, before the pass. */
export interface CopyIn {
  readonly src: GPUBuffer;
  readonly dst: GPUBuffer;
  readonly bytes: number;
}

/** One command encoder, optional copies, one compute pass, one submit: a whole forward. */
export function submitPass(ctx: GpuContext, encode: (pass: GPUComputePassEncoder) => void, copies: readonly CopyIn[] = []): void {
  const enc = ctx.device.createCommandEncoder();
  for (const c of copies) enc.copyBufferToBuffer(c.src, 0, c.dst, 0, c.bytes);
  const pass = enc.beginComputePass();
  encode(pass);
  pass.end();
  ctx.submit([enc.finish()]);
}

/**
 * Where an upper-layers run gets the state after layer S-1: a buffer (copied into the
 * residual stream), or an encoder that writes the residual stream itself in the same pass
 * (PLOT's combine), which saves the copy and a submit.
 */
export type HiddenSource = GPUBuffer | ((pass: GPUComputePassEncoder, residual: GPUBuffer) => void);

/** The copy of an outside hidden state [rows, H] into the model's residual buffer (none when it already is that buffer). */
export function hiddenCopy(hiddenIn: GPUBuffer, residual: GPUBuffer, rows: number, hiddenSize: number): CopyIn[] {
  const bytes = rows * hiddenSize * 4;
  if (hiddenIn.size < bytes) throw new ShapeError(`hidden state buffer has ${hiddenIn.size} bytes, the batch needs [${rows}, ${hiddenSize}] f32 = ${bytes}`);
  return hiddenIn === residual ? [] : [{ src: hiddenIn, dst: residual, bytes }];
}
