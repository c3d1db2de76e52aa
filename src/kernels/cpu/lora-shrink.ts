import type { LoraShrinkParams } from '../lora-shrink.js';

export interface LoraShrinkRefInputs {
  readonly x: ArrayLike<number>;
  /** The bound pool buffer's floats (page clamping uses its length). */
  readonly pool: ArrayLike<number>;
  readonly tiles: Uint32Array;
  readonly table: Uint32Array;
  /** tmp before the kernel; entries the kernel does not write keep these values. */
  readonly tmp: ArrayLike<number>;
}

/** Robust-access reads: WGSL may return any in-bounds value for an out-of-range index; tests keep tables in range. */
const at = (a: Uint32Array, i: number): number => (i < a.length ? a[i] : 0);

/** f64 reference of shaders/lora_shrink.wgsl, including its clamping of page indices and ranks. */
export function loraShrinkRef(inp: LoraShrinkRefInputs, p: LoraShrinkParams): Float64Array {
  const out = Float64Array.from(inp.tmp);
  const H = p.pageFloats;
  const lastPage = Math.floor(inp.pool.length / H) - 1;
  const pagesPerRow = Math.ceil(p.inDim / H);
  for (let t = 0; t < p.numTiles; t++) {
    const o = (p.tileOffset + t) * 4;
    const [rowStart, rowCount, slot] = [inp.tiles[o], inp.tiles[o + 1], inp.tiles[o + 2]];
    const m = p.metaOffset + slot * 4;
    const rank = Math.min(at(inp.table, m), p.tmpStride, p.kCount);
    if (rowCount === 0 || rowStart + rowCount > p.rows) continue;
    for (let k = 0; k < rank; k++) {
      const rowBase = at(inp.table, m + 2) + k * pagesPerRow;
      for (let r = 0; r < rowCount; r++) {
        const xo = (rowStart + r) * p.inDim;
        let acc = 0;
        for (let pg = 0; pg < pagesPerRow; pg++) {
          const base = Math.min(at(inp.table, rowBase + pg), lastPage) * H;
          const j0 = pg * H;
          const n = Math.min(H, p.inDim - j0);
          for (let e = 0; e < n; e++) acc += inp.pool[base + e] * inp.x[xo + j0 + e];
        }
        out[(rowStart + r) * p.tmpStride + k] = acc;
      }
    }
  }
  return out;
}
