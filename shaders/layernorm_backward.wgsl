// Backward of shaders/layernorm.wgsl (biased variance) with respect to x only; gamma and beta
// are frozen, so their gradients are not formed. Per row, with xhat = (x - mean) * inv,
// inv = 1 / sqrt(var + eps) and g = dy * gamma:
//   dx = inv * (g - mean(g) - xhat * mean(g * xhat))        (+ dx if accumulate)
// Shapes: x, dy, dx [rows, cols] row-major f32 (dx a GPUBuffer distinct from the others);
//   gamma [cols].
// Bindings: 0 uniform Params, 1 x (declared by the prelude), 2 gamma, 3 dy (read),
//   4 dx (read_write).
// Dispatch: one workgroup of WG (override, declared by the prelude: 64 on GPUs, 4 on CPU
//   adapters) per row, grid1d(rows, 1): row = wid.x + wid.y * nwg.x.
// Composed after shaders/layernorm_stats_prelude.wgsl (src/kernels/layernorm-backward.ts):
// mean and inv come from the forward's own rowStats(), so inv matches the forward's to the
// bit; the two sums over g are two more of its workgroupSum() reductions. Every reduction is
// one partial per invocation, summed by every invocation in index order: a fixed order, so the
// result is the same bits on every run.
struct Params { rows: u32, cols: u32, eps: f32, accumulate: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let n = f32(p.cols);
  let st = rowStats(base, p.cols, p.eps, lid);
  let mean = st.mean;
  let inv = st.inv;

  var g1 = 0.0;
  var gx = 0.0;
  for (var c = lid; c < p.cols; c += WG) {
    let g = dy[base + c] * gamma[c];
    g1 += g;
    gx += g * ((x[base + c] - mean) * inv);
  }
  let meanG = workgroupSum(g1, lid) / n;
  let meanGx = workgroupSum(gx, lid) / n;

  for (var c = lid; c < p.cols; c += WG) {
    let xhat = (x[base + c] - mean) * inv;
    let v = inv * (dy[base + c] * gamma[c] - meanG - xhat * meanGx);
    dx[base + c] = select(v, dx[base + c] + v, p.accumulate != 0u);
  }
}
