// Backward of shaders/layernorm.wgsl (biased variance) with respect to x only; gamma and beta
// are frozen, so their gradients are not formed. Per row, with xhat = (x - mean) * inv,
// inv = 1 / sqrt(var + eps) and g = dy * gamma:
//   dx = inv * (g - mean(g) - xhat * mean(g * xhat))        (+ dx if accumulate)
// Shapes: x, dy, dx [rows, cols] row-major f32 (dx a GPUBuffer distinct from the others);
//   gamma [cols].
// Bindings: 0 uniform Params, 1 x, 2 gamma, 3 dy (read), 4 dx (read_write).
// Dispatch: one workgroup of WG (override, 64 on GPUs, 4 on CPU adapters) per row,
//   grid1d(rows, 1): row = wid.x + wid.y * nwg.x.
// Mean and variance are recomputed exactly as the forward computes them (two reductions, the
// centred one for the variance), so inv matches the forward's. The two sums over g ride one
// reduction as a vec2. Every reduction is one partial per invocation, summed by every
// invocation in index order: a fixed order, so the result is the same bits on every run.
struct Params { rows: u32, cols: u32, eps: f32, accumulate: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

override WG: u32 = 64u;
var<workgroup> partial: array<vec2f, WG>;

fn workgroupSum(v: vec2f, lid: u32) -> vec2f {
  partial[lid] = v;
  workgroupBarrier();
  var total = vec2f(0.0);
  for (var i = 0u; i < WG; i++) { total += partial[i]; }
  // The next reduction overwrites partial.
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let n = f32(p.cols);

  var s = 0.0;
  for (var c = lid; c < p.cols; c += WG) { s += x[base + c]; }
  let mean = workgroupSum(vec2f(s, 0.0), lid).x / n;

  var sq = 0.0;
  for (var c = lid; c < p.cols; c += WG) {
    let d = x[base + c] - mean;
    sq += d * d;
  }
  let inv = inverseSqrt(workgroupSum(vec2f(sq, 0.0), lid).x / n + p.eps);

  var gs = vec2f(0.0);
  for (var c = lid; c < p.cols; c += WG) {
    let g = dy[base + c] * gamma[c];
    gs += vec2f(g, g * ((x[base + c] - mean) * inv));
  }
  let means = workgroupSum(gs, lid) / n;

  for (var c = lid; c < p.cols; c += WG) {
    let xhat = (x[base + c] - mean) * inv;
    let v = inv * (dy[base + c] * gamma[c] - means.x - xhat * means.y);
    dx[base + c] = select(v, dx[base + c] + v, p.accumulate != 0u);
  }
}
