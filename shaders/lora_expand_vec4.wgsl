// Segmented LoRA expand, prefill-shaped with vec4 loads and stores: same math, tiles, page table
// and bounds semantics as lora_expand.wgsl:
//   y[i, c] += scale_t * sum_{k < r_t} tmp[i, k] * B_t[c, k]   t = tenant of row i's segment.
// Shapes: tmp [rows, tmpStride] f32 (from lora_shrink*); y [rows, outDim] f32 read and written as
//   vec4f: requires outDim % 4 == 0.
// pool: the same f32 pages, read as vec4f: requires pageFloats % 4 == 0. B_t stored transposed:
//   row k of B_t^T on pages table[bOff + k*pagesPerRow + pg], pagesPerRow = ceil(outDim/H).
// Params, tiles, table and their addressing: shaders/lora_prelude.wgsl, prepended by
//   src/kernels/lora-expand.ts.
// Why: lora_expand's 4 rows x 4 columns read B^T one float at a time and update y one float at a
//   time. Here the 4 columns of B^T come in one vec4 load (H % 4 == 0 keeps a group of 4 on one
//   page) and each row's 4 outputs go back as one vec4 read-modify-write.
// Bit-identity with lora_expand / lora_expand_rows: each (row, column) sums tmp[i, k] * B[c, k]
//   over k = 0..r-1 in order in the same vec4 accumulator, then adds scale * sum to y once.
// Safety: page indices clamped to the bound pool buffer, rank to tmpStride; rows past the tile's
//   count repeat the last one and are not written.
// Dispatch: grid1d(numTiles * colGroups, 64), colGroups = outDim/4;
//   flat g = (wid.x + wid.y*nwg.x)*64 + lid, tile = g / colGroups, columns 4*(g % colGroups) .. +3.
@group(0) @binding(1) var<storage, read> tmp: array<f32>;
@group(0) @binding(2) var<storage, read> pool: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> y: array<vec4f>;

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
  let c0 = w.cg * 4u;
  let cp = c0 / H;
  let co = (c0 - cp * H) / 4u;
  let s = p.tmpStride;
  let tr = tileRows4(tile, s);

  // a_r: row r's 4 columns.
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  for (var k = 0u; k < w.rank; k++) {
    let b = pool[pageBase(bOff + k * perRow + cp, lastPage, H4) + co];
    a0 += tmp[tr.x + k] * b;
    a1 += tmp[tr.y + k] * b;
    a2 += tmp[tr.z + k] * b;
    a3 += tmp[tr.w + k] * b;
  }

  let out4 = outDim / 4u;
  let yb = tile.x * out4 + w.cg;
  y[yb] += w.scale * a0;
  if (tile.y > 1u) { y[yb + out4] += w.scale * a1; }
  if (tile.y > 2u) { y[yb + 2u * out4] += w.scale * a2; }
  if (tile.y > 3u) { y[yb + 3u * out4] += w.scale * a3; }
}
