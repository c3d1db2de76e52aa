// Scaled-dot-product attention core, one invocation per (query row, head): the variant for CPU
// adapters (SwiftShader), where workgroup cooperation costs more than it gives. Semantics,
// shapes and key-resolver preludes as shaders/attention.wgsl (see its header): kernel
// attention_thread = shaders/attention_keys_contiguous_prelude.wgsl + this core, kernel
// attention_paged_thread = shaders/attention_keys_paged_prelude.wgsl + this core; the prelude
// adds keySpan(), keyRows8(), keyHead(), valueHead(), keys4(), values4().
// Dispatch: workgroups of WG (override) invocations, grid1d(qRows*numHeads, WG):
//   item = gid.x + gid.y * nwg.x * WG, row = item / numHeads, head = item % numHeads.
// Algorithm: online softmax over register blocks of 8 keys: 8 scores share each q load,
// the block's max rescales the accumulator once, and each accumulator element is read and
// written once per 8 keys (3x faster than key-at-a-time on SwiftShader). The accumulator is a
// private array of MAX_HEAD_DIM floats: fine on a CPU, where it is ordinary stack memory.
// Keys of a block that are not visible still read a row the prelude names (inside the
// buffers) and get weight 0, so those rows must be finite (0 * NaN is NaN).
override WG: u32 = 4u;
const MAX_HEAD_DIM = 256u;
// Stands for -infinity: WGSL may assume finite math.
const NEG = -3.0e38;

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
  let span = keySpan(seq, row);

  let qBase = row * p.qStride + p.qOffset + head * hd;
  let kHead = keyHead(head);
  let vHead = valueHead(head);
  var acc: array<f32, MAX_HEAD_DIM>;
  var m = NEG;
  var l = 0.0;
  for (var j0 = 0u; j0 < span.end; j0 += 8u) {
    let keys = keyRows8(span, j0);

    var s0 = vec4f(0.0);
    var s1 = vec4f(0.0);
    for (var d = 0u; d < hd; d++) {
      let qd = q[qBase + d];
      s0 += qd * keys4(keys.r0, kHead + d);
      s1 += qd * keys4(keys.r1, kHead + d);
    }
    s0 = select(vec4f(NEG), s0 * p.scale, keys.vis0);
    s1 = select(vec4f(NEG), s1 * p.scale, keys.vis1);
    let s01 = max(s0, s1);
    let mNew = max(m, max(max(s01.x, s01.y), max(s01.z, s01.w)));
    let alpha = exp(m - mNew);
    m = mNew;
    let p0 = select(vec4f(0.0), exp(s0 - mNew), keys.vis0);
    let p1 = select(vec4f(0.0), exp(s1 - mNew), keys.vis1);
    l = l * alpha + dot(p0 + p1, vec4f(1.0));

    for (var d = 0u; d < hd; d++) {
      acc[d] = acc[d] * alpha + dot(p0, values4(keys.r0, vHead + d)) + dot(p1, values4(keys.r1, vHead + d));
    }
  }

  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = 0u; d < hd; d++) { out[outBase + d] = acc[d] * inv; }
}
