// Shared row statistics of the softmax kernels: not a kernel. src/kernels/softmax.ts prepends
// it to shaders/softmax.wgsl and src/kernels/cross-entropy.ts to shaders/cross_entropy.wgsl,
// one workgroup a row in both, of WG invocations (the override declared here; 64 on GPUs, 4 on
// CPU adapters). The kernel declares
//   fn rowValue(i: u32) -> f32   (element i of the kernel's input, i = row base + column)
// and calls, from uniform control flow:
//   rowMaxSum(base, cols, lid, masked) -> RowMaxSum: the row's max and sum_c exp(v_c - max)
//     over v_c = rowValue(base + c), c < cols. With masked, values at or below NEG count as
//     -infinity (clamped to NEG and left out of the sum; a row with none above it gets
//     rowMax = NEG and total = 0); without, every value counts as it is.
// Each invocation keeps an online (max, sum) over its strided columns, so the input is read
// once here; then every invocation merges the WG pairs in index order after one barrier (a
// fixed order, the same bits on every run, and cheaper on SwiftShader than a barrier per tree
// level). NEG stands for -infinity: WGSL may assume finite math, so no real infinities are used.
override WG: u32 = 64u;
const NEG = -3.0e38;
var<workgroup> maxes: array<f32, WG>;
var<workgroup> sums: array<f32, WG>;

struct RowMaxSum { rowMax: f32, total: f32 }

fn rowMaxSum(base: u32, cols: u32, lid: u32, masked: bool) -> RowMaxSum {
  var m = NEG;
  var s = 0.0;
  for (var c = lid; c < cols; c += WG) {
    let raw = rowValue(base + c);
    let v = select(raw, max(raw, NEG), masked);
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else if (!masked || v > NEG) {
      s += exp(v - m);
    }
  }
  maxes[lid] = m;
  sums[lid] = s;
  workgroupBarrier();

  var rowMax = NEG;
  for (var i = 0u; i < WG; i++) { rowMax = max(rowMax, maxes[i]); }
  var total = 0.0;
  for (var i = 0u; i < WG; i++) { total += sums[i] * exp(maxes[i] - rowMax); }
  return RowMaxSum(rowMax, total);
}
