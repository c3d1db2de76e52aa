// Element-wise hyperbolic tangent: y[i] = tanh(x[i]) (BERT's pooler activation).
// Shapes: x, y are flat f32 arrays of length n (any n); y must not alias x.
// Dispatch: grid1d(n, 256): the flat index is gid.x + gid.y * nwg.x * 256.
// Built from exp(-2|x|), which never overflows, instead of the builtin: some drivers
// compute tanh as a ratio of exps that becomes inf/inf = NaN for |x| above ~44.
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn tanh_stable(v: f32) -> f32 {
  let a = abs(v);
  if (a < 0.0625) {
    // 1 - exp(-2a) cancels near 0; the odd series keeps full relative precision there.
    let a2 = a * a;
    return v * (1.0 - a2 * (1.0 / 3.0 - a2 * (2.0 / 15.0 - a2 * (17.0 / 315.0))));
  }
  let t = exp(-2.0 * a);
  return sign(v) * (1.0 - t) / (1.0 + t);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  y[i] = tanh_stable(x[i]);
}
