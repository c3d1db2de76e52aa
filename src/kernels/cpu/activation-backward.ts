import type { BackwardActivation } from '../activation-backward.js';
import { erf, gelu } from './gelu.js';

/** The activation itself in f64 (the forward the gradient checks differentiate). */
export function activationRef(v: number, activation: BackwardActivation): number {
  switch (activation) {
    case 'gelu_erf':
      return gelu(v, 'erf');
    case 'gelu_tanh':
      return gelu(v, 'tanh');
    case 'tanh':
      return Math.tanh(v);
  }
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** f'(v) in f64. */
export function activationDerivative(v: number, activation: BackwardActivation): number {
  switch (activation) {
    case 'gelu_erf':
      return 0.5 * (1 + erf(v / Math.SQRT2)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI);
    case 'gelu_tanh': {
      const t = Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v ** 3));
      return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v);
    }
    case 'tanh': {
      const t = Math.tanh(v);
      return 1 - t * t;
    }
  }
}

/** CPU reference of shaders/activation_backward.wgsl: dy * f'(x) (+ dxIn when given). */
export function activationBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>, activation: BackwardActivation, dxIn?: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = dy[i] * activationDerivative(x[i], activation) + (dxIn ? dxIn[i] : 0);
  return dx;
}
