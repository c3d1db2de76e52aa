// Backward of an elementwise activation: dx[i] = dy[i] * f'(x[i])  (+ dx[i] if accumulate),
// x being the activation's INPUT. Any n; x, dy read; dx a GPUBuffer distinct from both.
// Bindings: 0 uniform Params, 1 x, 2 dy (read), 3 dx (read_write).
// Function (override ACT, one pipeline per form):
//   0 gelu_erf  f = x Phi(x) (BERT):              f' = Phi(x) + x phi(x)
//   1 gelu_tanh f = x s, s = sigmoid(2u),         f' = s + x * 2 s(1-s) * du/dx
//               u = sqrt(2/pi)(x + 0.044715x^3) (GPT-2 gelu_new)
//   2 tanh                                        f' = 1 - tanh^2 x
// Composed after shaders/gelu_prelude.wgsl (src/kernels/activation-backward.ts): the GELU
// derivatives are built from the prelude's pieces (geluErfParts: the A&S 7.1.26 erfc and its
// Gaussian; geluTanhArg, geluTanhArgSlope and GELU_TANH_CLAMP: the clamped sigmoid's argument),
// so they differentiate the very forward the gelu kernels and the matmul epilogue run. Not
// built from gelu values: a derivative from a division like geluErf(x)/x breaks at x = 0.
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
  let e = geluErfParts(v);
  let cdf = 0.5 * select(e.erfc, 2.0 - e.erfc, v >= 0.0);
  return cdf + v * (0.3989422804014327 * e.gauss);
}

// s(1-s) = e s^2 with e = exp(-2u): no 1 - s cancellation where s is near 1. Past the
// prelude's clamp the forward is flat in f32, and the guard keeps x^2 overflow from making
// 0 * inf there.
fn dGeluTanh(v: f32) -> f32 {
  let u2 = geluTanhArg(v);
  let e = exp(-clamp(u2, -GELU_TANH_CLAMP, GELU_TANH_CLAMP));
  let s = 1.0 / (1.0 + e);
  let slope = v * ((e * s) * s) * geluTanhArgSlope(v);
  return s + select(0.0, slope, abs(u2) < GELU_TANH_CLAMP);
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
