import { allocBuffer } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';

/**
 * A model's activation buffers by name, allocated up front for a batch size and reused by
 * every forward. A buffer is replaced only when a bigger batch arrives (at least doubling,
 * so a slowly growing batch does not reallocate each time); it never shrinks.
 */
export class Workspace {
  private readonly buffers = new Map<string, GPUBuffer>();

  constructor(
    private readonly ctx: GpuContext,
    private readonly label: string,
  ) {}

  /** Makes every named buffer at least the given number of bytes. */
  async reserve(sizes: Readonly<Record<string, number>>): Promise<void> {
    const cap = Math.min(this.ctx.limits.maxBufferSize, this.ctx.limits.maxStorageBufferBindingSize);
    const grow: Promise<void>[] = [];
    for (const [name, bytes] of Object.entries(sizes)) {
      const old = this.buffers.get(name);
      if (old && old.size >= bytes) continue;
      const size = old ? Math.min(cap, Math.max(bytes, old.size * 2)) : bytes;
      grow.push(
        allocBuffer(this.ctx, size, `${this.label}.${name}`).then((b) => {
          // Work already submitted keeps the old buffer alive until it completes.
          old?.destroy();
          this.buffers.set(name, b);
        }),
      );
    }
    await Promise.all(grow);
  }

  get(name: string): GPUBuffer {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`workspace ${this.label}: buffer ${name} was never reserved`);
    return b;
  }

  get bytes(): number {
    let n = 0;
    for (const b of this.buffers.values()) n += b.size;
    return n;
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.destroy();
    this.buffers.clear();
  }
}
