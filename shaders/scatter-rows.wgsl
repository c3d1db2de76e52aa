// Strided row scatter: for i < rows, c < dim:
//   dst[rowIdx[i] * dstStride + dstOffset + c] = src[i * srcStride + srcOffset + c]
// Used to append a step's keys and values (columns H..3H of GPT-2's fused c_attn output
// [rows, 3H]) to the rows of the KV cache that belong to each sequence's next positions.
// Shapes: src f32 [rows, srcStride], rowIdx u32 [rows] (distinct), dst f32 [*, dstStride].
// Dispatch: grid1d(rows * dim, 256): flat index e = gid.x + gid.y * nwg.x * 256,
// row i = e / dim, column c = e % dim.
struct Params {
  rows: u32,
  dim: u32,
  srcStride: u32,
  srcOffset: u32,
  dstStride: u32,
  dstOffset: u32,
}

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
  dst[rowIdx[i] * p.dstStride + p.dstOffset + c] = src[i * p.srcStride + p.srcOffset + c];
}
