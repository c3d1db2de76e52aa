// Segmented LoRA expand over the paged adapter pool (Punica SGMV "expand", S-LoRA MBGMV):
//   y[i, c] += scale_t * sum_{k < r_t} tmp[i, k] * B_t[c, k]   t = tenant of row i's segment.
// Shapes: tmp [rows, tmpStride] f32 (from lora_shrink); y [rows, outDim] f32, updated in place.
// pool: f32 pages of pageFloats (= H) floats. B_t is stored transposed: row k of B_t^T
//   (B_t[:, k], outDim floats) spans pagesPerRow = ceil(outDim/H) pages whose indices are
//   table[bOff + k*pagesPerRow + pg].
// Params, tiles, table (metadata, rank 0 = no-op, and page lists) and their addressing:
//   shaders/lora_prelude.wgsl, prepended by src/kernels/lora-expand.ts (Params.dim = outDim,
//   Params.groups = colGroups).
// Each thread computes a 4-row x 4-column block: one B^T load serves 4 rows, one tmp load 4
// columns. Rows outside every tile are never touched.
// Safety: page indices clamped to the bound pool buffer, rank to tmpStride.
// Dispatch: grid1d(numTiles * colGroups, 64), colGroups = ceil(outDim/4);
//   flat g = (wid.x + wid.y*nwg.x)*64 + lid, tile = g / colGroups, column group = g % colGroups.
@group(0) @binding(1) var<storage, read> tmp: array<f32>;
@group(0) @binding(2) var<storage, read> pool: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let w = expandWork(wid, lid, nwg);
  if (!w.valid) { return; }
  let outDim = p.dim;
  let tile = w.tile;

  let H = p.pageFloats;
  let lastPage = arrayLength(&pool) / H - 1u;
  let perRow = pagesPerRow();
  let bOff = loraBPages(w.slotMeta);
  let c0 = w.cg * 4u;
  // Columns past outDim repeat the last column (not written), so the loop has no branch.
  let cl = outDim - 1u;
  let c = vec4u(c0, min(c0 + 1u, cl), min(c0 + 2u, cl), min(c0 + 3u, cl));
  let cp = c / H;
  let co = c - cp * H;
  let onePage = cp.x == cp.w;

  let s = p.tmpStride;
  let tr = tileRows4(tile, s);

  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  for (var k = 0u; k < w.rank; k++) {
    let rowBase = bOff + k * perRow;
    var b: vec4f;
    if (onePage) {
      let base = pageBase(rowBase + cp.x, lastPage, H);
      b = vec4f(pool[base + co.x], pool[base + co.y], pool[base + co.z], pool[base + co.w]);
    } else {
      b = vec4f(
        pool[pageBase(rowBase + cp.x, lastPage, H) + co.x],
        pool[pageBase(rowBase + cp.y, lastPage, H) + co.y],
        pool[pageBase(rowBase + cp.z, lastPage, H) + co.z],
        pool[pageBase(rowBase + cp.w, lastPage, H) + co.w],
      );
    }
    a0 += tmp[tr.x + k] * b;
    a1 += tmp[tr.y + k] * b;
    a2 += tmp[tr.z + k] * b;
    a3 += tmp[tr.w + k] * b;
  }

  let nc = min(4u, outDim - c0);
  for (var j = 0u; j < nc; j++) {
    let col = c0 + j;
    y[tile.x * outDim + col] += w.scale * a0[j];
    if (tile.y > 1u) { y[(tile.x + 1u) * outDim + col] += w.scale * a1[j]; }
    if (tile.y > 2u) { y[(tile.x + 2u) * outDim + col] += w.scale * a2[j]; }
    if (tile.y > 3u) { y[(tile.x + 3u) * outDim + col] += w.scale * a3[j]; }
  }
}
