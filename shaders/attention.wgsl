// Scaled-dot-product attention core over many independent sequences of different lengths in
// one dispatch, without padding to the longest. The variant for GPUs: a workgroup cooperates
// on each (query row, head); CPU adapters use shaders/attention_thread.wgsl.
// Where a sequence's keys and values live is a key-resolver prelude's, prepended by
// src/kernels/: shaders/attention_keys_contiguous_prelude.wgsl (kernel attention: k/v rows,
// optional causality and key mask) or shaders/attention_keys_paged_prelude.wgsl (kernel
// attention_paged: rows of the paged KV pool through a block table). The prelude declares
// Params and the bindings (q, seqs, out as below; its own k/v bindings), and keySpan(),
// keyRow(), keyHead(), valueHead(), keyAt(), valueAt(); both kernels run this same math, so
// their outputs agree bit for bit on the same keys and values.
// Shapes: q: head h of row r is q[r*qStride + qOffset + h*headDim ..+headDim]; seqs: u32, 4 per
//   sequence, (qStart, qLen) first: the sequence owns q rows qStart..qStart+qLen-1. q row
//   ranges must not overlap (if they do, the first sequence listed wins); rows outside every
//   sequence get zeros. out [qRows, numHeads*headDim]. A query with no visible key writes zeros.
// Dispatch: one workgroup of 64 per (query row, head): grid1d(qRows*numHeads, 1),
//   item = wid.x + wid.y * nwg.x, row = item / numHeads, head = item % numHeads.
// Algorithm: online softmax (flash-attention style) over tiles of 64 keys: each invocation
// resolves and scores one key of the tile (q is staged in workgroup memory, pre-scaled) and
// shares its row with the tile, every invocation reads the tile's 64 scores to get the same
// running max, and owns output dims lid + 64i for the weighted sum of v rows (coalesced reads
// across invocations; masked keys are skipped, not read). Two barriers per tile; the key count
// is unbounded, headDim <= MAX_HEAD_DIM (4 accumulators per invocation).
const WG = 64u;
const ND = 4u;
const MAX_HEAD_DIM = 256u; // WG * ND
// Stands for -infinity: WGSL may assume finite math.
const NEG = -3.0e38;
const NO_ROW = 0xffffffffu;

var<workgroup> qs: array<f32, MAX_HEAD_DIM>;
var<workgroup> scores: array<f32, WG>;
var<workgroup> probs: array<f32, WG>;
// Row offset (keyRow's base) of each tile key, NO_ROW when masked.
var<workgroup> rowBase: array<u32, WG>;
// Workgroup memory starts zeroed, so the search stores ~seq with atomicMax (0 = not found)
// and needs no initializing barrier.
var<workgroup> foundAtomic: atomic<u32>;
var<workgroup> found: u32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let item = wid.x + wid.y * nwg.x;
  if (item >= p.qRows * p.numHeads) { return; }
  let row = item / p.numHeads;
  let head = item % p.numHeads;
  let hd = p.headDim;
  let outBase = row * p.numHeads * hd + head * hd;

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
  let span = keySpan(~f, row);
  let kEnd = span.end;

  let qBase = row * p.qStride + p.qOffset + head * hd;
  for (var d = lid; d < hd; d += WG) { qs[d] = q[qBase + d] * p.scale; }
  workgroupBarrier();

  let kHead = keyHead(head);
  let vHead = valueHead(head);
  var m = NEG;
  var l = 0.0;
  var acc = array<f32, ND>(0.0, 0.0, 0.0, 0.0);
  for (var j0 = 0u; j0 < kEnd; j0 += WG) {
    let key = keyRow(span, j0 + lid);
    let base = select(NO_ROW, key.base, key.visible);
    var s = NEG;
    if (key.visible) {
      let kBase = base + kHead;
      var dot = 0.0;
      for (var d = 0u; d < hd; d++) { dot += qs[d] * keyAt(kBase + d); }
      s = dot;
    }
    scores[lid] = s;
    workgroupBarrier();

    let n = min(WG, kEnd - j0);
    var mNew = m;
    for (var t = 0u; t < n; t++) { mNew = max(mNew, scores[t]); }
    probs[lid] = select(0.0, exp(s - mNew), key.visible);
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
      let vBase = rb + vHead;
      for (var i = 0u; i < ND; i++) {
        let d = lid + i * WG;
        if (d < hd) { acc[i] += pt * valueAt(vBase + d); }
      }
    }
  }

  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var i = 0u; i < ND; i++) {
    let d = lid + i * WG;
    if (d < hd) { out[outBase + d] = acc[i] * inv; }
  }
}
