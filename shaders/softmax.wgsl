// Row-wise softmax: y[r,c] = exp(x[r,c] - max_r) / sum_c' exp(x[r,c'] - max_r).
// Shapes: x, y [rows, cols] row-major f32. x and y distinct buffers.
// Bindings: 0 uniform Params, 1 x (read), 2 y (read_write).
// Dispatch: one workgroup of WG (override, declared by the prelude: 64 on GPUs, 4 on CPU
//   adapters) per row, grid1d(rows, 1): row = wid.x + wid.y * nwg.x.
// Composed after shaders/softmax_stats_prelude.wgsl (src/kernels/softmax.ts): rowMaxSum()
// keeps an online (max, sum) per invocation over its strided columns, so x is read twice
// (stats, output) instead of three times, and merges the WG pairs after one barrier. Values at
// or below -3e38 (NEG) count as -infinity (masked: WGSL may assume finite math, so no real
// infinities are used); a row with none above it gets zeros instead of 0/0.
struct Params { rows: u32, cols: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn rowValue(i: u32) -> f32 { return x[i]; }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;

  let st = rowMaxSum(base, p.cols, lid, true);
  let inv = select(0.0, 1.0 / st.total, st.total > 0.0);

  for (var c = lid; c < p.cols; c += WG) {
    let v = x[base + c];
    y[base + c] = select(0.0, exp(v - st.rowMax) * inv, v > NEG);
  }
}
