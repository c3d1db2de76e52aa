// Embedding sum: out[i,:] = word[ids[i],:] + pos[positions[i],:] (+ type[types[i],:] when HAS_TYPES).
// Shapes: ids, positions, types u32 [rows]; word: rows wordRow0..wordRow0+wordRows-1 of the
//   [vocabRows, dim] table, as the weight prelude stores them (shaders/weights_*_prelude.wgsl,
//   prepended first: f32, or f16 widened to f32); pos [posRows, dim], type [typeRows, dim],
//   out [rows, dim], f32 row-major.
// A table split in row shards runs one dispatch per shard: each writes only the rows whose
//   (clamped) id falls in its range, with the same arithmetic as unsplit, so the result is
//   bit for bit the unsplit one. Unsplit: wordRow0 = 0, wordRows = vocabRows. Without token types the binding
//   passes ids and the word table in the type slots; HAS_TYPES = false never reads them.
// Indices are clamped to the last table row: rejecting bad ids is the CPU's job, but the
// kernel never reads outside a table.
// Dispatch: one invocation per output float, grid1d(rows*dim, 256):
//   e = wid.x * 256 + lid.x + wid.y * nwg.x * 256, i = e / dim, c = e % dim.
struct Params { rows: u32, dim: u32, vocabRows: u32, posRows: u32, typeRows: u32, wordRow0: u32, wordRows: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> types: array<u32>;
@group(0) @binding(4) var<storage, read> wordTable: array<WeightWord>;
@group(0) @binding(5) var<storage, read> posTable: array<f32>;
@group(0) @binding(6) var<storage, read> typeTable: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

override HAS_TYPES: bool = false;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= p.rows * p.dim) { return; }
  let i = e / p.dim;
  let c = e % p.dim;
  let id = min(ids[i], p.vocabRows - 1u);
  if (id < p.wordRow0 || id - p.wordRow0 >= p.wordRows) { return; }
  let we = (id - p.wordRow0) * p.dim + c;
  var sum = weightValue(wordTable[weightIndex(we)], we) + posTable[min(positions[i], p.posRows - 1u) * p.dim + c];
  if (HAS_TYPES) { sum += typeTable[min(types[i], p.typeRows - 1u) * p.dim + c]; }
  out[e] = sum;
}
