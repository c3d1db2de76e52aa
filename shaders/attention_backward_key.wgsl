// Attention backward, second of two kernels: dK and dV, recomputing P_ij = exp(s_ij - L_i)
// from the statistics shaders/attention_backward_query.wgsl wrote (see its header for the
// math, shapes, stats layout and sequences). One invocation per (key row, head):
//   dV_j = sum_i P_ij dO_i        dK_j = scale * sum_i P_ij (dP_ij - D_i) q_i
// over the queries i of j's sequence that see key j (i >= j when causal, else all).
// Writes only the k and v columns of dQkv (kOffset.., vOffset.. + numHeads*headDim).
// Bindings: 0 uniform Params, 1 qkv, 2 dOut, 3 seqs (read), 4 dQkv (read_write), 5 stats
//   (read); 0..4 declared by the prelude.
// Dispatch: workgroups of WG (override) invocations, grid1d(rows*numHeads, WG):
//   item = gid.x + gid.y * nwg.x * WG, row = item / numHeads, head = item % numHeads; the
//   entry point main() is the prelude's, and calls this kernel's backward(item, row, head).
// Must run after the query kernel (same pass is enough: a dispatch sees the previous one's
// writes). Queries go in register blocks of 8 (their scores share each k and v load), and
// dK, dV accumulate in private arrays of MAX_HEAD_DIM floats, in query order in one
// invocation: no atomics, the same bits on every run.
// Clamping: as the query kernel; a row in no sequence gets dK = dV = 0. Lanes past the
// sequence's last query read that query's row and stats and get weight 0.
// Composed after shaders/attention_backward_prelude.wgsl (src/kernels/attention-backward.ts),
// shared with the query kernel: Params, bindings 0..4, WG, MAX_HEAD_DIM, the entry point (one
// invocation per (row, head)), seqOf() (the clamped sequence lookup), rowBlock() (the 8-query
// register blocks), qkv4() and blockDots() (the score and dP dot products of a block).
@group(0) @binding(5) var<storage, read> stats: array<f32>;

fn dO4(rows: vec4u, off: u32) -> vec4f {
  let b = rows * (p.numHeads * p.headDim) + off;
  return vec4f(dOut[b.x], dOut[b.y], dOut[b.z], dOut[b.w]);
}

// This row gives v to dP = dO . v, the block of queries dO.
fn dpOwn(i: u32) -> f32 { return qkv[i]; }
fn dpBlock4(rows: vec4u, off: u32) -> vec4f { return dO4(rows, off); }

fn stat4(rows: vec4u, head: u32, which: u32) -> vec4f {
  let b = 2u * (rows * p.numHeads + head) + which;
  return vec4f(stats[b.x], stats[b.y], stats[b.z], stats[b.w]);
}

// One (row, head), called by the prelude's main().
fn backward(item: u32, row: u32, head: u32) {
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
    let b = rowBlock(i0, end);
    let t = blockDots(b, kBase, qHead, vBase, oHead);
    let p0 = select(vec4f(0.0), exp(t.s0 * p.scale - stat4(b.r0, head, 0u)), b.vis0);
    let p1 = select(vec4f(0.0), exp(t.s1 * p.scale - stat4(b.r1, head, 0u)), b.vis1);
    let ds0 = p0 * (t.dp0 - stat4(b.r0, head, 1u));
    let ds1 = p1 * (t.dp1 - stat4(b.r1, head, 1u));
    for (var d = 0u; d < hd; d++) {
      dv[d] += dot(p0, dO4(b.r0, oHead + d)) + dot(p1, dO4(b.r1, oHead + d));
      dk[d] += dot(ds0, qkv4(b.r0, qHead + d)) + dot(ds1, qkv4(b.r1, qHead + d));
    }
  }
  for (var d = 0u; d < hd; d++) {
    dQkv[kBase + d] = dk[d] * p.scale;
    dQkv[vBase + d] = dv[d];
  }
}
