// Segmented LoRA expand over the paged adapter pool (Punica SGMV "expand", S-LoRA MBGMV):
//   y[i, c] += scale_t * sum_{k < r_t} tmp[i, k] * B_t[c, k]   t = tenant of row i's segment.
// Shapes: tmp [rows, tmpStride] f32 (from lora_shrink); y [rows, outDim] f32, updated in place.
// pool: f32 pages of pageFloats (= H) floats. B_t is stored transposed: row k of B_t^T
//   (B_t[:, k], outDim floats) spans pagesPerRow = ceil(outDim/H) pages whose indices are
//   table[bOff + k*pagesPerRow + pg].
// tiles / table / metadata: as lora_shrink (tile = up to 4 rows of one segment; metadata
//   (rank, scale f32 bits, aOff, bOff) at metaOffset + slot*4; rank 0 = no-op).
// Each thread computes a 4-row x 4-column block: one B^T load serves 4 rows, one tmp load 4
// columns. Rows outside every tile are never touched.
// Safety: page indices clamped to the bound pool buffer, rank to tmpStride.
// Dispatch: grid1d(numTiles * colGroups, 64), colGroups = ceil(outDim/4);
//   flat g = (wid.x + wid.y*nwg.x)*64 + lid, tile = g / colGroups, column group = g % colGroups.
struct Params {
  rows: u32,
  outDim: u32,
  pageFloats: u32,
  tmpStride: u32,
  colGroups: u32,
  tileOffset: u32,
  numTiles: u32,
  metaOffset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tmp: array<f32>;
@group(0) @binding(2) var<storage, read> pool: array<f32>;
@group(0) @binding(3) var<storage, read> tiles: array<vec4u>;
@group(0) @binding(4) var<storage, read> table: array<u32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let g = (wid.x + wid.y * nwg.x) * 64u + lid;
  let t = g / p.colGroups;
  if (t >= p.numTiles) { return; }
  let cg = g - t * p.colGroups;
  let tile = tiles[p.tileOffset + t];
  let m = p.metaOffset + tile.z * 4u;
  let rank = min(table[m], p.tmpStride);
  if (rank == 0u || tile.y == 0u || tile.x >= p.rows || tile.y > p.rows - tile.x) { return; }  // no u32 wrap-around
  let scale = bitcast<f32>(table[m + 1u]);

  let H = p.pageFloats;
  let lastPage = arrayLength(&pool) / H - 1u;
  let pagesPerRow = (p.outDim + H - 1u) / H;
  let bOff = table[m + 3u];
  let c0 = cg * 4u;
  // Columns past outDim repeat the last column (not written), so the loop has no branch.
  let cl = p.outDim - 1u;
  let c = vec4u(c0, min(c0 + 1u, cl), min(c0 + 2u, cl), min(c0 + 3u, cl));
  let cp = c / H;
  let co = c - cp * H;
  let onePage = cp.x == cp.w;

  let s = p.tmpStride;
  let last = tile.y - 1u;
  let t0 = tile.x * s;
  let t1 = (tile.x + min(1u, last)) * s;
  let t2 = (tile.x + min(2u, last)) * s;
  let t3 = (tile.x + min(3u, last)) * s;

  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  for (var k = 0u; k < rank; k++) {
    let rowBase = bOff + k * pagesPerRow;
    var b: vec4f;
    if (onePage) {
      let base = min(table[rowBase + cp.x], lastPage) * H;
      b = vec4f(pool[base + co.x], pool[base + co.y], pool[base + co.z], pool[base + co.w]);
    } else {
      b = vec4f(
        pool[min(table[rowBase + cp.x], lastPage) * H + co.x],
        pool[min(table[rowBase + cp.y], lastPage) * H + co.y],
        pool[min(table[rowBase + cp.z], lastPage) * H + co.z],
        pool[min(table[rowBase + cp.w], lastPage) * H + co.w],
      );
    }
    a0 += tmp[t0 + k] * b;
    a1 += tmp[t1 + k] * b;
    a2 += tmp[t2 + k] * b;
    a3 += tmp[t3 + k] * b;
  }

  let nc = min(4u, p.outDim - c0);
  for (var j = 0u; j < nc; j++) {
    let col = c0 + j;
    y[tile.x * p.outDim + col] += scale * a0[j];
    if (tile.y > 1u) { y[(tile.x + 1u) * p.outDim + col] += scale * a1[j]; }
    if (tile.y > 2u) { y[(tile.x + 2u) * p.outDim + col] += scale * a2[j]; }
    if (tile.y > 3u) { y[(tile.x + 3u) * p.outDim + col] += scale * a3[j]; }
  }
}
