// PLOT combine, hBERT phase 1 (SkipBERT): the hidden state after layer S-1 of every row of a
// packed batch, from the tri-gram entries held in the GPU PLOT cache. Row r is token i of
// its sequence; T(j) is the cached entry of the window centred on token j:
//   x = T(i)[1] + T(i+1)[0] + T(i-1)[2] + pos[position] + typeRow
//   out[r,:] = (x - mean) / sqrt(var + eps) * gamma + beta   (biased variance)
// T(i-1) / T(i+1) are dropped at the edges of the sequence.
// Shapes: values: the cached entries, slot s = its window's 3H values (vectors 0 | 1 | 2); how
//   they are stored (f32, or f16 packed in u32) is the value prelude's, prepended by
//   src/kernels/plot-combine.ts: shaders/plot_values_f32_prelude.wgsl or
//   shaders/plot_values_f16_prelude.wgsl (binding 1, slotBase(), value()). Compute is f32.
//   rowMeta u32 [rows, 4] = (slot of T(i), flags, position id, LN set); flags bit 0: row r-1
//   holds T(i-1), bit 1: row r+1 holds T(i+1) (so the neighbours' slots are rowMeta[r±1].slot);
//   pos [posRows, H]; typeRow [H] (token type 0's embedding); ln [numLn, 2H] = gamma | beta;
//   out [rows, H]. Slots, positions and LN sets are clamped so a bad index never reads
//   outside its buffer.
// Dispatch: one workgroup of WG (override of shaders/workgroup_sum_prelude.wgsl, prepended with
//   workgroupSum; 64 on GPUs, 4 on CPU adapters, as layernorm) per
//   row, grid1d(rows, 1): row = wid.x + wid.y * nwg.x. x is
// recomputed in each of the three sweeps rather than kept in workgroup memory, so H has no
// upper bound; the reads are few per element and cached.
// slotWords: u32 words per f16 slot (read by the f16 prelude only).
struct Params { rows: u32, hidden: u32, eps: f32, slots: u32, posRows: u32, numLn: u32, slotWords: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> rowMeta: array<u32>;
@group(0) @binding(3) var<storage, read> pos: array<f32>;
@group(0) @binding(4) var<storage, read> typeRow: array<f32>;
@group(0) @binding(5) var<storage, read> ln: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

struct Row { self_: u32, prev: u32, next: u32, hasPrev: bool, hasNext: bool, posBase: u32 }

fn rowOf(r: u32) -> Row {
  let flags = rowMeta[r * 4u + 1u];
  let hasPrev = (flags & 1u) != 0u && r > 0u;
  let hasNext = (flags & 2u) != 0u && r + 1u < p.rows;
  var row: Row;
  row.self_ = slotBase(rowMeta[r * 4u]);
  row.prev = select(0u, slotBase(rowMeta[(r - 1u) * 4u]), hasPrev);
  row.next = select(0u, slotBase(rowMeta[(r + 1u) * 4u]), hasNext);
  row.hasPrev = hasPrev;
  row.hasNext = hasNext;
  row.posBase = min(rowMeta[r * 4u + 2u], p.posRows - 1u) * p.hidden;
  return row;
}

fn combined(row: Row, c: u32) -> f32 {
  var x = value(row.self_ + p.hidden + c) + pos[row.posBase + c] + typeRow[c];
  if (row.hasNext) { x += value(row.next + c); }
  if (row.hasPrev) { x += value(row.prev + 2u * p.hidden + c); }
  return x;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) { return; }
  let row = rowOf(r);
  let n = f32(p.hidden);

  var s = 0.0;
  for (var c = lid; c < p.hidden; c += WG) { s += combined(row, c); }
  let mean = workgroupSum(s, lid) / n;

  var sq = 0.0;
  for (var c = lid; c < p.hidden; c += WG) {
    let d = combined(row, c) - mean;
    sq += d * d;
  }
  let inv = inverseSqrt(workgroupSum(sq, lid) / n + p.eps);

  let lnBase = min(rowMeta[r * 4u + 3u], p.numLn - 1u) * 2u * p.hidden;
  for (var c = lid; c < p.hidden; c += WG) {
    out[r * p.hidden + c] = (combined(row, c) - mean) * inv * ln[lnBase + c] + ln[lnBase + p.hidden + c];
  }
}
