import code from '../../shaders/embedding.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import type { KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';

export const embeddingKernel: KernelSpec = {
  name: 'embedding',
  code,
  bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage'],
};

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
  posRows: number;
  typeRows?: number;
}

/**
 * out[i,:] = word[ids[i],:] + pos[positions[i],:] (+ type[types[i],:]). Indices past a table
 * are clamped to its last row on the GPU; reject them on the CPU before encoding.
 */
export function encodeEmbedding(ctx: GpuContext, pass: GPUComputePassEncoder, a: EmbeddingArgs): void {
  const k = embeddingKernel.name;
  requireInts(k, { dim: a.dim, vocabRows: a.vocabRows, posRows: a.posRows });
  requireInts(k, { rows: a.rows }, 0);
  const hasTypes = a.typeTable !== undefined;
  if (hasTypes !== (a.types !== undefined) || hasTypes !== (a.typeRows !== undefined)) {
    throw new ShapeError(`${k}: types, typeTable and typeRows go together`);
  }
  requireElements(k, 'ids', a.ids, a.rows);
  requireElements(k, 'positions', a.positions, a.rows);
  requireElements(k, 'wordTable', a.wordTable, a.vocabRows * a.dim);
  requireElements(k, 'posTable', a.posTable, a.posRows * a.dim);
  requireElements(k, 'out', a.out, a.rows * a.dim);
  if (a.types && a.typeTable && a.typeRows !== undefined) {
    requireInts(k, { typeRows: a.typeRows });
    requireElements(k, 'types', a.types, a.rows);
    requireElements(k, 'typeTable', a.typeTable, a.typeRows * a.dim);
  }
  requireUnaliased(k, ['out', a.out], { ids: a.ids, positions: a.positions, types: a.types, wordTable: a.wordTable, posTable: a.posTable, typeTable: a.typeTable });
  if (a.rows === 0) return;
  dispatch(ctx, pass, embeddingKernel, {
    constants: { HAS_TYPES: hasTypes ? 1 : 0 },
    params: new Params().u32(a.rows).u32(a.dim).u32(a.vocabRows).u32(a.posRows).u32(a.typeRows ?? 1).done(),
    // Without token types, ids and the word table fill the unused slots (read-only aliases are legal).
    buffers: [a.ids, a.positions, a.types ?? a.ids, a.wordTable, a.posTable, a.typeTable ?? a.wordTable, a.out],
    workgroups: grid1d(a.rows * a.dim, 256),
  });
}
