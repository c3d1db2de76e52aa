// Segmented LoRA expand, decode-shaped (one row per thread): same math, bindings, tiles, page
// table and bounds semantics as lora_expand.wgsl:
//   y[i, c] += scale_t * sum_{k < r_t} tmp[i, k] * B_t[c, k]   t = tenant of row i's segment.
// Shapes: tmp [rows, tmpStride] f32 (from lora_shrink*); y [rows, outDim] f32, updated in place.
// pool: the same f32 pages, read as vec4f: requires pageFloats % 4 == 0 (pages 16-byte aligned).
//   B_t stored transposed: row k of B_t^T on pages table[bOff + k*pagesPerRow + pg],
//   pagesPerRow = ceil(outDim/H). Params, tiles, table and their addressing:
//   shaders/lora_prelude.wgsl, prepended by src/kernels/lora-expand.ts.
// Why: in a decode step every tile has one row, and lora_expand's 4-row x 4-column block would
//   spend 3/4 of its work on repeated rows. Here a thread walks its tile's rows one at a time,
//   16 consecutive columns each as 4 vec4 loads of B^T (one tmp load serves 16 columns).
// Bit-identity with lora_expand: each (row, column) sums tmp[i, k] * B[c, k] over k = 0..r-1 in
//   the same order with the same vec4 accumulate, then adds scale * sum to y once.
// Safety: page indices clamped to the bound pool buffer, rank to tmpStride; column groups past
//   outDim repeat the last group (inside its page) and are not written.
// Dispatch: grid1d(numTiles * colGroups, 64), colGroups = ceil(outDim/16);
//   flat g = (wid.x + wid.y*nwg.x)*64 + lid, tile = g / colGroups, columns 16*(g % colGroups) .. +15.
@group(0) @binding(1) var<storage, read> tmp: array<f32>;
@group(0) @binding(2) var<storage, read> pool: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let w = expandWork(wid, lid, nwg);
  if (!w.valid) { return; }
  let outDim = p.dim;
  let tile = w.tile;

  let H = p.pageFloats;
  let H4 = H / 4u;
  let lastPage = arrayLength(&pool) / H4 - 1u;
  let perRow = pagesPerRow();
  let bOff = loraBPages(w.slotMeta);
  let c0 = w.cg * 16u;
  // First column of each of the 4 groups, past outDim clamped to the last group's first column.
  let cl = ((outDim - 1u) / 4u) * 4u;
  let c = min(vec4u(c0, c0 + 4u, c0 + 8u, c0 + 12u), vec4u(cl));
  let cp = c / H;
  let co = (c - cp * H) / 4u;
  // Usual case (H a multiple of 16): the 16 columns on one page, one table read per k.
  let onePage = cp.x == cp.w;
  let s = p.tmpStride;

  for (var i = 0u; i < tile.y; i++) {
    let row = tile.x + i;
    let tb = row * s;
    var a0 = vec4f(0.0);
    var a1 = vec4f(0.0);
    var a2 = vec4f(0.0);
    var a3 = vec4f(0.0);
    // Branch outside the k loop: the loop body stays branch-free.
    if (onePage) {
      let pageAt = bOff + cp.x;
      for (var k = 0u; k < w.rank; k++) {
        let v = tmp[tb + k];
        let base = pageBase(pageAt + k * perRow, lastPage, H4);
        a0 += v * pool[base + co.x];
        a1 += v * pool[base + co.y];
        a2 += v * pool[base + co.z];
        a3 += v * pool[base + co.w];
      }
    } else {
      for (var k = 0u; k < w.rank; k++) {
        let rowBase = bOff + k * perRow;
        let v = tmp[tb + k];
        a0 += v * pool[pageBase(rowBase + cp.x, lastPage, H4) + co.x];
        a1 += v * pool[pageBase(rowBase + cp.y, lastPage, H4) + co.y];
        a2 += v * pool[pageBase(rowBase + cp.z, lastPage, H4) + co.z];
        a3 += v * pool[pageBase(rowBase + cp.w, lastPage, H4) + co.w];
      }
    }
    let yb = row * outDim + c0;
    if (c0 + 16u <= outDim) {
      for (var j = 0u; j < 4u; j++) {
        y[yb + j] += w.scale * a0[j];
        y[yb + 4u + j] += w.scale * a1[j];
        y[yb + 8u + j] += w.scale * a2[j];
        y[yb + 12u + j] += w.scale * a3[j];
      }
    } else {
      let nc = outDim - c0;
      for (var j = 0u; j < nc; j++) {
        let q = j / 4u;
        var a = a0;
        if (q == 1u) { a = a1; } else if (q == 2u) { a = a2; } else if (q == 3u) { a = a3; }
        y[yb + j] += w.scale * a[j - q * 4u];
      }
    }
  }
}
