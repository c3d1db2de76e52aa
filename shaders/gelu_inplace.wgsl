// GELU in place: x[i] = gelu(x[i]) over n floats (any n). Same math and forms as
// shaders/gelu.wgsl (keep the two in sync), for callers that do not want a second buffer;
// a separate kernel because x must be bound read_write here and read-only there.
// Dispatch: grid1d(n, 256): i = wid.x * 256 + lid.x + wid.y * nwg.x * 256.
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

override TANH: bool = false;

// Abramowitz & Stegun 7.1.26 erfc, |error| <= 1.5e-7 (see shaders/gelu.wgsl).
fn geluErf(v: f32) -> f32 {
  let z = abs(v) * 0.70710678118654752;
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let erfc = poly * exp(-z * z);
  return 0.5 * v * select(erfc, 2.0 - erfc, v >= 0.0);
}

// Sigmoid form of gelu_new with exp kept finite (see shaders/gelu.wgsl).
fn geluTanh(v: f32) -> f32 {
  let u2 = clamp(1.5957691216057308 * (v + 0.044715 * v * v * v), -80.0, 80.0);
  return v / (1.0 + exp(-u2));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let v = x[i];
  x[i] = select(geluErf(v), geluTanh(v), TANH);
}
