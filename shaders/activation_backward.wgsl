// Backward of an elementwise activation: dx[i] = dy[i] * f'(x[i])  (+ dx[i] if accumulate),
// x being the activation's INPUT. Any n; x, dy read; dx a GPUBuffer distinct from both.
// Bindings: 0 uniform Params, 1 x, 2 dy (read), 3 dx (read_write).
// Function (override ACT, one pipeline per form):
//   0 gelu_erf  f = x Phi(x) (BERT):              f' = Phi(x) + x phi(x)
//   1 gelu_tanh f = x s, s = sigmoid(2u),         f' = s + x * 2 s(1-s) * du/dx
//               u = sqrt(2/pi)(x + 0.044715x^3) (GPT-2 gelu_new)
//   2 tanh                                        f' = 1 - tanh^2 x
// The GELU forms are shaders/gelu_prelude.wgsl's (same constants, the same A&S 7.1.26 erfc
// and the same clamped sigmoid), restated here because the prelude exposes gelu values, not
// Phi or s, and a derivative built from a division like geluErf(x)/x breaks at x = 0.
// Dispatch: grid1d(n, 256): i = gid.x + gid.y * nwg.x * 256; i >= n returns.
struct Params { n: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

override ACT: u32 = 0u;

// Phi(v) from erfc as the prelude's geluErf forms it (no cancellation for v < 0), and the
// normal density from the same exp(-v^2/2).
fn dGeluErf(v: f32) -> f32 {
  let z = abs(v) * 0.70710678118654752;
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let g = exp(-z * z);
  let erfc = poly * g;
  let cdf = 0.5 * select(erfc, 2.0 - erfc, v >= 0.0);
  return cdf + v * (0.3989422804014327 * g);
}

// s(1-s) = e s^2 with e = exp(-2u): no 1 - s cancellation where s is near 1. Past the
// prelude's clamp the forward is flat in f32, and the guard keeps x^2 overflow from making
// 0 * inf there.
fn dGeluTanh(v: f32) -> f32 {
  let u2 = 1.5957691216057308 * (v + 0.044715 * v * v * v);
  let e = exp(-clamp(u2, -80.0, 80.0));
  let s = 1.0 / (1.0 + e);
  let slope = v * ((e * s) * s) * (1.5957691216057308 * (1.0 + 0.134145 * v * v));
  return s + select(0.0, slope, abs(u2) < 80.0);
}

// 1 - tanh^2 = 4e / (1 + e)^2 with e = exp(-2|v|) <= 1: never overflows, and no cancellation
// of 1 - t^2 where |tanh| is near 1.
fn dTanh(v: f32) -> f32 {
  let e = exp(-2.0 * abs(v));
  let d = 1.0 + e;
  return 4.0 * e / (d * d);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let v = x[i];
  var d: f32;
  switch ACT {
    case 1u: { d = dGeluTanh(v); }
    case 2u: { d = dTanh(v); }
    default: { d = dGeluErf(v); }
  }
  let g = dy[i] * d;
  dx[i] = select(g, dx[i] + g, p.accumulate != 0u);
}
