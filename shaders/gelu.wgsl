// GELU, out of place: y[i] = gelu(x[i]) over n floats (any n). x and y distinct buffers;
// shaders/gelu_inplace.wgsl is the same math with x bound read_write (keep the two in sync:
// test/kernels/gelu.test.ts checks both against the f64 reference).
// Form (override TANH): false = exact BERT gelu 0.5x(1 + erf(x/sqrt2)); true = GPT-2 gelu_new
//   0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))).
// Dispatch: grid1d(n, 256): i = wid.x * 256 + lid.x + wid.y * nwg.x * 256.
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override TANH: bool = false;

// WGSL has no erf. Abramowitz & Stegun 7.1.26 gives erfc(z) for z >= 0 with |error| <= 1.5e-7;
// working with erfc directly keeps the x < 0 side free of the cancellation in 1 + erf.
fn geluErf(v: f32) -> f32 {
  let z = abs(v) * 0.70710678118654752;
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let erfc = poly * exp(-z * z);
  return 0.5 * v * select(erfc, 2.0 - erfc, v >= 0.0);
}

// 0.5(1 + tanh(u)) = 1 / (1 + exp(-2u)): no tanh, whose exp-based lowering overflows to NaN on
// some backends for large |u|. The clamp keeps exp finite; past it the factor is 0 or 1 in f32.
fn geluTanh(v: f32) -> f32 {
  let u2 = clamp(1.5957691216057308 * (v + 0.044715 * v * v * v), -80.0, 80.0);
  return v / (1.0 + exp(-u2));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let v = x[i];
  y[i] = select(geluErf(v), geluTanh(v), TANH);
}
