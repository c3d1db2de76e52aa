import { layerNormRowStats } from './layernorm.js';

/**
 * CPU reference of shaders/layernorm_backward.wgsl (f64): the gradient of
 * y = LayerNorm(x) * gamma + beta (biased variance) with respect to x, given dy; plus dxIn
 * when given (the kernel's accumulate).
 */
export function layerNormBackwardRef(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  cols: number,
  eps: number,
  dxIn?: ArrayLike<number>,
): Float64Array {
  const dx = new Float64Array(rows * cols);
  const xhat = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const { mean, inv } = layerNormRowStats(x, base, cols, eps);
    let meanG = 0;
    let meanGx = 0;
    for (let c = 0; c < cols; c++) {
      xhat[c] = (x[base + c] - mean) * inv;
      const g = dy[base + c] * gamma[c];
      meanG += g;
      meanGx += g * xhat[c];
    }
    meanG /= cols;
    meanGx /= cols;
    for (let c = 0; c < cols; c++) {
      dx[base + c] = inv * (dy[base + c] * gamma[c] - meanG - xhat[c] * meanGx) + (dxIn ? dxIn[base + c] : 0);
    }
  }
  return dx;
}
