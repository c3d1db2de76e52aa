/**
 * A row's mean and 1 / sqrt(var + eps) (biased variance, the centred two-pass form), as
 * shaders/layernorm_stats_prelude.wgsl's rowStats: the forward and backward references share it.
 */
export function layerNormRowStats(x: ArrayLike<number>, base: number, cols: number, eps: number): { mean: number; inv: number } {
  let mean = 0;
  for (let c = 0; c < cols; c++) mean += x[base + c];
  mean /= cols;
  let variance = 0;
  for (let c = 0; c < cols; c++) variance += (x[base + c] - mean) ** 2;
  variance /= cols;
  return { mean, inv: 1 / Math.sqrt(variance + eps) };
}

/** CPU reference of shaders/layernorm.wgsl (f64, biased variance). */
export function layerNormRef(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  rows: number,
  cols: number,
  eps: number,
): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const { mean, inv } = layerNormRowStats(x, base, cols, eps);
    for (let c = 0; c < cols; c++) y[base + c] = (x[base + c] - mean) * inv * gamma[c] + beta[c];
  }
  return y;
}
