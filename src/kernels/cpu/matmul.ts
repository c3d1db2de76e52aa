import type { MatmulActivation, WeightLayout } from '../matmul.js';

export interface MatmulRefArgs {
  /** [M, K] */
  x: ArrayLike<number>;
  /** 'kn': [K, N]; 'nk': [N, K] */
  w: ArrayLike<number>;
  bias?: ArrayLike<number>;
  /** Initial y [M, N], read when accumulate is set. */
  y?: ArrayLike<number>;
  M: number;
  N: number;
  K: number;
  wLayout: WeightLayout;
  alpha?: number;
  accumulate?: boolean;
  activation?: MatmulActivation;
}

/**
 * erf to double precision: its Maclaurin series below 2.5 (at most ~4 digits lost to
 * cancellation), the Laplace continued fraction of erfc above (converges fast there).
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 2.5) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 100 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  let f = a;
  for (let n = 60; n >= 1; n--) f = a + n / 2 / f;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export function geluErf(v: number): number {
  return 0.5 * v * (1 + erf(v / Math.SQRT2));
}

export function geluTanh(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
}

/** CPU reference of the shaders/matmul_*.wgsl family, accumulated in f64. */
export function matmulRef(a: MatmulRefArgs): Float64Array {
  const { x, w, bias, M, N, K } = a;
  const alpha = a.alpha ?? 1;
  const act = a.activation === 'gelu_erf' ? geluErf : a.activation === 'gelu_tanh' ? geluTanh : (v: number) => v;
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[m * K + k] * (a.wLayout === 'kn' ? w[k * N + n] : w[n * K + k]);
      let v = act(alpha * acc + (bias ? bias[n] : 0));
      if (a.accumulate) {
        if (!a.y) throw new Error('matmulRef: accumulate needs the initial y');
        v += a.y[m * N + n];
      }
      out[m * N + n] = v;
    }
  }
  return out;
}
