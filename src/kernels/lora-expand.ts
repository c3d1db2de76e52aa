import code from '../../shaders/lora_expand.wgsl?raw';
import rowsCode from '../../shaders/lora_expand_rows.wgsl?raw';
import vec4Code from '../../shaders/lora_expand_vec4.wgsl?raw';
import prelude from '../../shaders/lora_prelude.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { checkRowsVariant, checkVec4Variant, type LoraKernelVariant } from './lora-shrink.js';

// Each variant is the shared LoRA prelude (uniforms, tiles, page table) + its own kernel body.
export const loraExpandKernel: KernelSpec = {
  name: 'lora_expand',
  code: composeWgsl(prelude, code),
  bindings: ['uniform', 'read', 'read', 'read', 'read', 'storage'],
};

export const loraExpandRowsKernel: KernelSpec = { ...loraExpandKernel, name: 'lora_expand_rows', code: composeWgsl(prelude, rowsCode) };
export const loraExpandVec4Kernel: KernelSpec = { ...loraExpandKernel, name: 'lora_expand_vec4', code: composeWgsl(prelude, vec4Code) };

export interface LoraExpandBuffers {
  /** [rows, tmpStride], from lora_shrink */
  readonly tmp: BufferRef;
  readonly pool: BufferRef;
  readonly tiles: BufferRef;
  readonly table: BufferRef;
  /** [rows, outDim], updated in place */
  readonly y: BufferRef;
}

export interface LoraExpandParams {
  readonly rows: number;
  readonly outDim: number;
  readonly pageFloats: number;
  readonly tmpStride: number;
  readonly tileOffset: number;
  readonly numTiles: number;
  readonly metaOffset: number;
  /** Default 'block' (see LoraKernelVariant). */
  readonly variant?: LoraKernelVariant;
}

/** y[i, :] += scale_t * tmp[i, 0..r_t) @ B_t^T for every row of the given tiles. */
export function encodeLoraExpand(ctx: GpuContext, pass: GPUComputePassEncoder, b: LoraExpandBuffers, p: LoraExpandParams): void {
  if (p.numTiles === 0) return;
  if (p.variant === 'rows') checkRowsVariant(p.pageFloats);
  if (p.variant === 'vec4') checkVec4Variant(p.pageFloats, p.outDim);
  // Columns per thread: 4 in lora_expand and lora_expand_vec4, 16 in lora_expand_rows.
  const colGroups = Math.ceil(p.outDim / (p.variant === 'rows' ? 16 : 4));
  const params = new Params()
    .u32(p.rows)
    .u32(p.outDim)
    .u32(p.pageFloats)
    .u32(p.tmpStride)
    .u32(colGroups)
    .u32(p.tileOffset)
    .u32(p.numTiles)
    .u32(p.metaOffset)
    .done();
  dispatch(ctx, pass, p.variant === 'rows' ? loraExpandRowsKernel : p.variant === 'vec4' ? loraExpandVec4Kernel : loraExpandKernel, {
    params,
    buffers: [b.tmp, b.pool, b.tiles, b.table, b.y],
    workgroups: grid1d(p.numTiles * colGroups, 64),
  });
}
