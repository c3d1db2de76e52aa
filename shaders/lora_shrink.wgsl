// Segmented LoRA shrink over the paged adapter pool (Punica SGMV "shrink", S-LoRA MBGMV):
//   tmp[i, k] = sum_j x[i, j] * A_t[k, j]   for k < r_t, t = tenant of row i's segment.
// Shapes: x [rows, inDim] f32; tmp [rows, tmpStride] f32 (only k < r_t written; scale is
// applied by lora_expand).
// pool: f32 pages of pageFloats (= H) floats; page q holds pool[q*H .. q*H+H). Row k of A_t
//   spans pagesPerRow = ceil(inDim/H) pages whose indices are table[aOff + k*pagesPerRow + pg].
// Params, tiles, table (metadata and page lists) and their addressing: shaders/lora_prelude.wgsl,
//   prepended by src/kernels/lora-shrink.ts (Params.dim = inDim, Params.groups = kCount).
// Safety: page indices are clamped to the bound pool buffer and the rank to tmpStride, so a
//   bad table can read wrong weights but never outside the pool, x or tmp.
// Each thread computes a 4-row x 4-rank block: one x load serves 4 ranks, one A load 4 rows.
// Dispatch: grid1d(numTiles * kGroups, 64), kGroups = ceil(kCount/4); flat
//   g = (wid.x + wid.y*nwg.x)*64 + lid, tile = g / kGroups, ranks 4*(g % kGroups) .. +3;
//   kCount >= every rank of the module in the batch (ranks above kCount are not computed).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> pool: array<f32>;
@group(0) @binding(5) var<storage, read_write> tmp: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let w = shrinkWork(wid, lid, nwg);
  if (!w.valid) { return; }
  let inDim = p.dim;
  let tile = w.tile;

  let H = p.pageFloats;
  let lastPage = arrayLength(&pool) / H - 1u;
  let r = rankRows4(loraAPages(w.slotMeta), w.k0, w.rank, pagesPerRow());
  let xr = tileRows4(tile, inDim);

  // acc_i holds row i's values for ranks k0..k0+3.
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var pg = 0u; pg < pagesPerRow(); pg++) {
    let b0 = pageBase(r.x + pg, lastPage, H);
    let b1 = pageBase(r.y + pg, lastPage, H);
    let b2 = pageBase(r.z + pg, lastPage, H);
    let b3 = pageBase(r.w + pg, lastPage, H);
    let j0 = pg * H;
    let n = min(H, inDim - j0);
    for (var e = 0u; e < n; e++) {
      let a = vec4f(pool[b0 + e], pool[b1 + e], pool[b2 + e], pool[b3 + e]);
      let j = j0 + e;
      acc0 += x[xr.x + j] * a;
      acc1 += x[xr.y + j] * a;
      acc2 += x[xr.z + j] * a;
      acc3 += x[xr.w + j] * a;
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
