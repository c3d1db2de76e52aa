/** CPU reference of shaders/scatter-rows.wgsl: writes into a copy of `dst` and returns it. */
export function scatterRowsRef(
  src: ArrayLike<number>,
  rowIdx: ArrayLike<number>,
  dst: ArrayLike<number>,
  a: { rows: number; dim: number; srcStride: number; srcOffset?: number; dstStride: number; dstOffset?: number },
): Float64Array {
  const out = Float64Array.from(dst);
  for (let i = 0; i < a.rows; i++) {
    for (let c = 0; c < a.dim; c++) {
      out[rowIdx[i] * a.dstStride + (a.dstOffset ?? 0) + c] = src[i * a.srcStride + (a.srcOffset ?? 0) + c];
    }
  }
  return out;
}
