// Scaled-dot-product attention over many independent sequences of different lengths in one
// dispatch, without padding to the longest. The variant for GPUs: a workgroup cooperates on
// each (query row, head); CPU adapters use shaders/attention_thread.wgsl (same bindings).
// Bindings: q [qRows rows of qStride], k and v [kvRows rows of kvStride] f32 row-major; head h
//   of row r is q[r*qStride + qOffset + h*headDim ..+headDim] (k: kOffset, v: vOffset), so
//   GPT-2's fused c_attn output binds as q, k and v with offsets 0, H, 2H.
//   seqs: u32, 4 per sequence: qStart, qLen, kvStart, kvLen. q row ranges must not overlap
//   (if they do, the first sequence listed wins); rows outside every sequence get zeros.
//   mask: u32 per k/v row, 0 = padding key (bound to seqs and ignored when hasMask == 0).
//   out [qRows, numHeads*headDim].
// Query j of a sequence sits at absolute position kvLen - qLen + j (prefill: kvLen == qLen;
// decode: k/v from a cache); causal attention sees keys 0..that position. A query with no
// visible key writes zeros.
// Dispatch: one workgroup of 64 per (query row, head): grid1d(qRows*numHeads, 1),
//   item = wid.x + wid.y * nwg.x, row = item / numHeads, head = item % numHeads.
// Algorithm: online softmax (flash-attention style) over tiles of 64 keys: each invocation
// scores one key of the tile (q is staged in workgroup memory, pre-scaled), every invocation
// reads the tile's 64 scores to get the same running max, and owns output dims lid + 64i
// for the weighted sum of v rows (coalesced reads across invocations). Two barriers per tile;
// kvLen is unbounded, headDim <= MAX_HEAD_DIM (4 accumulators per invocation).
// k/v rows inside a sequence's range must be finite, masked ones included (0 * NaN is NaN).
struct Params {
  numSeqs: u32, qRows: u32, kvRows: u32, numHeads: u32,
  headDim: u32, qStride: u32, qOffset: u32, kvStride: u32,
  kOffset: u32, vOffset: u32, causal: u32, hasMask: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> seqs: array<u32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const WG = 64u;
const ND = 4u;
const MAX_HEAD_DIM = 256u; // WG * ND
// Stands for -infinity: WGSL may assume finite math.
const NEG = -3.0e38;

var<workgroup> qs: array<f32, MAX_HEAD_DIM>;
var<workgroup> scores: array<f32, WG>;
var<workgroup> probs: array<f32, WG>;
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
  let seq = ~f;
  let qStart = seqs[4u * seq];
  let qLen = seqs[4u * seq + 1u];
  // Clamped so a corrupt entry can never address rows outside k/v.
  let kvStart = min(seqs[4u * seq + 2u], p.kvRows);
  let kvLen = min(seqs[4u * seq + 3u], p.kvRows - kvStart);
  var kEnd = kvLen;
  if (p.causal != 0u) {
    let pos = i32(kvLen) - i32(qLen) + i32(row - qStart);
    kEnd = u32(clamp(pos + 1, 0, i32(kvLen)));
  }

  let qBase = row * p.qStride + p.qOffset + head * hd;
  for (var d = lid; d < hd; d += WG) { qs[d] = q[qBase + d] * p.scale; }
  workgroupBarrier();

  let kHead = p.kOffset + head * hd;
  let vHead = p.vOffset + head * hd;
  var m = NEG;
  var l = 0.0;
  var acc = array<f32, ND>(0.0, 0.0, 0.0, 0.0);
  for (var j0 = 0u; j0 < kEnd; j0 += WG) {
    let j = j0 + lid;
    var visible = j < kEnd;
    if (visible && p.hasMask != 0u) { visible = mask[kvStart + j] != 0u; }
    var s = NEG;
    if (visible) {
      let kBase = (kvStart + j) * p.kvStride + kHead;
      var dot = 0.0;
      for (var d = 0u; d < hd; d++) { dot += qs[d] * k[kBase + d]; }
      s = dot;
    }
    scores[lid] = s;
    workgroupBarrier();

    let n = min(WG, kEnd - j0);
    var mNew = m;
    for (var t = 0u; t < n; t++) { mNew = max(mNew, scores[t]); }
    probs[lid] = select(0.0, exp(s - mNew), visible);
    let alpha = exp(m - mNew);
    m = mNew;
    l *= alpha;
    for (var i = 0u; i < ND; i++) { acc[i] *= alpha; }
    // Also keeps the next tile from overwriting scores before everyone has read them.
    workgroupBarrier();

    for (var t = 0u; t < n; t++) {
      let pt = probs[t];
      l += pt;
      let vBase = (kvStart + j0 + t) * p.kvStride + vHead;
      for (var i = 0u; i < ND; i++) {
        let d = lid + i * WG;
        if (d < hd) { acc[i] += pt * v[vBase + d]; }
      }
    }
  }

  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var i = 0u; i < ND; i++) {
    let d = lid + i * WG;
    if (d < hd) { out[outBase + d] = acc[i] * inv; }
  }
}
