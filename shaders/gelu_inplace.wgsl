// GELU in place: x[i] = gelu(x[i]) over n floats (any n), for callers that do not want a second
// buffer; a kernel of its own because x must be bound read_write here and read-only in
// shaders/gelu.wgsl. Math: shaders/gelu_prelude.wgsl, prepended by src/kernels/gelu.ts.
// Form (override TANH): false = geluErf (BERT), true = geluTanh (GPT-2 gelu_new).
// Dispatch: grid1d(n, 256): i = wid.x * 256 + lid.x + wid.y * nwg.x * 256; i >= n returns.
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

override TANH: bool = false;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let v = x[i];
  x[i] = select(geluErf(v), geluTanh(v), TANH);
}
