// Causal scaled-dot-product attention (scale 1/sqrt(headDim)) for all active sequences of
// all tenants in one dispatch, keys and values read from the paged KV pool through each
// sequence's block table (vLLM's PagedAttention; semantics of shaders/attention.wgsl).
// Bindings: q [qRows rows of qStride]: head h of row r is q[r*qStride + qOffset + h*headDim ..+headDim].
//   pool f32: this layer's region starts at float layerBase and holds numBlocks blocks of
//   blockTokens rows of 2*W floats, W = numHeads*headDim (key then value, see kv_scatter.wgsl).
//   seqs u32, 4 per sequence: qStart, qLen, tableOffset, kvLen. The sequence owns q rows
//   qStart..qStart+qLen-1; its key/value for position t is pool row
//   table[tableOffset + t / blockTokens] * blockTokens + t % blockTokens.
//   table u32 [tableLen]: physical block ids. out [qRows, W].
// Query j of a sequence sits at position kvLen - qLen + j (prefill: kvLen == qLen; decode:
// qLen 1) and sees keys 0..that position. A query with no visible key, and rows outside every
// sequence, write zeros; if sequences overlap in q, the first listed wins.
// Never reads outside the region: kvLen is clamped to the positions the table can address
// (tableLen - tableOffset entries), and a key whose block id is >= numBlocks is masked.
// Dispatch: one workgroup of 64 per (query row, head): grid1d(qRows*numHeads, 1),
//   item = wid.x + wid.y * nwg.x, row = item / numHeads, head = item % numHeads.
// Algorithm: online softmax over tiles of 64 keys as in attention.wgsl; each invocation
// resolves its key's pool row once through the table and shares it with the tile, so the
// value loop reads only resolved, valid rows. headDim <= MAX_HEAD_DIM.
struct Params {
  numSeqs: u32, qRows: u32, numHeads: u32, headDim: u32,
  qStride: u32, qOffset: u32, blockTokens: u32, numBlocks: u32,
  tableLen: u32, layerBase: u32, scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> pool: array<f32>;
@group(0) @binding(3) var<storage, read> seqs: array<u32>;
@group(0) @binding(4) var<storage, read> table: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const WG = 64u;
const ND = 4u;
const MAX_HEAD_DIM = 256u; // WG * ND
// Stands for -infinity: WGSL may assume finite math.
const NEG = -3.0e38;
const NO_ROW = 0xffffffffu;

var<workgroup> qs: array<f32, MAX_HEAD_DIM>;
var<workgroup> scores: array<f32, WG>;
var<workgroup> probs: array<f32, WG>;
// Float offset in the pool of each tile key's row, NO_ROW when masked.
var<workgroup> rowBase: array<u32, WG>;
var<workgroup> foundAtomic: atomic<u32>;
var<workgroup> found: u32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let item = wid.x + wid.y * nwg.x;
  if (item >= p.qRows * p.numHeads) { return; }
  let row = item / p.numHeads;
  let head = item % p.numHeads;
  let hd = p.headDim;
  let W = p.numHeads * hd;
  let outBase = row * W + head * hd;

  for (var s = lid; s < p.numSeqs; s += WG) {
    let qStart = seqs[4u * s];
    if (row >= qStart && row - qStart < seqs[4u * s + 1u]) { atomicMax(&foundAtomic, ~s); }
  }
  workgroupBarrier();
  if (lid == 0u) { found = atomicLoad(&foundAtomic); }
  let f = workgroupUniformLoad(&found);
  if (f == 0u) {
    for (var d = lid; d < hd; d += WG) { out[outBase + d] = 0.0; }
    return;
  }
  let seq = ~f;
  let qStart = seqs[4u * seq];
  let qLen = seqs[4u * seq + 1u];
  let tableOffset = min(seqs[4u * seq + 2u], p.tableLen);
  let reach = (p.tableLen - tableOffset) * p.blockTokens;
  let kvLen = seqs[4u * seq + 3u];
  let pos = i32(kvLen) - i32(qLen) + i32(row - qStart);
  let kEnd = u32(clamp(pos + 1, 0, i32(min(kvLen, reach))));

  let qBase = row * p.qStride + p.qOffset + head * hd;
  for (var d = lid; d < hd; d += WG) { qs[d] = q[qBase + d] * p.scale; }
  workgroupBarrier();

  let headOff = head * hd;
  var m = NEG;
  var l = 0.0;
  var acc = array<f32, ND>(0.0, 0.0, 0.0, 0.0);
  for (var j0 = 0u; j0 < kEnd; j0 += WG) {
    let j = j0 + lid;
    var base = NO_ROW;
    if (j < kEnd) {
      let block = table[tableOffset + j / p.blockTokens];
      if (block < p.numBlocks) { base = p.layerBase + (block * p.blockTokens + j % p.blockTokens) * 2u * W; }
    }
    let visible = base != NO_ROW;
    var s = NEG;
    if (visible) {
      var dot = 0.0;
      for (var d = 0u; d < hd; d++) { dot += qs[d] * pool[base + headOff + d]; }
      s = dot;
    }
    scores[lid] = s;
    workgroupBarrier();

    let n = min(WG, kEnd - j0);
    var mNew = m;
    for (var t = 0u; t < n; t++) { mNew = max(mNew, scores[t]); }
    probs[lid] = select(0.0, exp(s - mNew), visible);
    // Written after the first barrier, like probs: invocations still in the previous tile's
    // value loop have passed it only once they are done reading.
    rowBase[lid] = base;
    let alpha = exp(m - mNew);
    m = mNew;
    l *= alpha;
    for (var i = 0u; i < ND; i++) { acc[i] *= alpha; }
    // Also keeps the next tile from overwriting scores before everyone has read them.
    workgroupBarrier();

    for (var t = 0u; t < n; t++) {
      let rb = rowBase[t];
      if (rb == NO_ROW) { continue; }
      let pt = probs[t];
      l += pt;
      let vBase = rb + W + headOff;
      for (var i = 0u; i < ND; i++) {
        let d = lid + i * WG;
        if (d < hd) { acc[i] += pt * pool[vBase + d]; }
      }
    }
  }

  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var i = 0u; i < ND; i++) {
    let d = lid + i * WG;
    if (d < hd) { out[outBase + d] = acc[i] * inv; }
  }
}
