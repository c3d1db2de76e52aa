// LayerNorm over the last dimension, biased variance (as torch.nn.LayerNorm):
//   y[r,:] = (x[r,:] - mean) / sqrt(var + eps) * gamma + beta
// Shapes: x, y [rows, cols] row-major f32 (distinct buffers); gamma, beta [cols].
// Bindings: 0 uniform Params, 1 x (declared by the prelude), 2 gamma, 3 beta (read), 4 y
//   (read_write).
// Dispatch: one workgroup of WG (override, declared by the prelude: 64 on GPUs, 4 on CPU
//   adapters) per row, grid1d(rows, 1): row = wid.x + wid.y * nwg.x.
// Composed after shaders/layernorm_stats_prelude.wgsl (src/kernels/layernorm.ts): rowStats()
// gives mean and 1/sqrt(var + eps), two reductions (the centred one for the variance), the
// same code shaders/layernorm_backward.wgsl recomputes them with.
struct Params { rows: u32, cols: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let st = rowStats(base, p.cols, p.eps, lid);

  for (var c = lid; c < p.cols; c += WG) {
    y[base + c] = (x[base + c] - st.mean) * st.inv * gamma[c] + beta[c];
  }
}
