// Residual add: out[i] = a[i] + b[i].
// Shapes: a, b, out are flat f32 arrays of length n (any n). out must not alias a or b:
// WebGPU forbids one buffer bound read-only and read-write in the same dispatch.
// Dispatch: grid1d(n, 256): the flat index is wid.x * 256 + lid.x + wid.y * nwg.x * 256.
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  out[i] = a[i] + b[i];
}
