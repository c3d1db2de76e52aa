// The sum over one workgroup: not a kernel. Prepended (src/kernels/) to the row reductions
// with a workgroup a row: layernorm and layernorm_backward (through layernorm_stats_prelude.wgsl)
// and plot_combine.
// Declared here: the override WG (invocations per row; 64 on GPUs, 4 on CPU adapters) and
// workgroupSum(v, lid), called from uniform control flow: the sum of every invocation's v, in
// index order (a fixed order, the same bits on every run). One partial per invocation, and
// every invocation sums all WG: two barriers instead of a log2(WG)-level tree (2.3x faster on
// SwiftShader, where a barrier switches every SIMD group's fiber).
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
