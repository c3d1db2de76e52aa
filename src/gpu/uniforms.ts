import { Usage } from './flags.js';
/**
 * Small per-dispatch parameter blocks, sub-allocated from a few large uniform buffers
 * instead of a fresh buffer per dispatch. Slots are handed out monotonically until the
 * owning GpuContext submits, then reused: queue.writeBuffer is ordered with submits, so a
 * slot rewritten for the next submit never races the previous one.
 */
const CHUNK_BYTES = 64 * 1024;

export interface UniformSlot {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export class UniformArena {
  private readonly chunks: GPUBuffer[] = [];
  private chunk = 0;
  private offset = 0;
  private readonly align: number;

  constructor(private readonly device: GPUDevice) {
    this.align = device.limits.minUniformBufferOffsetAlignment;
  }

  push(data: ArrayBufferView): UniformSlot {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    if (this.offset + size > CHUNK_BYTES) {
      this.chunk++;
      this.offset = 0;
    }
    if (this.chunk === this.chunks.length) {
      this.chunks.push(
        this.device.createBuffer({ label: `uniforms#${this.chunk}`, size: CHUNK_BYTES, usage: Usage.UNIFORM | Usage.COPY_DST }),
      );
    }
    const buffer = this.chunks[this.chunk];
    const offset = this.offset;
    this.device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
    this.offset = Math.ceil((offset + size) / this.align) * this.align;
    return { buffer, offset, size };
  }

  /** Called by GpuContext.submit after the command buffers that read the slots are queued. */
  reset(): void {
    this.chunk = 0;
    this.offset = 0;
  }

  get bytesAllocated(): number {
    return this.chunks.length * CHUNK_BYTES;
  }

  destroy(): void {
    for (const b of this.chunks) b.destroy();
    this.chunks.length = 0;
  }
}
