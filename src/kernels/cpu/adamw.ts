import type { AdamWHyperparameters } from '../adamw.js';

export interface AdamWState {
  params: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/**
 * CPU reference of shaders/adamw.wgsl (f64), torch.optim.AdamW's update: returns the new
 * params, m and v (the inputs are not modified).
 */
export function adamwRef(params: ArrayLike<number>, grads: ArrayLike<number>, m: ArrayLike<number>, v: ArrayLike<number>, h: AdamWHyperparameters): AdamWState {
  const n = params.length;
  const out: AdamWState = { params: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) };
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  const scale = h.gradScale ?? 1;
  for (let i = 0; i < n; i++) {
    const g = grads[i] * scale;
    const mi = h.beta1 * m[i] + (1 - h.beta1) * g;
    const vi = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    const p = params[i] * (1 - h.lr * h.weightDecay);
    out.params[i] = p - (h.lr / bc1) * (mi / (Math.sqrt(vi) / Math.sqrt(bc2) + h.eps));
    out.m[i] = mi;
    out.v[i] = vi;
  }
  return out;
}
