/** CPU reference of shaders/embedding.wgsl (f64), with the kernel's clamping of indices. */
export function embeddingRef(a: {
  ids: ArrayLike<number>;
  positions: ArrayLike<number>;
  types?: ArrayLike<number>;
  wordTable: ArrayLike<number>;
  posTable: ArrayLike<number>;
  typeTable?: ArrayLike<number>;
  rows: number;
  dim: number;
  vocabRows: number;
  posRows: number;
  typeRows?: number;
}): Float64Array {
  const { dim } = a;
  const out = new Float64Array(a.rows * dim);
  for (let i = 0; i < a.rows; i++) {
    const w = Math.min(a.ids[i], a.vocabRows - 1) * dim;
    const p = Math.min(a.positions[i], a.posRows - 1) * dim;
    const t = a.types && a.typeTable ? Math.min(a.types[i], (a.typeRows ?? 1) - 1) * dim : -1;
    for (let c = 0; c < dim; c++) {
      out[i * dim + c] = a.wordTable[w + c] + a.posTable[p + c] + (t >= 0 && a.typeTable ? a.typeTable[t + c] : 0);
    }
  }
  return out;
}
