// Transposed-left matmul, the weight gradient of a linear layer (dW = X^T dY, the reduction
// running over token rows):
//   c[m,n] = alpha * sum_k a[k*lda + m] * b[k*ldb + n]   (+ c[m,n] if flags bit 0)
// Shapes: a: K rows of stride lda >= M (a[k*lda + m]); b: K rows of stride ldb >= N;
//   c [M, N] row-major f32, a GPUBuffer distinct from a and b. K may be 0 (c = 0, or unchanged
//   when accumulating).
// Bindings: 0 uniform Params, 1 a (read), 2 b (read), 3 c (read_write).
// Dispatch: (ceil(ceil(N/4)/WGX), ceil(ceil(M/4)/WGY)) workgroups of WGX x WGY (overrides).
// Each invocation owns a 4x4 block of c and walks k = 0..K-1 in order: per k, 4 loads of a
// and 4 of b feed 16 FMAs, with no workgroup memory and no barriers (the form SwiftShader
// runs fastest, as shaders/matmul_rb4x4.wgsl). One invocation owns each output and sums k in
// a fixed order, so there is no split reduction and no atomics: the same inputs give the same
// bits on every run, whatever the dispatch. Tail blocks clamp their loads to the last valid
// row/column (recomputing it) and skip it at the store, so tails stay exact.
struct Params { M: u32, N: u32, K: u32, lda: u32, ldb: u32, flags: u32, alpha: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

override WGX: u32 = 8u;
override WGY: u32 = 8u;

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let m0 = gid.y * 4u;
  let n0 = gid.x * 4u;
  if (m0 >= p.M || n0 >= p.N) { return; }
  let m1 = p.M - 1u;
  let n1 = p.N - 1u;
  let ms = vec4u(m0, min(m0 + 1u, m1), min(m0 + 2u, m1), min(m0 + 3u, m1));
  let ns = vec4u(n0, min(n0 + 1u, n1), min(n0 + 2u, n1), min(n0 + 3u, n1));
  var acc0 = vec4f();
  var acc1 = vec4f();
  var acc2 = vec4f();
  var acc3 = vec4f();
  for (var k = 0u; k < p.K; k++) {
    let ar = ms + k * p.lda;
    let br = ns + k * p.ldb;
    let av = vec4f(a[ar.x], a[ar.y], a[ar.z], a[ar.w]);
    let bv = vec4f(b[br.x], b[br.y], b[br.z], b[br.w]);
    acc0 += av.x * bv;
    acc1 += av.y * bv;
    acc2 += av.z * bv;
    acc3 += av.w * bv;
  }
  var acc = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  let accumulate = (p.flags & 1u) != 0u;
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m > m1) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n > n1) { break; }
      let o = m * p.N + n;
      let v = p.alpha * acc[i][j];
      c[o] = select(v, c[o] + v, accumulate);
    }
  }
}
