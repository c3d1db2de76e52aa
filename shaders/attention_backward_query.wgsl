// Attention backward, first of two kernels (FlashAttention-2 style, no T x T scratch): dQ and
// the per-(row, head) softmax statistics the second kernel (shaders/attention_backward_key.wgsl,
// dK and dV) recomputes P from. One invocation per (query row, head), as the CPU-adapter
// forward shaders/attention_thread.wgsl. Self-attention within packed sequences:
//   s_ij = scale * q_i . k_j, P_i = softmax over the keys j visible to i,
//   O_i = sum_j P_ij v_j (the forward of src/kernels/attention.ts, scale = 1/sqrt(headDim)).
// With dO the output gradient, dP_ij = dO_i . v_j and dS_ij = P_ij (dP_ij - D_i):
//   L_i = log sum_j exp(s_ij)   D_i = sum_j P_ij dP_ij   dQ_i = scale * sum_j dS_ij k_j
// Shapes: qkv [rows, stride] f32: q of row r head h at qkv[r*stride + qOffset + h*headDim ..
//   +headDim], k at kOffset, v at vOffset. dOut [rows, numHeads*headDim]. dQkv [rows, stride]:
//   this kernel writes only the q columns (qOffset .. qOffset + numHeads*headDim). stats
//   [rows*numHeads*2]: stats[2*(r*numHeads + h)] = L, [.. + 1] = D. seqs: u32, 2 per sequence:
//   start, len (disjoint row ranges; queries and keys are the same rows).
// Visibility: key j of a sequence is visible to its query i iff causal == 0 or j <= i.
// Bindings: 0 uniform Params, 1 qkv, 2 dOut, 3 seqs (read), 4 dQkv, 5 stats (read_write);
//   0..4 declared by the prelude.
// Dispatch: workgroups of WG (override) invocations, grid1d(rows*numHeads, WG):
//   item = gid.x + gid.y * nwg.x * WG, row = item / numHeads, head = item % numHeads; the
//   entry point main() is the prelude's, and calls this kernel's backward(item, row, head).
// Algorithm: pass 1 runs the forward's online softmax over register blocks of 8 keys and
// carries D along with it (D = sum_j e^(s_ij - m) dP_ij / l, rescaled with l), so O is never
// formed; pass 2 recomputes s and dP per block and accumulates dQ in a private array of
// MAX_HEAD_DIM floats. Every sum runs in key order in one invocation: no atomics, the same
// bits on every run.
// Clamping: start and len are clamped to rows; the first sequence containing a row wins. A
// row in no sequence gets dQ = 0 and L = D = 0. Lanes of a block past the last visible key
// read that key's row and get weight 0, so rows inside a sequence must be finite.
// Composed after shaders/attention_backward_prelude.wgsl (src/kernels/attention-backward.ts),
// shared with the key kernel: Params, bindings 0..4, WG, MAX_HEAD_DIM, the entry point (one
// invocation per (row, head)), seqOf() (the clamped sequence lookup), rowBlock() (the 8-key
// register blocks), qkv4() and blockDots() (the score and dP dot products of a block).
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;

// Stands for -infinity: WGSL may assume finite math.
const NEG = -3.0e38;

// This row gives dO to dP = dO . v, the block of keys v.
fn dpOwn(i: u32) -> f32 { return dOut[i]; }
fn dpBlock4(rows: vec4u, off: u32) -> vec4f { return qkv4(rows, off); }

// Scaled scores (NEG where not visible) and dP = dO . v for one block of keys.
fn scores(b: Block, qBase: u32, oBase: u32, kHead: u32, vHead: u32) -> Dots {
  var t = blockDots(b, qBase, kHead, oBase, vHead);
  t.s0 = select(vec4f(NEG), t.s0 * p.scale, b.vis0);
  t.s1 = select(vec4f(NEG), t.s1 * p.scale, b.vis1);
  return t;
}

// One (row, head), called by the prelude's main().
fn backward(item: u32, row: u32, head: u32) {
  let hd = p.headDim;
  let qBase = row * p.stride + p.qOffset + head * hd;
  let oBase = row * p.numHeads * hd + head * hd;
  let st = 2u * item;

  let span = seqOf(row);
  if (!span.found) {
    for (var d = 0u; d < hd; d++) { dQkv[qBase + d] = 0.0; }
    stats[st] = 0.0;
    stats[st + 1u] = 0.0;
    return;
  }
  // At least one key (the row itself) is visible, so l > 0 below.
  let end = select(span.len, row - span.start + 1u, p.causal != 0u);
  let kHead = p.kOffset + head * hd;
  let vHead = p.vOffset + head * hd;

  var m = NEG;
  var l = 0.0;
  var dsum = 0.0;
  for (var j0 = 0u; j0 < end; j0 += 8u) {
    let b = rowBlock(span.start + j0, span.start + end);
    let sc = scores(b, qBase, oBase, kHead, vHead);
    let s01 = max(sc.s0, sc.s1);
    let mNew = max(m, max(max(s01.x, s01.y), max(s01.z, s01.w)));
    let alpha = exp(m - mNew);
    m = mNew;
    let p0 = select(vec4f(0.0), exp(sc.s0 - mNew), b.vis0);
    let p1 = select(vec4f(0.0), exp(sc.s1 - mNew), b.vis1);
    l = l * alpha + dot(p0 + p1, vec4f(1.0));
    dsum = dsum * alpha + dot(p0, sc.dp0) + dot(p1, sc.dp1);
  }
  let lse = m + log(l);
  let D = dsum / l;

  var dq: array<f32, MAX_HEAD_DIM>;
  for (var j0 = 0u; j0 < end; j0 += 8u) {
    let b = rowBlock(span.start + j0, span.start + end);
    let sc = scores(b, qBase, oBase, kHead, vHead);
    let ds0 = select(vec4f(0.0), exp(sc.s0 - lse), b.vis0) * (sc.dp0 - D);
    let ds1 = select(vec4f(0.0), exp(sc.s1 - lse), b.vis1) * (sc.dp1 - D);
    for (var d = 0u; d < hd; d++) {
      dq[d] += dot(ds0, qkv4(b.r0, kHead + d)) + dot(ds1, qkv4(b.r1, kHead + d));
    }
  }
  for (var d = 0u; d < hd; d++) { dQkv[qBase + d] = dq[d] * p.scale; }
  stats[st] = lse;
  stats[st + 1u] = D;
}
