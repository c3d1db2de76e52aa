// Row-wise softmax: y[r,c] = exp(x[r,c] - max_r) / sum_c' exp(x[r,c'] - max_r).
// Shapes: x, y [rows, cols] row-major f32. x and y distinct buffers.
// Dispatch: one workgroup of WG (override, 64 on GPUs, 4 on CPU adapters) per row,
//   grid1d(rows, 1): row = wid.x + wid.y * nwg.x.
// Each invocation keeps an online (max, sum) over its strided columns, so x is read twice
// (stats, output) instead of three times; the WG pairs are merged by every invocation after
// one barrier (cheaper on SwiftShader than a barrier per tree level). Values at or below
// -3e38 count as -infinity (WGSL may assume finite math, so no real infinities are used);
// a row with none above it gets zeros instead of 0/0.
struct Params { rows: u32, cols: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 64u;
const NEG = -3.0e38;
var<workgroup> maxes: array<f32, WG>;
var<workgroup> sums: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;

  var m = NEG;
  var s = 0.0;
  for (var c = lid; c < p.cols; c += WG) {
    let v = max(x[base + c], NEG);
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else if (v > NEG) {
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
  let inv = select(0.0, 1.0 / total, total > 0.0);

  for (var c = lid; c < p.cols; c += WG) {
    let v = x[base + c];
    y[base + c] = select(0.0, exp(v - rowMax) * inv, v > NEG);
  }
}
