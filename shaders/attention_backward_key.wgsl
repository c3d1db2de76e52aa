// Attention backward, second of two kernels: dK and dV, recomputing P_ij = exp(s_ij - L_i)
// from the statistics shaders/attention_backward_query.wgsl wrote (see its header for the
// math, shapes, stats layout and sequences). One invocation per (key row, head):
//   dV_j = sum_i P_ij dO_i        dK_j = scale * sum_i P_ij (dP_ij - D_i) q_i
// over the queries i of j's sequence that see key j (i >= j when causal, else all).
// Writes only the k and v columns of dQkv (kOffset.., vOffset.. + numHeads*headDim).
// Bindings: 0 uniform Params, 1 qkv, 2 dOut, 3 seqs, 4 stats (read), 5 dQkv (read_write).
// Dispatch: workgroups of WG (override) invocations, grid1d(rows*numHeads, WG):
//   item = gid.x + gid.y * nwg.x * WG, row = item / numHeads, head = item % numHeads.
// Must run after the query kernel (same pass is enough: a dispatch sees the previous one's
// writes). Queries go in register blocks of 8 (their scores share each k and v load), and
// dK, dV accumulate in private arrays of MAX_HEAD_DIM floats, in query order in one
// invocation: no atomics, the same bits on every run.
// Clamping: as the query kernel; a row in no sequence gets dK = dV = 0. Lanes past the
// sequence's last query read that query's row and stats and get weight 0.
// Params must match shaders/attention_backward_query.wgsl's.
struct Params {
  numSeqs: u32, rows: u32, numHeads: u32, headDim: u32,
  stride: u32, qOffset: u32, kOffset: u32, vOffset: u32,
  causal: u32, scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> dOut: array<f32>;
@group(0) @binding(3) var<storage, read> seqs: array<u32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dQkv: array<f32>;

override WG: u32 = 4u;
const MAX_HEAD_DIM = 256u;

struct Span { start: u32, len: u32, found: bool }

fn seqOf(row: u32) -> Span {
  for (var s = 0u; s < p.numSeqs; s++) {
    let start = min(seqs[2u * s], p.rows);
    let len = min(seqs[2u * s + 1u], p.rows - start);
    if (row >= start && row - start < len) { return Span(start, len, true); }
  }
  return Span(0u, 0u, false);
}

fn q4(rows: vec4u, off: u32) -> vec4f {
  let b = rows * p.stride + off;
  return vec4f(qkv[b.x], qkv[b.y], qkv[b.z], qkv[b.w]);
}

fn dO4(rows: vec4u, off: u32) -> vec4f {
  let b = rows * (p.numHeads * p.headDim) + off;
  return vec4f(dOut[b.x], dOut[b.y], dOut[b.z], dOut[b.w]);
}

fn stat4(rows: vec4u, head: u32, which: u32) -> vec4f {
  let b = 2u * (rows * p.numHeads + head) + which;
  return vec4f(stats[b.x], stats[b.y], stats[b.z], stats[b.w]);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let item = gid.x + gid.y * nwg.x * WG;
  if (item >= p.rows * p.numHeads) { return; }
  let row = item / p.numHeads;
  let head = item % p.numHeads;
  let hd = p.headDim;
  let kBase = row * p.stride + p.kOffset + head * hd;
  let vBase = row * p.stride + p.vOffset + head * hd;

  let span = seqOf(row);
  if (!span.found) {
    for (var d = 0u; d < hd; d++) {
      dQkv[kBase + d] = 0.0;
      dQkv[vBase + d] = 0.0;
    }
    return;
  }
  let end = span.start + span.len;
  // Query rows i0.. that see this key: from the key itself when causal, else the whole sequence.
  let first = select(span.start, row, p.causal != 0u);
  let qHead = p.qOffset + head * hd;
  let oHead = head * hd;

  var dk: array<f32, MAX_HEAD_DIM>;
  var dv: array<f32, MAX_HEAD_DIM>;
  for (var i0 = first; i0 < end; i0 += 8u) {
    let i = vec4u(i0, i0 + 1u, i0 + 2u, i0 + 3u);
    let i4 = i + 4u;
    let last = vec4u(end - 1u);
    let r0 = min(i, last);
    let r1 = min(i4, last);
    let vis0 = i < vec4u(end);
    let vis1 = i4 < vec4u(end);

    var s0 = vec4f(0.0);
    var s1 = vec4f(0.0);
    var dp0 = vec4f(0.0);
    var dp1 = vec4f(0.0);
    for (var d = 0u; d < hd; d++) {
      let kd = qkv[kBase + d];
      let vd = qkv[vBase + d];
      s0 += kd * q4(r0, qHead + d);
      s1 += kd * q4(r1, qHead + d);
      dp0 += vd * dO4(r0, oHead + d);
      dp1 += vd * dO4(r1, oHead + d);
    }
    let p0 = select(vec4f(0.0), exp(s0 * p.scale - stat4(r0, head, 0u)), vis0);
    let p1 = select(vec4f(0.0), exp(s1 * p.scale - stat4(r1, head, 0u)), vis1);
    let ds0 = p0 * (dp0 - stat4(r0, head, 1u));
    let ds1 = p1 * (dp1 - stat4(r1, head, 1u));
    for (var d = 0u; d < hd; d++) {
      dv[d] += dot(p0, dO4(r0, oHead + d)) + dot(p1, dO4(r1, oHead + d));
      dk[d] += dot(ds0, q4(r0, qHead + d)) + dot(ds1, q4(r1, qHead + d));
    }
  }
  for (var d = 0u; d < hd; d++) {
    dQkv[kBase + d] = dk[d] * p.scale;
    dQkv[vBase + d] = dv[d];
  }
}
