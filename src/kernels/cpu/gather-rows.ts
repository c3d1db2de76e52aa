/** CPU reference of shaders/gather_rows.wgsl (f64), with the kernel's clamping of indices. */
export function gatherRowsRef(src: ArrayLike<number>, rowIdx: ArrayLike<number>, dim: number, srcRows: number): Float64Array {
  const out = new Float64Array(rowIdx.length * dim);
  for (let i = 0; i < rowIdx.length; i++) {
    const base = Math.min(rowIdx[i], srcRows - 1) * dim;
    for (let c = 0; c < dim; c++) out[i * dim + c] = src[base + c];
  }
  return out;
}
