import type { GeluForm } from '../gelu.js';

/**
 * erf in f64 from the series erf(z) = 2/sqrt(pi) e^{-z^2} sum_n 2^n z^{2n+1} / (1*3*...*(2n+1)),
 * whose terms are all positive (no cancellation, unlike the Maclaurin series); past |z| = 6
 * erfc is below 2e-17, so erf is +-1 to double precision.
 */
export function erf(z: number): number {
  const a = Math.abs(z);
  if (a >= 6) return Math.sign(z);
  let term = a;
  let sum = a;
  for (let n = 1; term > sum * 1e-17; n++) {
    term *= (2 * a * a) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(z) * (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum;
}

export function gelu(v: number, form: GeluForm): number {
  if (form === 'erf') return 0.5 * v * (1 + erf(v / Math.SQRT2));
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
}

/** CPU reference of shaders/gelu.wgsl and shaders/gelu_inplace.wgsl. */
export function geluRef(x: ArrayLike<number>, form: GeluForm): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = gelu(x[i], form);
  return y;
}
