/**
 * CPU reference of shaders/matmul_tn.wgsl (f64): c[m,n] = alpha * sum_k a[k*lda+m] * b[k*ldb+n],
 * plus cIn[m*N+n] when cIn is given (the kernel's accumulate).
 */
export function matmulTnRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  lda = M,
  ldb = N,
  alpha = 1,
  cIn?: ArrayLike<number>,
): Float64Array {
  const c = new Float64Array(M * N);
  for (let k = 0; k < K; k++) {
    for (let m = 0; m < M; m++) {
      const am = a[k * lda + m];
      for (let n = 0; n < N; n++) c[m * N + n] += am * b[k * ldb + n];
    }
  }
  for (let i = 0; i < M * N; i++) c[i] = alpha * c[i] + (cIn ? cIn[i] : 0);
  return c;
}
