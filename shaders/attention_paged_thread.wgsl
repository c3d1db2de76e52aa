// Paged causal attention, one invocation per (query row, head): the variant for CPU adapters
// (SwiftShader), where workgroup cooperation costs more than it gives (see
// attention_thread.wgsl). Same bindings, params and semantics as shaders/attention_paged.wgsl
// (see its header): keys/values read through each sequence's block table, query j at position
// kvLen - qLen + j, zeros for a query with no visible key or a row outside every sequence,
// nothing read outside this layer's pool region.
// Dispatch: workgroups of WG (override) invocations, grid1d(qRows*numHeads, WG):
//   item = gid.x + gid.y * nwg.x * WG, row = item / numHeads, head = item % numHeads.
// Algorithm: online softmax over register blocks of 8 keys (8 scores share each q load, one
// rescale of the accumulator per block). When the 8 keys sit in one cache block (always, for
// blockTokens a multiple of 8, but at the tail) one table read resolves them all; otherwise
// each key's pool row is resolved on its own. A key past kEnd or in a block id >= numBlocks
// reads the region's first row instead and gets weight 0, so pool contents must be finite
// (WebGPU zero-fills new buffers).
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

override WG: u32 = 4u;
const MAX_HEAD_DIM = 256u;
// Stands for -infinity: WGSL may assume finite math.
const NEG = -3.0e38;

struct Key { base: u32, visible: bool }

// Float offset of key j's row (key half) in the pool; the region's first row when masked.
fn keyRow(j: u32, kEnd: u32, tableOffset: u32, W: u32) -> Key {
  if (j >= kEnd) { return Key(p.layerBase, false); }
  let block = table[tableOffset + j / p.blockTokens];
  if (block >= p.numBlocks) { return Key(p.layerBase, false); }
  return Key(p.layerBase + (block * p.blockTokens + j % p.blockTokens) * 2u * W, true);
}

fn gather4(base: vec4u, off: u32) -> vec4f {
  return vec4f(pool[base.x + off], pool[base.y + off], pool[base.z + off], pool[base.w + off]);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let item = gid.x + gid.y * nwg.x * WG;
  if (item >= p.qRows * p.numHeads) { return; }
  let row = item / p.numHeads;
  let head = item % p.numHeads;
  let hd = p.headDim;
  let W = p.numHeads * hd;
  let outBase = row * W + head * hd;

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
  let tableOffset = min(seqs[4u * seq + 2u], p.tableLen);
  let reach = (p.tableLen - tableOffset) * p.blockTokens;
  let kvLen = seqs[4u * seq + 3u];
  let pos = i32(kvLen) - i32(qLen) + i32(row - qStart);
  let kEnd = u32(clamp(pos + 1, 0, i32(min(kvLen, reach))));

  let qBase = row * p.qStride + p.qOffset + head * hd;
  let kHead = head * hd;
  let vHead = W + head * hd;
  var acc: array<f32, MAX_HEAD_DIM>;
  var m = NEG;
  var l = 0.0;
  for (var j0 = 0u; j0 < kEnd; j0 += 8u) {
    var r0 = vec4u(0u);
    var r1 = vec4u(0u);
    var vis0 = vec4<bool>(false);
    var vis1 = vec4<bool>(false);
    let first = keyRow(j0, kEnd, tableOffset, W);
    if (first.visible && j0 + 8u <= kEnd && j0 % p.blockTokens + 8u <= p.blockTokens) {
      // The 8 keys are consecutive rows of one block: one table read instead of 8.
      let stride = 2u * W;
      r0 = vec4u(first.base) + vec4u(0u, 1u, 2u, 3u) * stride;
      r1 = vec4u(first.base) + vec4u(4u, 5u, 6u, 7u) * stride;
      vis0 = vec4<bool>(true);
      vis1 = vec4<bool>(true);
    } else {
      for (var i = 0u; i < 4u; i++) {
        let a = keyRow(j0 + i, kEnd, tableOffset, W);
        let b = keyRow(j0 + 4u + i, kEnd, tableOffset, W);
        r0[i] = a.base;
        vis0[i] = a.visible;
        r1[i] = b.base;
        vis1[i] = b.visible;
      }
    }

    var s0 = vec4f(0.0);
    var s1 = vec4f(0.0);
    for (var d = 0u; d < hd; d++) {
      let qd = q[qBase + d];
      s0 += qd * gather4(r0, kHead + d);
      s1 += qd * gather4(r1, kHead + d);
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
      acc[d] = acc[d] * alpha + dot(p0, gather4(r0, vHead + d)) + dot(p1, gather4(r1, vHead + d));
    }
  }

  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = 0u; d < hd; d++) { out[outBase + d] = acc[d] * inv; }
}
