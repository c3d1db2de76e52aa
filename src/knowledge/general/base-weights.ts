import { allocBuffer, writeBuffer } from '../../gpu/buffers.js';
import { maxBindingBytes, type GpuContext } from '../../gpu/device.js';
import type { HostTensor, TensorMap } from '../../formats/types.js';
import { hostF16Bits, hostF32 } from '../../formats/f16.js';
import { ConfigError, MissingWeightError, WeightShapeError } from '../../formats/errors.js';
import { weightBytes, type WeightDtype } from '../../kernels/weight-read.js';
import { planRowShards, WeightLayoutError, type ShardedWeight, type ShardPlan, type WeightShard } from '../../kernels/weight-shards.js';

/**
 * How base matrices are held on the GPU: 'auto' keeps each as its checkpoint stores it (F16
 * as f16; F32, and BF16 which loads as exact f32, as f32), 'f32' widens all, 'f16' rounds all
 * (nearest even; values past 65504 become infinite). Compute is f32 in every case.
 */
export type WeightsDtype = 'auto' | 'f32' | 'f16';

export interface BaseWeightsOptions {
  /** Default 'auto'. */
  readonly dtype?: WeightsDtype;
}

/**
 * Tensors that stay f32 whatever the dtype: vectors (biases, LayerNorm), and the position and
 * token-type tables, which the PLOT combine also binds as f32 and which are small. Only
 * matrices read through the weight preludes (matmul weights, word embeddings) go f16.
 */
function alwaysF32(name: string, shape: readonly number[]): boolean {
  return shape.length !== 2 || /(^|\.)(position_embeddings|token_type_embeddings|wpe)\./.test(name);
}

/** The GPU dtype of a tensor under a WeightsDtype. */
export function gpuDtype(name: string, t: Pick<HostTensor, 'shape' | 'f16'>, dtype: WeightsDtype): WeightDtype {
  if (alwaysF32(name, t.shape) || dtype === 'f32') return 'f32';
  if (dtype === 'f16') return 'f16';
  return t.f16 ? 'f16' : 'f32';
}

/** Rows of a tensor's split: dimension 0, with everything after it one row. */
function rowsCols(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  return [shape[0], shape.slice(1).reduce((a, b) => a * b, 1)];
}

export interface PlannedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: WeightDtype;
  readonly shards: readonly ShardPlan[];
}

/**
 * The GPU layout of a set of tensors on a device whose buffers and bindings may span
 * `maxBytes`: each tensor's dtype and row shards, without allocating anything (so the layout
 * of a real-size model can be checked anywhere).
 */
export function planBaseLayout(
  tensors: ReadonlyMap<string, Pick<HostTensor, 'shape' | 'f16'>>,
  maxBytes: number,
  dtype: WeightsDtype = 'auto',
): PlannedTensor[] {
  return [...tensors].map(([name, t]) => {
    const d = gpuDtype(name, t, dtype);
    const [rows, cols] = rowsCols(t.shape);
    return { name, shape: t.shape, dtype: d, shards: planRowShards(rows, cols, d, maxBytes) };
  });
}

/**
 * The general knowledge level: the base model's tensors on the GPU, uploaded once and shared
 * by every tenant, looked up by their HF names (prefix stripped). A tensor larger than one
 * binding of the device is held in row shards (see ../../kernels/weight-shards.ts); matrices
 * may be f16 (see WeightsDtype).
 */
export class BaseWeights {
  private constructor(
    private readonly tensors: Map<string, ShardedWeight>,
    /** Bytes of the tensors' values as the GPU holds them (2 per f16 element, 4 per f32). */
    readonly totalBytes: number,
    /** Bytes of GPU memory allocated for them (totalBytes plus each buffer's rounding up to 4 and at least 16). */
    readonly gpuBytes: number,
  ) {}

  static async upload(ctx: GpuContext, weights: TensorMap, label = 'base', opts: BaseWeightsOptions = {}): Promise<BaseWeights> {
    const dtype: unknown = opts.dtype ?? 'auto';
    if (dtype !== 'auto' && dtype !== 'f32' && dtype !== 'f16') throw new ConfigError(`weightsDtype must be 'auto', 'f32' or 'f16', got ${String(dtype)}`);
    const maxBytes = maxBindingBytes(ctx.limits);
    const plan = planBaseLayout(weights, maxBytes, opts.dtype ?? 'auto');
    const tensors = new Map<string, ShardedWeight>();
    const uploaded: GPUBuffer[] = [];
    let total = 0;
    let allocated = 0;
    try {
      for (const p of plan) {
        const host = weights.get(p.name)!;
        const values = p.dtype === 'f16' ? hostF16Bits(host) : hostF32(host);
        const cols = rowsCols(p.shape)[1];
        const shards: WeightShard[] = [];
        for (const s of p.shards) {
          const buffer = await allocBuffer(ctx, s.bytes, p.shards.length > 1 ? `${label}:${p.name}[${s.row0}+${s.rows}]` : `${label}:${p.name}`);
          uploaded.push(buffer);
          if (s.rows * cols > 0) writeBuffer(ctx, buffer, values.subarray(s.row0 * cols, (s.row0 + s.rows) * cols));
          shards.push({ buffer, row0: s.row0, rows: s.rows });
          total += s.rows * cols * weightBytes(p.dtype);
          allocated += buffer.size;
        }
        tensors.set(p.name, { shape: p.shape, dtype: p.dtype, shards });
      }
    } catch (e) {
      for (const b of uploaded) b.destroy();
      throw e;
    }
    return new BaseWeights(tensors, total, allocated);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get names(): string[] {
    return [...this.tensors.keys()];
  }

  /** The tensor as the GPU holds it (dtype, row shards), checked against an expected shape. */
  tensor(name: string, shape?: readonly number[]): ShardedWeight {
    const t = this.tensors.get(name);
    if (!t) throw new MissingWeightError(name);
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) throw new WeightShapeError(name, shape, t.shape);
    return t;
  }

  /**
   * The buffer of a tensor held whole and in f32 (vectors always are), for kernels without a
   * weight prelude; a WeightLayoutError otherwise, so no kernel misreads halves or one shard.
   */
  get(name: string, shape?: readonly number[]): GPUBuffer {
    const t = this.tensor(name, shape);
    if (t.dtype !== 'f32' || t.shards.length !== 1) {
      throw new WeightLayoutError(`"${name}" is held as ${t.shards.length} ${t.dtype} shard(s); this use needs it whole in f32`);
    }
    return t.shards[0].buffer;
  }

  shape(name: string): readonly number[] | undefined {
    return this.tensors.get(name)?.shape;
  }

  dispose(): void {
    for (const t of this.tensors.values()) for (const s of t.shards) s.buffer.destroy();
    this.tensors.clear();
  }
}
