// Key-resolver prelude for keys and values in contiguous rows: not a kernel.
// src/kernels/attention.ts prepends it to the attention cores shaders/attention.wgsl
// (kernel attention) and shaders/attention_thread.wgsl (kernel attention_thread); the cores
// own the softmax-attention math, this prelude only says where key/value j of a sequence is.
// Bindings: q [qRows rows of qStride], k and v [kvRows rows of kvStride] f32 row-major; head h
//   of row r is q[r*qStride + qOffset + h*headDim ..+headDim] (k: kOffset, v: vOffset), so
//   GPT-2's fused c_attn output binds as q, k and v with offsets 0, H, 2H.
//   seqs: u32, 4 per sequence: qStart, qLen, kvStart, kvLen.
//   mask: u32 per k/v row, 0 = padding key (bound to seqs and ignored when hasMask == 0).
//   out [qRows, numHeads*headDim].
// Query j of a sequence sits at absolute position kvLen - qLen + j (prefill: kvLen == qLen;
// decode: k/v from a cache); with causal != 0 it sees keys 0..that position, else all kvLen.
// Clamping: kvStart and kvLen are clamped to kvRows, so a corrupt entry never addresses rows
// outside k/v. A key past the visible end reads the sequence's last row (weight 0), so k/v rows
// inside a sequence's range must be finite: the thread core multiplies them by a zero weight.
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

// What the cores call. KeySpan: first k/v row, clamped length, visible end (keys 0..end-1).
struct KeySpan { start: u32, len: u32, end: u32 }
// A key's row offset in k and v (without the head offset), and whether it takes part.
struct Key { base: u32, visible: bool }
struct Keys8 { r0: vec4u, r1: vec4u, vis0: vec4<bool>, vis1: vec4<bool> }

fn keySpan(seq: u32, row: u32) -> KeySpan {
  let qStart = seqs[4u * seq];
  let qLen = seqs[4u * seq + 1u];
  let kvStart = min(seqs[4u * seq + 2u], p.kvRows);
  let kvLen = min(seqs[4u * seq + 3u], p.kvRows - kvStart);
  var kEnd = kvLen;
  if (p.causal != 0u) {
    let pos = i32(kvLen) - i32(qLen) + i32(row - qStart);
    kEnd = u32(clamp(pos + 1, 0, i32(kvLen)));
  }
  return KeySpan(kvStart, kvLen, kEnd);
}

fn keyRow(span: KeySpan, j: u32) -> Key {
  let lastRow = max(span.start + span.len, 1u) - 1u;
  let visible = j < span.end && (p.hasMask == 0u || mask[span.start + j] != 0u);
  return Key(min(span.start + j, lastRow) * p.kvStride, visible);
}

fn keyRows8(span: KeySpan, j0: u32) -> Keys8 {
  var ks: Keys8;
  for (var i = 0u; i < 4u; i++) {
    let a = keyRow(span, j0 + i);
    let b = keyRow(span, j0 + 4u + i);
    ks.r0[i] = a.base;
    ks.vis0[i] = a.visible;
    ks.r1[i] = b.base;
    ks.vis1[i] = b.visible;
  }
  return ks;
}

fn keyHead(head: u32) -> u32 { return p.kOffset + head * p.headDim; }
fn valueHead(head: u32) -> u32 { return p.vOffset + head * p.headDim; }
fn keyAt(i: u32) -> f32 { return k[i]; }
fn valueAt(i: u32) -> f32 { return v[i]; }
fn keys4(base: vec4u, off: u32) -> vec4f { return vec4f(k[base.x + off], k[base.y + off], k[base.z + off], k[base.w + off]); }
fn values4(base: vec4u, off: u32) -> vec4f { return vec4f(v[base.x + off], v[base.y + off], v[base.z + off], v[base.w + off]); }
