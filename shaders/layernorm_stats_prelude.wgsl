// Shared LayerNorm row statistics: not a kernel. src/kernels/layernorm.ts prepends it to
// shaders/layernorm.wgsl and src/kernels/layernorm-backward.ts to shaders/layernorm_backward.wgsl,
// each after shaders/workgroup_sum_prelude.wgsl (WG, workgroupSum), so the backward's mean and
// 1/sqrt(var + eps) are the forward's to the bit.
// Declared here: binding 1, x [rows, cols] row-major f32. The kernel declares its other
// bindings and calls, from uniform control flow:
//   rowStats(base, cols, eps, lid): the mean of x[base .. base + cols] and 1 / sqrt(var + eps),
//     biased variance. Two reductions rather than E[x^2] - mean^2, which cancels badly for
//     rows with a large mean (residual streams drift).
@group(0) @binding(1) var<storage, read> x: array<f32>;

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
