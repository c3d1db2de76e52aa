// Shared prelude of the segmented LoRA kernels (lora_shrink*, lora_expand*): not a kernel.
// src/kernels/lora-shrink.ts and lora-expand.ts prepend it to each of their six kernels, which
// declare their own x / tmp / y and pool bindings (f32 or vec4f) and call what is here: the
// uniform layout, the tiles and page table, a thread's work item (segment lookup), the
// metadata reads and the page addressing, so that the variants cannot drift apart in how they
// find a tenant's weights or clamp a bad index.
// tiles: vec4u (rowStart, rowCount 1..4, slot, 0): up to 4 rows of ONE segment, so all rows of
//   a thread share their tenant. Tiles [tileOffset, tileOffset+numTiles) are this dispatch's.
// table: u32. Per (module, slot) metadata at metaOffset + slot*4: (rank, scale f32 bits,
//   aOff, bOff), rank 0 = no LoRA on this module; plus the page-index lists aOff/bOff point to
//   (row k of A_t, or of B_t^T, on pages table[off + k*pagesPerRow + pg]).
// Params.dim is the module's inDim (shrink) or outDim (expand); Params.groups is kCount
// (shrink: ranks computed per tile) or colGroups (expand: column groups per tile).
struct Params {
  rows: u32,
  dim: u32,
  pageFloats: u32,
  tmpStride: u32,
  groups: u32,
  tileOffset: u32,
  numTiles: u32,
  metaOffset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> tiles: array<vec4u>;
@group(0) @binding(4) var<storage, read> table: array<u32>;

// A thread's share of a grid1d(numTiles * perTile, 64) dispatch: its tile, which of the tile's
// perTile groups (of ranks or columns) it computes, and where its tenant's metadata is.
struct Work { tile: vec4u, group: u32, slotMeta: u32, valid: bool }

fn loraWork(wid: vec3u, lid: u32, nwg: vec3u, perTile: u32) -> Work {
  let g = (wid.x + wid.y * nwg.x) * 64u + lid;
  let t = g / perTile;
  if (t >= p.numTiles) { return Work(vec4u(0u), 0u, 0u, false); }
  let tile = tiles[p.tileOffset + t];
  return Work(tile, g - t * perTile, p.metaOffset + tile.z * 4u, true);
}

// A shrink thread's work: ranks k0..k0+3 of its tile's rows (ranks past kCount are not
// computed); valid false when there is nothing to compute.
struct ShrinkWork { tile: vec4u, k0: u32, rank: u32, slotMeta: u32, valid: bool }

fn shrinkWork(wid: vec3u, lid: u32, nwg: vec3u) -> ShrinkWork {
  let kCount = p.groups;
  let w = loraWork(wid, lid, nwg, (kCount + 3u) / 4u);
  if (!w.valid) { return ShrinkWork(vec4u(0u), 0u, 0u, 0u, false); }
  let k0 = w.group * 4u;
  let rank = min(loraRank(w.slotMeta), kCount);
  return ShrinkWork(w.tile, k0, rank, w.slotMeta, k0 < rank && tileInRange(w.tile));
}

// An expand thread's work: column group cg of its tile's rows, scaled by its tenant's scale;
// valid false when there is nothing to add (rank 0: no LoRA on this module).
struct ExpandWork { tile: vec4u, cg: u32, rank: u32, scale: f32, slotMeta: u32, valid: bool }

fn expandWork(wid: vec3u, lid: u32, nwg: vec3u) -> ExpandWork {
  let w = loraWork(wid, lid, nwg, p.groups);
  if (!w.valid) { return ExpandWork(vec4u(0u), 0u, 0u, 0.0, 0u, false); }
  let rank = loraRank(w.slotMeta);
  let ok = rank != 0u && tileInRange(w.tile);
  return ExpandWork(w.tile, w.group, rank, select(0.0, loraScale(w.slotMeta), ok), w.slotMeta, ok);
}

// Written without u32 wrap-around: a tile past the dispatch's rows is skipped, not clipped.
fn tileInRange(tile: vec4u) -> bool {
  return tile.y != 0u && tile.x < p.rows && tile.y <= p.rows - tile.x;
}

// Clamped to tmpStride so a bad rank never indexes past a row of tmp.
fn loraRank(slotMeta: u32) -> u32 { return min(table[slotMeta], p.tmpStride); }
fn loraScale(slotMeta: u32) -> f32 { return bitcast<f32>(table[slotMeta + 1u]); }
fn loraAPages(slotMeta: u32) -> u32 { return table[slotMeta + 2u]; }
fn loraBPages(slotMeta: u32) -> u32 { return table[slotMeta + 3u]; }
fn pagesPerRow() -> u32 { return (p.dim + p.pageFloats - 1u) / p.pageFloats; }

// Offsets (row * stride) of the tile's rows 0..3; rows past its count repeat the last one, so
// the inner loops have no branch (the repeats are never written).
fn tileRows4(tile: vec4u, stride: u32) -> vec4u {
  return (vec4u(tile.x) + min(vec4u(0u, 1u, 2u, 3u), vec4u(tile.y - 1u))) * stride;
}

// Page-list offsets in table of weight rows k0..k0+3 (k0 < rank); rows past the tenant's rank
// repeat the last one, for the same reason.
fn rankRows4(pagesAt: u32, k0: u32, rank: u32, perRow: u32) -> vec4u {
  return pagesAt + min(vec4u(k0) + vec4u(0u, 1u, 2u, 3u), vec4u(rank - 1u)) * perRow;
}

// First pool element of the page that table[entry] names, clamped to the bound pool buffer
// (lastPage) so a bad table reads wrong weights but never outside the pool. pageElems: pool
// elements per page (pageFloats, or pageFloats / 4 where the pool is read as vec4f).
fn pageBase(entry: u32, lastPage: u32, pageElems: u32) -> u32 {
  return min(table[entry], lastPage) * pageElems;
}
