import type { GpuContext } from '../gpu/device.js';
import { HmiError } from '../errors.js';
import { chosenMatmulVariant, encodeMatmul, type MatmulArgs } from './matmul.js';
import { weightBytes, type WeightDtype } from './weight-read.js';

/**
 * A weight matrix too large for one binding is held as consecutive row ranges, each in a
 * buffer of its own (limits: maxStorageBufferBindingSize and maxBufferSize, e.g. 128 MiB
 * against GPT-2's 154 MB f32 wte). Splitting along rows keeps every kernel's arithmetic:
 * a gathered row lives whole in one shard, and a row of an [N, K] weight is one output column.
 */
export interface WeightShard {
  readonly buffer: GPUBuffer;
  /** First row of the tensor this shard holds. */
  readonly row0: number;
  readonly rows: number;
}

export interface ShardedWeight {
  /** The whole tensor's shape; rows are dimension 0, a row is the product of the rest. */
  readonly shape: readonly number[];
  readonly dtype: WeightDtype;
  readonly shards: readonly WeightShard[];
}

/** A tensor cannot be laid out in bindings of this device, or is used in a way its split does not allow. */
export class WeightLayoutError extends HmiError {
  constructor(message: string) {
    super('WEIGHT_LAYOUT', message);
  }
}

export interface ShardPlan {
  readonly row0: number;
  readonly rows: number;
  /** Bytes the shard's buffer takes (allocations are rounded up to 4). */
  readonly bytes: number;
}

/**
 * Row ranges for a [rows, cols] tensor of `dtype` so that no buffer exceeds `maxBytes`: as few
 * shards as possible, all full but the last. A zero-row tensor still gets one (empty) shard.
 */
export function planRowShards(rows: number, cols: number, dtype: WeightDtype, maxBytes: number): ShardPlan[] {
  const rowBytes = cols * weightBytes(dtype);
  const alloc = (n: number): number => Math.max(16, Math.ceil((n * rowBytes) / 4) * 4);
  if (alloc(rows) <= maxBytes) return [{ row0: 0, rows, bytes: alloc(rows) }];
  // Whole rows per shard, and a shard's 4-byte rounding must stay within the limit too.
  let per = Math.floor(maxBytes / rowBytes);
  while (per > 0 && alloc(per) > maxBytes) per--;
  if (per < 1) throw new WeightLayoutError(`one row of ${cols} ${dtype} values (${rowBytes} bytes) exceeds the ${maxBytes}-byte binding limit`);
  const out: ShardPlan[] = [];
  for (let r = 0; r < rows; r += per) out.push({ row0: r, rows: Math.min(per, rows - r), bytes: alloc(Math.min(per, rows - r)) });
  return out;
}

export interface ShardedMatmulArgs extends Omit<MatmulArgs, 'w' | 'wDtype' | 'ldy' | 'col0'> {
  readonly w: ShardedWeight;
}

/**
 * encodeMatmul over a sharded weight. An 'nk' weight ([N, K]) runs one dispatch per shard
 * into its own columns of y, all with the variant of the whole shape, so every output is
 * summed exactly as unsplit. A 'kn' weight ([K, N], GPT-2's Conv1D) would split K, changing
 * the sums and the fused activation: it must fit one binding (GPT-2 XL's largest, c_fc
 * 1600x6400 f32, is 41 MB).
 */
export function encodeShardedMatmul(ctx: GpuContext, pass: GPUComputePassEncoder, a: ShardedMatmulArgs): void {
  const { w, ...rest } = a;
  if (w.shards.length === 1) {
    encodeMatmul(ctx, pass, { ...rest, w: w.shards[0].buffer, wDtype: w.dtype });
    return;
  }
  if (a.wLayout !== 'nk') {
    throw new WeightLayoutError(`a [K=${a.K}, N=${a.N}] weight split in ${w.shards.length} shards cannot be multiplied: split the output columns instead`);
  }
  const variant = a.variant ?? chosenMatmulVariant(ctx, a);
  for (const s of w.shards) {
    encodeMatmul(ctx, pass, { ...rest, w: s.buffer, wDtype: w.dtype, N: s.rows, ldy: a.N, col0: s.row0, variant });
  }
}
