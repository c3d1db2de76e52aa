// Shared prelude of the two attention backward kernels: not a kernel.
// src/kernels/attention-backward.ts prepends it to shaders/attention_backward_query.wgsl (dQ
// and the softmax statistics) and shaders/attention_backward_key.wgsl (dK, dV), so the two
// cannot drift apart in their uniforms, bindings, dispatch, sequence lookup or blocking. Each
// kernel declares binding 5, stats [rows*numHeads*2] (read_write in the query kernel, which
// writes it; read in the key kernel), and
//   fn backward(item: u32, row: u32, head: u32)
// the work of one invocation, which this prelude's entry point main() calls once per
// (row, head) of a grid1d(rows*numHeads, WG) dispatch: item = gid.x + gid.y * nwg.x * WG,
// row = item / numHeads, head = item % numHeads; invocations past the last item return.
// Shapes, math and clamping: see the query kernel's header.
struct Params {
  numSeqs: u32, rows: u32, numHeads: u32, headDim: u32,
  stride: u32, qOffset: u32, kOffset: u32, vOffset: u32,
  causal: u32, scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> dOut: array<f32>;
@group(0) @binding(3) var<storage, read> seqs: array<u32>;
@group(0) @binding(4) var<storage, read_write> dQkv: array<f32>;

override WG: u32 = 4u;
const MAX_HEAD_DIM = 256u;

// The sequence (start, len) containing row, with start and len clamped to rows; the first
// sequence containing it wins, found = false where none does.
struct Span { start: u32, len: u32, found: bool }

fn seqOf(row: u32) -> Span {
  for (var s = 0u; s < p.numSeqs; s++) {
    let start = min(seqs[2u * s], p.rows);
    let len = min(seqs[2u * s + 1u], p.rows - start);
    if (row >= start && row - start < len) { return Span(start, len, true); }
  }
  return Span(0u, 0u, false);
}

// A register block of 8 rows first..first+7 of which rows below end count (vis); lanes past
// end repeat row end - 1, so they read inside the sequence and must be given weight 0.
struct Block { r0: vec4u, r1: vec4u, vis0: vec4<bool>, vis1: vec4<bool> }

fn rowBlock(first: u32, end: u32) -> Block {
  let i = vec4u(first, first + 1u, first + 2u, first + 3u);
  let i4 = i + 4u;
  let last = vec4u(end - 1u);
  return Block(min(i, last), min(i4, last), i < vec4u(end), i4 < vec4u(end));
}

// qkv[row * stride + off] of four rows.
fn qkv4(rows: vec4u, off: u32) -> vec4f {
  let b = rows * p.stride + off;
  return vec4f(qkv[b.x], qkv[b.y], qkv[b.z], qkv[b.w]);
}

// The raw (unscaled) dot products over d < headDim of this invocation's row with a block's 8
// rows, for the scores and for dP_ij = dO_i . v_j:
//   s  = qkv[sBase + d] * qkv4(rows, sOff + d)        (q_i . k_j: both rows in qkv)
//   dp = dpOwn(dpBase + d) * dpBlock4(rows, dpOff + d)
// dpOwn and dpBlock4 are the kernel's: in the query kernel this row gives dO (dOut) and the
// block v (qkv); in the key kernel this row gives v and the block dO.
struct Dots { s0: vec4f, s1: vec4f, dp0: vec4f, dp1: vec4f }

fn blockDots(b: Block, sBase: u32, sOff: u32, dpBase: u32, dpOff: u32) -> Dots {
  var s0 = vec4f(0.0);
  var s1 = vec4f(0.0);
  var dp0 = vec4f(0.0);
  var dp1 = vec4f(0.0);
  for (var d = 0u; d < p.headDim; d++) {
    let sd = qkv[sBase + d];
    let gd = dpOwn(dpBase + d);
    s0 += sd * qkv4(b.r0, sOff + d);
    s1 += sd * qkv4(b.r1, sOff + d);
    dp0 += gd * dpBlock4(b.r0, dpOff + d);
    dp1 += gd * dpBlock4(b.r1, dpOff + d);
  }
  return Dots(s0, s1, dp0, dp1);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let item = gid.x + gid.y * nwg.x * WG;
  if (item >= p.rows * p.numHeads) { return; }
  backward(item, item / p.numHeads, item % p.numHeads);
}
