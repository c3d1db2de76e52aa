// Row gather: dst[i,:] = src[rowIdx[i],:] (e.g. each sequence's [CLS] or last row before a head).
// Shapes: src [srcRows, dim], dst [rows, dim] f32 row-major; rowIdx u32 [rows], clamped to
//   srcRows - 1 so a bad index never reads outside src.
// Dispatch: one invocation per output float, grid1d(rows*dim, 256):
//   e = wid.x * 256 + lid.x + wid.y * nwg.x * 256, i = e / dim, c = e % dim.
struct Params { rows: u32, dim: u32, srcRows: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> rowIdx: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= p.rows * p.dim) { return; }
  let i = e / p.dim;
  let c = e % p.dim;
  dst[e] = src[min(rowIdx[i], p.srcRows - 1u) * p.dim + c];
}
