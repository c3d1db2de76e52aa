import { HAS_NEXT, HAS_PREV, META_WORDS } from '../plot-combine.js';

export interface PlotCombineRefArgs {
  /** [slots, 3H] values as the kernel reads them (f16 caches decoded first). */
  values: ArrayLike<number>;
  slots: number;
  meta: ArrayLike<number>;
  pos: ArrayLike<number>;
  posRows: number;
  typeRow: ArrayLike<number>;
  ln: ArrayLike<number>;
  numLn: number;
  rows: number;
  hidden: number;
  eps: number;
}

/** CPU reference of shaders/plot_combine.wgsl (f64, same clamping of out-of-range indices). */
export function plotCombineRef(a: PlotCombineRefArgs): Float64Array {
  const H = a.hidden;
  const out = new Float64Array(a.rows * H);
  const x = new Float64Array(H);
  const base = (slot: number): number => Math.min(slot, a.slots - 1) * 3 * H;
  for (let r = 0; r < a.rows; r++) {
    const m = r * META_WORDS;
    const flags = a.meta[m + 1];
    const self = base(a.meta[m]);
    const prev = flags & HAS_PREV && r > 0 ? base(a.meta[m - META_WORDS]) : -1;
    const next = flags & HAS_NEXT && r + 1 < a.rows ? base(a.meta[m + META_WORDS]) : -1;
    const p = Math.min(a.meta[m + 2], a.posRows - 1) * H;
    const l = Math.min(a.meta[m + 3], a.numLn - 1) * 2 * H;
    let mean = 0;
    for (let c = 0; c < H; c++) {
      let v = a.values[self + H + c] + a.pos[p + c] + a.typeRow[c];
      if (next >= 0) v += a.values[next + c];
      if (prev >= 0) v += a.values[prev + 2 * H + c];
      x[c] = v;
      mean += v;
    }
    mean /= H;
    let variance = 0;
    for (let c = 0; c < H; c++) variance += (x[c] - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / H + a.eps);
    for (let c = 0; c < H; c++) out[r * H + c] = (x[c] - mean) * inv * a.ln[l + c] + a.ln[l + H + c];
  }
  return out;
}
