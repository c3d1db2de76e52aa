import { gelu } from './gelu.js';
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

export function geluErf(v: number): number {
  return gelu(v, 'erf');
}

export function geluTanh(v: number): number {
  return gelu(v, 'tanh');
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
