// Scaled-dot-product attention, one invocation per (query row, head): the variant for CPU
// adapters (SwiftShader), where workgroup cooperation costs more than it gives. Same
// bindings, params and semantics as shaders/attention.wgsl (see its header): many sequences
// of different lengths, query j at absolute position kvLen - qLen + j, causal and key-mask
// visibility, zeros for a query with no visible key or a row outside every sequence.
// Dispatch: workgroups of WG (override) invocations, grid1d(qRows*numHeads, WG):
//   item = gid.x + gid.y * nwg.x * WG, row = item / numHeads, head = item % numHeads.
// Algorithm: online softmax over register blocks of 8 keys: 8 scores share each q load,
// the block's max rescales the accumulator once, and each accumulator element is read and
// written once per 8 keys (3x faster than key-at-a-time on SwiftShader). The accumulator is a
// private array of MAX_HEAD_DIM floats: fine on a CPU, where it is ordinary stack memory.
// Rows of a block past the sequence's end are clamped to its last row and get weight 0.
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

override WG: u32 = 4u;
const MAX_HEAD_DIM = 256u;
// Stands for -infinity: WGSL may assume finite math.
const NEG = -3.0e38;

fn visibleKey(j: u32, kEnd: u32, kvStart: u32) -> bool {
  return j < kEnd && (p.hasMask == 0u || mask[kvStart + j] != 0u);
}

fn visible4(j: u32, kEnd: u32, kvStart: u32) -> vec4<bool> {
  return vec4<bool>(visibleKey(j, kEnd, kvStart), visibleKey(j + 1u, kEnd, kvStart), visibleKey(j + 2u, kEnd, kvStart), visibleKey(j + 3u, kEnd, kvStart));
}

fn gather4(base: vec4u, d: u32, fromK: bool) -> vec4f {
  if (fromK) { return vec4f(k[base.x + d], k[base.y + d], k[base.z + d], k[base.w + d]); }
  return vec4f(v[base.x + d], v[base.y + d], v[base.z + d], v[base.w + d]);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let item = gid.x + gid.y * nwg.x * WG;
  if (item >= p.qRows * p.numHeads) { return; }
  let row = item / p.numHeads;
  let head = item % p.numHeads;
  let hd = p.headDim;
  let outBase = row * p.numHeads * hd + head * hd;

  var seq = p.numSeqs;
  for (var s = 0u; s < p.numSeqs; s++) {
    let qStart = seqs[4u * s];
    if (row >= qStart && row - qStart < seqs[4u * s + 1u]) {
      seq = s;
      break;
    }
  }
  if (seq == p.numSeqs) {
    for (var d = 0u; d < hd; d++) { out[outBase + d] = 0.0; }
    return;
  }
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
  let kHead = p.kOffset + head * hd;
  let vHead = p.vOffset + head * hd;
  let lastRow = vec4u(max(kvStart + kvLen, 1u) - 1u);
  var acc: array<f32, MAX_HEAD_DIM>;
  var m = NEG;
  var l = 0.0;
  for (var j0 = 0u; j0 < kEnd; j0 += 8u) {
    let vis0 = visible4(j0, kEnd, kvStart);
    let vis1 = visible4(j0 + 4u, kEnd, kvStart);
    let r0 = min(vec4u(kvStart + j0) + vec4u(0u, 1u, 2u, 3u), lastRow) * p.kvStride;
    let r1 = min(vec4u(kvStart + j0) + vec4u(4u, 5u, 6u, 7u), lastRow) * p.kvStride;

    var s0 = vec4f(0.0);
    var s1 = vec4f(0.0);
    for (var d = 0u; d < hd; d++) {
      let qd = q[qBase + d];
      s0 += qd * gather4(r0 + kHead, d, true);
      s1 += qd * gather4(r1 + kHead, d, true);
    }
    s0 = select(vec4f(NEG), s0 * p.scale, vis0);
    s1 = select(vec4f(NEG), s1 * p.scale, vis1);
    let s01 = max(s0, s1);
    let mNew = max(m, max(max(s01.x, s01.y), max(s01.z, s01.w)));
    let alpha = exp(m - mNew);
    m = mNew;
    let p0 = select(vec4f(0.0), exp(s0 - mNew), vis0);
    let p1 = select(vec4f(0.0), exp(s1 - mNew), vis1);
    l = l * alpha + dot(p0 + p1, vec4f(1.0));

    for (var d = 0u; d < hd; d++) {
      acc[d] = acc[d] * alpha + dot(p0, gather4(r0 + vHead, d, false)) + dot(p1, gather4(r1 + vHead, d, false));
    }
  }

  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = 0u; d < hd; d++) { out[outBase + d] = acc[d] * inv; }
}
