// Segmented LoRA shrink, decode-shaped (one row per thread): same math, bindings, tiles, page
// table and bounds semantics as lora_shrink.wgsl:
//   tmp[i, k] = sum_j x[i, j] * A_t[k, j]   for k < r_t, t = tenant of row i's segment.
// Shapes: x [rows, inDim] f32; tmp [rows, tmpStride] f32 (only k < r_t written).
// pool: the same f32 pages, read as vec4f: requires pageFloats % 4 == 0 (pages 16-byte aligned).
// tiles / table: as lora_shrink (tile vec4u (rowStart, rowCount 1..4, slot, 0); metadata
//   (rank, scale bits, aOff, bOff) at metaOffset + slot*4; A_t row k on pages
//   table[aOff + k*pagesPerRow + pg]).
// Why: in a decode step every tile has one row, and lora_shrink's 4-row x 4-rank block would
//   spend 3/4 of its work on repeated rows. Here a thread walks its tile's rows one at a time,
//   4 ranks each, reading A 4 floats per load (no other row shares the loads anyway).
// Bit-identity with lora_shrink: each (row, rank) sums x[i, j] * A[k, j] over j = 0..inDim-1 in
//   the same order with the same vec4 accumulate, so a row's result does not depend on which
//   variant the batch ran.
// Safety: page indices clamped to the bound pool buffer, rank to tmpStride and kCount.
// Dispatch: grid1d(numTiles * kGroups, 64), kGroups = ceil(kCount/4); flat
//   g = (wid.x + wid.y*nwg.x)*64 + lid, tile = g / kGroups, ranks 4*(g % kGroups) .. +3.
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
@group(0) @binding(2) var<storage, read> pool: array<vec4f>;
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
  let H4 = H / 4u;
  let lastPage = arrayLength(&pool) / H4 - 1u;
  let pagesPerRow = (p.inDim + H - 1u) / H;
  // Ranks past the tenant's rank repeat the last one: no branch in the inner loop; not written.
  let kl = rank - 1u;
  let aOff = table[m + 2u];
  let r0 = aOff + k0 * pagesPerRow;
  let r1 = aOff + min(k0 + 1u, kl) * pagesPerRow;
  let r2 = aOff + min(k0 + 2u, kl) * pagesPerRow;
  let r3 = aOff + min(k0 + 3u, kl) * pagesPerRow;
  let s = p.tmpStride;
  let nk = min(4u, rank - k0);

  for (var i = 0u; i < tile.y; i++) {
    let row = tile.x + i;
    let xb = row * p.inDim;
    var acc = vec4f(0.0);
    for (var pg = 0u; pg < pagesPerRow; pg++) {
      let b0 = min(table[r0 + pg], lastPage) * H4;
      let b1 = min(table[r1 + pg], lastPage) * H4;
      let b2 = min(table[r2 + pg], lastPage) * H4;
      let b3 = min(table[r3 + pg], lastPage) * H4;
      let j0 = xb + pg * H;
      let n = min(H, p.inDim - pg * H);
      let n4 = n / 4u;
      for (var e = 0u; e < n4; e++) {
        let a0 = pool[b0 + e];
        let a1 = pool[b1 + e];
        let a2 = pool[b2 + e];
        let a3 = pool[b3 + e];
        let j = j0 + e * 4u;
        acc += x[j] * vec4f(a0.x, a1.x, a2.x, a3.x);
        acc += x[j + 1u] * vec4f(a0.y, a1.y, a2.y, a3.y);
        acc += x[j + 2u] * vec4f(a0.z, a1.z, a2.z, a3.z);
        acc += x[j + 3u] * vec4f(a0.w, a1.w, a2.w, a3.w);
      }
      // Tail of the row's last page: 1..3 floats, still inside the page (H % 4 == 0).
      let rest = n - n4 * 4u;
      if (rest > 0u) {
        let a0 = pool[b0 + n4];
        let a1 = pool[b1 + n4];
        let a2 = pool[b2 + n4];
        let a3 = pool[b3 + n4];
        let j = j0 + n4 * 4u;
        acc += x[j] * vec4f(a0.x, a1.x, a2.x, a3.x);
        if (rest > 1u) { acc += x[j + 1u] * vec4f(a0.y, a1.y, a2.y, a3.y); }
        if (rest > 2u) { acc += x[j + 2u] * vec4f(a0.z, a1.z, a2.z, a3.z); }
      }
    }
    for (var j = 0u; j < nk; j++) {
      tmp[row * s + k0 + j] = acc[j];
    }
  }
}
