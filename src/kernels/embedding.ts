import code from '../../shaders/embedding.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { ShapeError } from '../errors.js';
import { boundBytes, requireElements, requireInts, requireUnaliased } from './check-shapes.js';
import { weightBytes, weightKernels, weightRead, type WeightDtype, type WeightRead } from './weight-read.js';
import type { ShardedWeight } from './weight-shards.js';

/** The kernel in its three word-table reads (f32, f16 packed, f16 native). */
export const embeddingKernels = weightKernels('embedding', ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage'], code);

export interface EmbeddingArgs {
  ids: BufferRef;
  positions: BufferRef;
  types?: BufferRef;
  wordTable: BufferRef;
  posTable: BufferRef;
  typeTable?: BufferRef;
  out: BufferRef;
  rows: number;
  dim: number;
  vocabRows: number;
  /** How wordTable holds its values (default f32). */
  wordDtype?: WeightDtype;
  /** Force one of the dtype's reads (default: native f16 where the device has it). */
  wordRead?: WeightRead;
  /** wordTable holds table rows wordRow0..wordRow0+wordRows-1 (defaults 0 and vocabRows): one shard. */
  wordRow0?: number;
  wordRows?: number;
  posRows: number;
  typeRows?: number;
}

/**
 * out[i,:] = word[ids[i],:] + pos[positions[i],:] (+ type[types[i],:]). Indices past a table
 * are clamped to its last row on the GPU; reject them on the CPU before encoding.
 */
export function encodeEmbedding(ctx: GpuContext, pass: GPUComputePassEncoder, a: EmbeddingArgs): void {
  const dtype = a.wordDtype ?? 'f32';
  const spec = embeddingKernels[weightRead(ctx, dtype, a.wordRead)];
  const k = spec.name;
  const wordRow0 = a.wordRow0 ?? 0;
  const wordRows = a.wordRows ?? a.vocabRows;
  requireInts(k, { dim: a.dim, vocabRows: a.vocabRows, posRows: a.posRows, wordRows });
  requireInts(k, { wordRow0 }, 0);
  if (wordRow0 + wordRows > a.vocabRows) throw new ShapeError(`${k}: word rows ${wordRow0}..${wordRow0 + wordRows} run past the ${a.vocabRows}-row table`);
  requireInts(k, { rows: a.rows }, 0);
  const hasTypes = a.typeTable !== undefined;
  if (hasTypes !== (a.types !== undefined) || hasTypes !== (a.typeRows !== undefined)) {
    throw new ShapeError(`${k}: types, typeTable and typeRows go together`);
  }
  requireElements(k, 'ids', a.ids, a.rows);
  requireElements(k, 'positions', a.positions, a.rows);
  const wordBytes = wordRows * a.dim * weightBytes(dtype);
  if (boundBytes(a.wordTable) < wordBytes) throw new ShapeError(`${k}: wordTable holds ${boundBytes(a.wordTable)} bytes, needs ${wordBytes}`);
  requireElements(k, 'posTable', a.posTable, a.posRows * a.dim);
  requireElements(k, 'out', a.out, a.rows * a.dim);
  if (a.types && a.typeTable && a.typeRows !== undefined) {
    requireInts(k, { typeRows: a.typeRows });
    requireElements(k, 'types', a.types, a.rows);
    requireElements(k, 'typeTable', a.typeTable, a.typeRows * a.dim);
  }
  requireUnaliased(k, ['out', a.out], { ids: a.ids, positions: a.positions, types: a.types, wordTable: a.wordTable, posTable: a.posTable, typeTable: a.typeTable });
  if (a.rows === 0) return;
  dispatch(ctx, pass, spec, {
    constants: { HAS_TYPES: hasTypes ? 1 : 0 },
    params: new Params().u32(a.rows).u32(a.dim).u32(a.vocabRows).u32(a.posRows).u32(a.typeRows ?? 1).u32(wordRow0).u32(wordRows).done(),
    // Without token types, ids and the word table fill the unused slots (read-only aliases are legal).
    buffers: [a.ids, a.positions, a.types ?? a.ids, a.wordTable, a.posTable, a.typeTable ?? a.wordTable, a.out],
    workgroups: grid1d(a.rows * a.dim, 256),
  });
}

export interface ShardedEmbeddingArgs extends Omit<EmbeddingArgs, 'wordTable' | 'wordDtype' | 'wordRow0' | 'wordRows' | 'vocabRows'> {
  /** The [vocabRows, dim] word table, whole or in row shards. */
  word: ShardedWeight;
}

/** encodeEmbedding over a word table in shards: one dispatch per shard, each writing the rows whose ids it holds. */
export function encodeShardedEmbedding(ctx: GpuContext, pass: GPUComputePassEncoder, a: ShardedEmbeddingArgs): void {
  const { word, ...rest } = a;
  const vocabRows = word.shape[0];
  for (const s of word.shards) {
    encodeEmbedding(ctx, pass, { ...rest, vocabRows, wordTable: s.buffer, wordDtype: word.dtype, wordRow0: s.row0, wordRows: s.rows });
  }
}
