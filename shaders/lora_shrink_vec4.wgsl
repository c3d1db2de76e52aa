// Segmented LoRA shrink, prefill-shaped with vec4 loads: same math, tiles, page table and
// bounds semantics as lora_shrink.wgsl:
//   tmp[i, k] = sum_j x[i, j] * A_t[k, j]   for k < r_t, t = tenant of row i's segment.
// Shapes: x [rows, inDim] f32 read as vec4f: requires inDim % 4 == 0; tmp [rows, tmpStride] f32
//   (only k < r_t written).
// pool: the same f32 pages, read as vec4f: requires pageFloats % 4 == 0 (pages 16-byte aligned).
// Params, tiles, table and their addressing: shaders/lora_prelude.wgsl, prepended by
//   src/kernels/lora-shrink.ts (Params.dim = inDim, Params.groups = kCount).
// Why: lora_shrink's block of 4 rows x 4 ranks issues 8 scalar loads per 16 FMAs. Here every
//   load is a vec4 (4 consecutive j of one x row or one A row): 8 vec4 loads feed 64 FMAs, as in
//   matmul_rb4x4, which is what a CPU-style Vulkan (SwiftShader) runs fastest. A one-row tile
//   (a decode step) takes a branch that computes that row alone: 5 vec4 loads per 16 FMAs,
//   where lora_shrink_rows needs 4 vec4 and 4 scalar loads.
// Bit-identity with lora_shrink / lora_shrink_rows: each (row, rank) adds x[i, j] * A[k, j] for
//   j = 0..inDim-1 in order into the same vec4 accumulator, so a row's result does not depend on
//   which variant its batch ran.
// Safety: page indices clamped to the bound pool buffer, rank to tmpStride and kCount; rows past
//   the tile's count and ranks past the tenant's repeat the last one and are not written.
// Dispatch: grid1d(numTiles * kGroups, 64), kGroups = ceil(kCount/4); flat
//   g = (wid.x + wid.y*nwg.x)*64 + lid, tile = g / kGroups, ranks 4*(g % kGroups) .. +3.
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> pool: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> tmp: array<f32>;

// One j of 4 ranks into a row's accumulator: the order lora_shrink adds them in.
fn madd(acc: vec4f, xv: vec4f, a0: vec4f, a1: vec4f, a2: vec4f, a3: vec4f) -> vec4f {
  var s = acc;
  s += xv.x * vec4f(a0.x, a1.x, a2.x, a3.x);
  s += xv.y * vec4f(a0.y, a1.y, a2.y, a3.y);
  s += xv.z * vec4f(a0.z, a1.z, a2.z, a3.z);
  s += xv.w * vec4f(a0.w, a1.w, a2.w, a3.w);
  return s;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let w = shrinkWork(wid, lid, nwg);
  if (!w.valid) { return; }
  let inDim = p.dim;
  let tile = w.tile;

  let H = p.pageFloats;
  let H4 = H / 4u;
  let lastPage = arrayLength(&pool) / H4 - 1u;
  let r = rankRows4(loraAPages(w.slotMeta), w.k0, w.rank, pagesPerRow());
  let in4 = inDim / 4u;
  let xr = tileRows4(tile, in4);

  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var pg = 0u; pg < pagesPerRow(); pg++) {
    let b0 = pageBase(r.x + pg, lastPage, H4);
    let b1 = pageBase(r.y + pg, lastPage, H4);
    let b2 = pageBase(r.z + pg, lastPage, H4);
    let b3 = pageBase(r.w + pg, lastPage, H4);
    let e0 = pg * H4;
    let n4 = min(H4, in4 - e0);
    // A decode step's tiles hold one row each: skip the three repeated rows' work.
    if (tile.y == 1u) {
      for (var e = 0u; e < n4; e++) {
        acc0 = madd(acc0, x[xr.x + e0 + e], pool[b0 + e], pool[b1 + e], pool[b2 + e], pool[b3 + e]);
      }
      continue;
    }
    for (var e = 0u; e < n4; e++) {
      let a0 = pool[b0 + e];
      let a1 = pool[b1 + e];
      let a2 = pool[b2 + e];
      let a3 = pool[b3 + e];
      let j = e0 + e;
      acc0 = madd(acc0, x[xr.x + j], a0, a1, a2, a3);
      acc1 = madd(acc1, x[xr.y + j], a0, a1, a2, a3);
      acc2 = madd(acc2, x[xr.z + j], a0, a1, a2, a3);
      acc3 = madd(acc3, x[xr.w + j], a0, a1, a2, a3);
    }
  }
  let s = p.tmpStride;
  let nk = min(4u, w.rank - w.k0);
  for (var j = 0u; j < nk; j++) {
    let k = w.k0 + j;
    tmp[tile.x * s + k] = acc0[j];
    if (tile.y > 1u) { tmp[(tile.x + 1u) * s + k] = acc1[j]; }
    if (tile.y > 2u) { tmp[(tile.x + 2u) * s + k] = acc2[j]; }
    if (tile.y > 3u) { tmp[(tile.x + 3u) * s + k] = acc3[j]; }
  }
}
