/** Scores at or below this are -infinity to the softmax kernel (WGSL has no reliable infinities). */
export const SOFTMAX_NEG = -3.0e38;

/** CPU reference of shaders/softmax.wgsl (f64): masked-only rows give zeros. */
export function softmaxRef(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let m = -Infinity;
    for (let c = 0; c < cols; c++) if (x[base + c] > SOFTMAX_NEG) m = Math.max(m, x[base + c]);
    if (m === -Infinity) continue;
    let sum = 0;
    for (let c = 0; c < cols; c++) if (x[base + c] > SOFTMAX_NEG) sum += Math.exp(x[base + c] - m);
    for (let c = 0; c < cols; c++) y[base + c] = x[base + c] > SOFTMAX_NEG ? Math.exp(x[base + c] - m) / sum : 0;
  }
  return y;
}
