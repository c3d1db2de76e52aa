// Segmented LoRA shrink, decode-shaped (one row per thread): same math, bindings, tiles, page
// table and bounds semantics as lora_shrink.wgsl:
//   tmp[i, k] = sum_j x[i, j] * A_t[k, j]   for k < r_t, t = tenant of row i's segment.
// Shapes: x [rows, inDim] f32; tmp [rows, tmpStride] f32 (only k < r_t written).
// pool: the same f32 pages, read as vec4f: requires pageFloats % 4 == 0 (pages 16-byte aligned).
// Params, tiles, table and their addressing: shaders/lora_prelude.wgsl, prepended by
//   src/kernels/lora-shrink.ts (Params.dim = inDim, Params.groups = kCount).
// Why: in a decode step every tile has one row, and lora_shrink's 4-row x 4-rank block would
//   spend 3/4 of its work on repeated rows. Here a thread walks its tile's rows one at a time,
//   4 ranks each, reading A 4 floats per load (no other row shares the loads anyway).
// Bit-identity with lora_shrink: each (row, rank) sums x[i, j] * A[k, j] over j = 0..inDim-1 in
//   the same order with the same vec4 accumulate, so a row's result does not depend on which
//   variant the batch ran.
// Safety: page indices clamped to the bound pool buffer, rank to tmpStride and kCount.
// Dispatch: grid1d(numTiles * kGroups, 64), kGroups = ceil(kCount/4); flat
//   g = (wid.x + wid.y*nwg.x)*64 + lid, tile = g / kGroups, ranks 4*(g % kGroups) .. +3.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> pool: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> tmp: array<f32>;

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
  let s = p.tmpStride;
  let nk = min(4u, w.rank - w.k0);

  for (var i = 0u; i < tile.y; i++) {
    let row = tile.x + i;
    let xb = row * inDim;
    var acc = vec4f(0.0);
    for (var pg = 0u; pg < pagesPerRow(); pg++) {
      let b0 = pageBase(r.x + pg, lastPage, H4);
      let b1 = pageBase(r.y + pg, lastPage, H4);
      let b2 = pageBase(r.z + pg, lastPage, H4);
      let b3 = pageBase(r.w + pg, lastPage, H4);
      let j0 = xb + pg * H;
      let n = min(H, inDim - pg * H);
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
      tmp[row * s + w.k0 + j] = acc[j];
    }
  }
}
