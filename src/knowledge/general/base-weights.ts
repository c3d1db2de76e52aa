import { uploadBuffer } from '../../gpu/buffers.js';
import type { GpuContext } from '../../gpu/device.js';
import type { TensorMap } from '../../formats/types.js';
import { MissingWeightError, WeightShapeError } from '../../formats/errors.js';

/**
 * The general knowledge level: the base model's tensors on the GPU, uploaded once and shared
 * by every tenant, looked up by their HF names (prefix stripped).
 */
export class BaseWeights {
  private constructor(
    private readonly buffers: Map<string, GPUBuffer>,
    private readonly shapes: ReadonlyMap<string, readonly number[]>,
    /** Bytes of all uploaded tensors. */
    readonly totalBytes: number,
  ) {}

  static async upload(ctx: GpuContext, weights: TensorMap, label = 'base'): Promise<BaseWeights> {
    const names = [...weights.keys()];
    const shapes = new Map<string, readonly number[]>();
    let total = 0;
    for (const name of names) {
      const t = weights.get(name)!;
      shapes.set(name, t.shape);
      total += t.data.byteLength;
    }
    const uploaded: GPUBuffer[] = [];
    try {
      for (const name of names) uploaded.push(await uploadBuffer(ctx, weights.get(name)!.data, `${label}:${name}`));
    } catch (e) {
      for (const b of uploaded) b.destroy();
      throw e;
    }
    return new BaseWeights(new Map(names.map((n, i) => [n, uploaded[i]])), shapes, total);
  }

  has(name: string): boolean {
    return this.buffers.has(name);
  }

  get names(): string[] {
    return [...this.buffers.keys()];
  }

  /** The tensor's buffer, checked against the shape the caller expects when one is given. */
  get(name: string, shape?: readonly number[]): GPUBuffer {
    const b = this.buffers.get(name);
    if (!b) throw new MissingWeightError(name);
    if (shape) {
      const got = this.shapes.get(name)!;
      if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) throw new WeightShapeError(name, shape, got);
    }
    return b;
  }

  shape(name: string): readonly number[] | undefined {
    return this.shapes.get(name);
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.destroy();
    this.buffers.clear();
  }
}
