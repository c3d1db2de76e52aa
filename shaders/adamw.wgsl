// AdamW step over n parameters, torch.optim.AdamW's update (decoupled weight decay):
//   g = grads * gradScale
//   params *= 1 - lr*wd
//   m = beta1 m + (1 - beta1) g        v = beta2 v + (1 - beta2) g^2
//   params -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),   bc_i = 1 - beta_i^step
// The step-dependent scalars (1 - lr*wd, lr/bc1, sqrt(bc2), 1 - beta) come from the CPU in
// f64, rounded once to f32, as torch forms them in Python floats; the grouping of
// sqrt(v) / sqrt(bc2) + eps is torch's.
// Shapes: grads, params, m, v f32 [n] (any n); m and v start at 0. grads must not share a
//   GPUBuffer with the others (params, m, v may share one at disjoint ranges).
// Bindings: 0 uniform Params, 1 grads (read), 2 params, 3 m, 4 v (read_write).
// Dispatch: grid1d(n, 256): i = gid.x + gid.y * nwg.x * 256; i >= n returns.
struct Params {
  n: u32, beta1: f32, beta2: f32, oneMinusBeta1: f32,
  oneMinusBeta2: f32, decay: f32, stepSize: f32, sqrtBc2: f32,
  eps: f32, gradScale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let g = grads[i] * p.gradScale;
  let mi = p.beta1 * m[i] + p.oneMinusBeta1 * g;
  let vi = p.beta2 * v[i] + p.oneMinusBeta2 * (g * g);
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / p.sqrtBc2 + p.eps;
  params[i] = params[i] * p.decay - p.stepSize * (mi / denom);
}
