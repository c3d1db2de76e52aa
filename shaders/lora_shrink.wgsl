// Segmented LoRA shrink over the paged adapter pool (Punica SGMV "shrink", S-LoRA MBGMV):
//   tmp[i, k] = sum_j x[i, j] * A_t[k, j]   for k < r_t, t = tenant of row i's segment.
// Shapes: x [rows, inDim] f32; tmp [rows, tmpStride] f32 (only k < r_t written; scale is
// applied by lora_expand).
// pool: f32 pages of pageFloats (= H) floats; page q holds pool[q*H .. q*H+H). Row k of A_t
//   spans pagesPerRow = ceil(inDim/H) pages whose indices are table[aOff + k*pagesPerRow + pg].
// tiles: vec4u (rowStart, rowCount 1..4, slot, 0): up to 4 rows of ONE segment, so all rows of
//   a thread share their tenant. Tiles [tileOffset, tileOffset+numTiles) are this dispatch's.
// table: u32. Per (module, slot) metadata at metaOffset + slot*4: (rank, scale f32 bits,
//   aOff, bOff), rank 0 = no LoRA on this module; plus the page-index lists aOff/bOff point to.
// Safety: page indices are clamped to the bound pool buffer and the rank to tmpStride, so a
//   bad table can read wrong weights but never outside the pool, x or tmp.
// Each thread computes a 4-row x 4-rank block: one x load serves 4 ranks, one A load 4 rows.
// Dispatch: grid1d(numTiles * kGroups, 64), kGroups = ceil(kCount/4); flat
//   g = (wid.x + wid.y*nwg.x)*64 + lid, tile = g / kGroups, ranks 4*(g % kGroups) .. +3;
//   kCount >= every rank of the module in the batch (ranks above kCount are not computed).
struct Params {
  rows: u32,
  inDim: u32,
  pageFloats: u32,
  tmpStride: u32,
  kCount: u32,
  tileOffset: u32,
  numTiles: u32,
  metaOffset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> pool: array<f32>;
@group(0) @binding(3) var<storage, read> tiles: array<vec4u>;
@group(0) @binding(4) var<storage, read> table: array<u32>;
@group(0) @binding(5) var<storage, read_write> tmp: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let g = (wid.x + wid.y * nwg.x) * 64u + lid;
  let kGroups = (p.kCount + 3u) / 4u;
  let t = g / kGroups;
  if (t >= p.numTiles) { return; }
  let k0 = (g - t * kGroups) * 4u;
  let tile = tiles[p.tileOffset + t];
  let m = p.metaOffset + tile.z * 4u;
  let rank = min(min(table[m], p.tmpStride), p.kCount);
  if (k0 >= rank || tile.y == 0u || tile.x >= p.rows || tile.y > p.rows - tile.x) { return; }  // no u32 wrap-around

  let H = p.pageFloats;
  let lastPage = arrayLength(&pool) / H - 1u;
  let pagesPerRow = (p.inDim + H - 1u) / H;
  // Ranks past the tenant's rank and rows past the tile's count repeat the last one: no
  // branch in the inner loop; they are not written.
  let kl = rank - 1u;
  let aOff = table[m + 2u];
  let r0 = aOff + k0 * pagesPerRow;
  let r1 = aOff + min(k0 + 1u, kl) * pagesPerRow;
  let r2 = aOff + min(k0 + 2u, kl) * pagesPerRow;
  let r3 = aOff + min(k0 + 3u, kl) * pagesPerRow;
  let last = tile.y - 1u;
  let x0 = tile.x * p.inDim;
  let x1 = (tile.x + min(1u, last)) * p.inDim;
  let x2 = (tile.x + min(2u, last)) * p.inDim;
  let x3 = (tile.x + min(3u, last)) * p.inDim;

  // acc_i holds row i's values for ranks k0..k0+3.
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var pg = 0u; pg < pagesPerRow; pg++) {
    let b0 = min(table[r0 + pg], lastPage) * H;
    let b1 = min(table[r1 + pg], lastPage) * H;
    let b2 = min(table[r2 + pg], lastPage) * H;
    let b3 = min(table[r3 + pg], lastPage) * H;
    let j0 = pg * H;
    let n = min(H, p.inDim - j0);
    for (var e = 0u; e < n; e++) {
      let a = vec4f(pool[b0 + e], pool[b1 + e], pool[b2 + e], pool[b3 + e]);
      let j = j0 + e;
      acc0 += x[x0 + j] * a;
      acc1 += x[x1 + j] * a;
      acc2 += x[x2 + j] * a;
      acc3 += x[x3 + j] * a;
    }
  }
  let s = p.tmpStride;
  let nk = min(4u, rank - k0);
  for (var j = 0u; j < nk; j++) {
    let k = k0 + j;
    tmp[tile.x * s + k] = acc0[j];
    if (tile.y > 1u) { tmp[(tile.x + 1u) * s + k] = acc1[j]; }
    if (tile.y > 2u) { tmp[(tile.x + 2u) * s + k] = acc2[j]; }
    if (tile.y > 3u) { tmp[(tile.x + 3u) * s + k] = acc3[j]; }
  }
}
