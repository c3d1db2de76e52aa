import code from '../../shaders/plot_combine.wgsl?raw';
import f32Values from '../../shaders/plot_values_f32_prelude.wgsl?raw';
import f16Values from '../../shaders/plot_values_f16_prelude.wgsl?raw';
import sumPrelude from '../../shaders/workgroup_sum_prelude.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { rowReductionWorkgroup } from './adapter-kind.js';
import { requireElements, requireInts } from './check-shapes.js';

const BINDINGS = ['uniform', 'read', 'read', 'read', 'read', 'read', 'storage'] as const;
// One kernel, two ways of reading the cache: f32 values read directly, f16 ones unpacked from u32.
export const plotCombineKernel: KernelSpec = { name: 'plot_combine', code: composeWgsl(sumPrelude, f32Values, code), bindings: BINDINGS };
export const plotCombineF16Kernel: KernelSpec = { name: 'plot_combine_f16', code: composeWgsl(sumPrelude, f16Values, code), bindings: BINDINGS };

/** Bit of a row's flags: the previous row is T(i-1) of the same sequence. */
export const HAS_PREV = 1;
/** Bit of a row's flags: the next row is T(i+1) of the same sequence. */
export const HAS_NEXT = 2;
/** u32 words per row of the meta buffer: slot, flags, position id, LN set. */
export const META_WORDS = 4;

/** u32 words of one f16-packed slot of 3H values. */
export function f16SlotWords(hidden: number): number {
  return Math.ceil((3 * hidden) / 2);
}

export interface PlotCombineArgs {
  /** [slots, 3H] f32, or u32 [slots, f16SlotWords(H)] when dtype is 'f16'. */
  values: BufferRef;
  dtype: 'f32' | 'f16';
  slots: number;
  /** u32 [rows, META_WORDS]. */
  meta: BufferRef;
  /** Position embeddings [posRows, H]. */
  pos: BufferRef;
  posRows: number;
  /** Token type 0's embedding, H floats. */
  typeRow: BufferRef;
  /** LayerNorm sets [numLn, 2H]: gamma then beta. */
  ln: BufferRef;
  numLn: number;
  out: BufferRef;
  rows: number;
  hidden: number;
  eps: number;
  /** Invocations per row; defaults to the adapter's row-reduction size (as layernorm). */
  workgroupSize?: number;
}

/** Combines the tri-gram entries of every row of a batch and applies its LayerNorm, one dispatch. */
export function encodePlotCombine(ctx: GpuContext, pass: GPUComputePassEncoder, a: PlotCombineArgs): void {
  const spec = a.dtype === 'f16' ? plotCombineF16Kernel : plotCombineKernel;
  const k = spec.name;
  requireInts(k, { hidden: a.hidden, slots: a.slots, posRows: a.posRows, numLn: a.numLn });
  requireInts(k, { rows: a.rows }, 0);
  if (!(a.eps >= 0) || !Number.isFinite(a.eps)) throw new ShapeError(`${k}: eps must be finite and >= 0, got ${a.eps}`);
  const words = f16SlotWords(a.hidden);
  requireElements(k, 'values', a.values, a.dtype === 'f16' ? a.slots * words : a.slots * 3 * a.hidden);
  requireElements(k, 'meta', a.meta, a.rows * META_WORDS);
  requireElements(k, 'pos', a.pos, a.posRows * a.hidden);
  requireElements(k, 'typeRow', a.typeRow, a.hidden);
  requireElements(k, 'ln', a.ln, a.numLn * 2 * a.hidden);
  requireElements(k, 'out', a.out, a.rows * a.hidden);
  const wg = a.workgroupSize ?? rowReductionWorkgroup(ctx);
  if (!Number.isInteger(wg) || wg < 1 || wg > 256) throw new ShapeError(`${k}: workgroupSize must be an integer in 1..256, got ${wg}`);
  if (a.rows === 0) return;
  const params = new Params().u32(a.rows).u32(a.hidden).f32(a.eps).u32(a.slots).u32(a.posRows).u32(a.numLn).u32(words).done();
  dispatch(ctx, pass, spec, {
    constants: { WG: wg },
    params,
    buffers: [a.values, a.meta, a.pos, a.typeRow, a.ln, a.out],
    workgroups: grid1d(a.rows, 1),
  });
}

/**
 * The meta buffer of a packed batch: sequence s owns `lengths[s]` consecutive rows, and a
 * row's neighbours count only inside its sequence. Positions restart at 0 per sequence.
 */
export function packCombineMeta(lengths: readonly number[], slots: ArrayLike<number>, lnSets: ArrayLike<number>): Uint32Array {
  const rows = lengths.reduce((a, b) => a + b, 0);
  if (slots.length !== rows) throw new ShapeError(`plot_combine: ${slots.length} slots for ${rows} rows`);
  if (lnSets.length !== lengths.length) throw new ShapeError(`plot_combine: ${lnSets.length} LN sets for ${lengths.length} sequences`);
  const meta = new Uint32Array(rows * META_WORDS);
  let r = 0;
  lengths.forEach((n, s) => {
    for (let i = 0; i < n; i++, r++) {
      meta[r * META_WORDS] = slots[r];
      meta[r * META_WORDS + 1] = (i > 0 ? HAS_PREV : 0) | (i + 1 < n ? HAS_NEXT : 0);
      meta[r * META_WORDS + 2] = i;
      meta[r * META_WORDS + 3] = lnSets[s];
    }
  });
  return meta;
}
