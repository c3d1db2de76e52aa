// Shared LayerNorm row statistics: not a kernel. src/kernels/layernorm.ts prepends it to
// shaders/layernorm.wgsl and src/kernels/layernorm-backward.ts to shaders/layernorm_backward.wgsl,
// so the backward's mean and 1/sqrt(var + eps) are the forward's to the bit.
// Declared here: binding 1, x [rows, cols] row-major f32, and the override WG (invocations per
// row, one workgroup a row; 64 on GPUs, 4 on CPU adapters). The kernel declares its other
// bindings and calls, from uniform control flow:
//   workgroupSum(v, lid): the sum of every invocation's v, in index order (a fixed order, the
//     same bits on every run). One partial per invocation, and every invocation sums all WG:
//     two barriers instead of a log2(WG)-level tree (2.3x faster on SwiftShader, where a
//     barrier switches every SIMD group's fiber).
//   rowStats(base, cols, eps, lid): the mean of x[base .. base + cols] and 1 / sqrt(var + eps),
//     biased variance. Two reductions rather than E[x^2] - mean^2, which cancels badly for
//     rows with a large mean (residual streams drift).
@group(0) @binding(1) var<storage, read> x: array<f32>;

override WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

fn workgroupSum(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < WG; i++) { total += partial[i]; }
  // The next reduction overwrites partial.
  workgroupBarrier();
  return total;
}

struct RowStats { mean: f32, inv: f32 }

fn rowStats(base: u32, cols: u32, eps: f32, lid: u32) -> RowStats {
  let n = f32(cols);
  var s = 0.0;
  for (var c = lid; c < cols; c += WG) { s += x[base + c]; }
  let mean = workgroupSum(s, lid) / n;

  var sq = 0.0;
  for (var c = lid; c < cols; c += WG) {
    let d = x[base + c] - mean;
    sq += d * d;
  }
  return RowStats(mean, inverseSqrt(workgroupSum(sq, lid) / n + eps));
}
