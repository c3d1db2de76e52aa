// Key-resolver prelude for keys and values in the paged KV pool (vLLM's PagedAttention): not a
// kernel. src/kernels/attention-paged.ts prepends it to the attention cores
// shaders/attention.wgsl (kernel attention_paged) and shaders/attention_thread.wgsl (kernel
// attention_paged_thread); the cores own the softmax-attention math, this prelude only says
// where key/value j of a sequence is. Always causal, scale 1/sqrt(headDim).
// Bindings: q [qRows rows of qStride]: head h of row r is q[r*qStride + qOffset + h*headDim ..+headDim].
//   pool f32: this layer's region starts at float layerBase and holds numBlocks blocks of
//   blockTokens rows of 2*W floats, W = numHeads*headDim (key then value, see kv_scatter.wgsl).
//   seqs u32, 4 per sequence: qStart, qLen, tableOffset, kvLen. The sequence owns q rows
//   qStart..qStart+qLen-1; its key/value for position t is pool row
//   table[tableOffset + t / blockTokens] * blockTokens + t % blockTokens.
//   table u32 [tableLen]: physical block ids. out [qRows, W].
// Query j of a sequence sits at position kvLen - qLen + j (prefill: kvLen == qLen; decode:
// qLen 1) and sees keys 0..that position.
// Clamping: never reads outside the region: kvLen is clamped to the positions the table can
// address (tableLen - tableOffset entries), and a key whose block id is >= numBlocks is masked.
// A masked key reads the region's first row with weight 0, so pool contents must be finite
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

// What the cores call. KeySpan: table offset, addressable length, visible end (keys 0..end-1).
struct KeySpan { start: u32, len: u32, end: u32 }
// A key's float offset in the pool (start of its row's key half), and whether it takes part.
struct Key { base: u32, visible: bool }
struct Keys8 { r0: vec4u, r1: vec4u, vis0: vec4<bool>, vis1: vec4<bool> }

fn keySpan(seq: u32, row: u32) -> KeySpan {
  let qStart = seqs[4u * seq];
  let qLen = seqs[4u * seq + 1u];
  let tableOffset = min(seqs[4u * seq + 2u], p.tableLen);
  let reach = (p.tableLen - tableOffset) * p.blockTokens;
  let kvLen = min(seqs[4u * seq + 3u], reach);
  let pos = i32(seqs[4u * seq + 3u]) - i32(qLen) + i32(row - qStart);
  return KeySpan(tableOffset, kvLen, u32(clamp(pos + 1, 0, i32(kvLen))));
}

fn keyRow(span: KeySpan, j: u32) -> Key {
  if (j >= span.end) { return Key(p.layerBase, false); }
  let block = table[span.start + j / p.blockTokens];
  if (block >= p.numBlocks) { return Key(p.layerBase, false); }
  return Key(p.layerBase + (block * p.blockTokens + j % p.blockTokens) * 2u * p.numHeads * p.headDim, true);
}

fn keyRows8(span: KeySpan, j0: u32) -> Keys8 {
  var ks: Keys8;
  let first = keyRow(span, j0);
  if (first.visible && j0 + 8u <= span.end && j0 % p.blockTokens + 8u <= p.blockTokens) {
    // The 8 keys are consecutive rows of one block: one table read instead of 8.
    let stride = 2u * p.numHeads * p.headDim;
    ks.r0 = vec4u(first.base) + vec4u(0u, 1u, 2u, 3u) * stride;
    ks.r1 = vec4u(first.base) + vec4u(4u, 5u, 6u, 7u) * stride;
    ks.vis0 = vec4<bool>(true);
    ks.vis1 = vec4<bool>(true);
    return ks;
  }
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

fn keyHead(head: u32) -> u32 { return head * p.headDim; }
fn valueHead(head: u32) -> u32 { return p.numHeads * p.headDim + head * p.headDim; }
fn keyAt(i: u32) -> f32 { return pool[i]; }
fn valueAt(i: u32) -> f32 { return pool[i]; }
fn keys4(base: vec4u, off: u32) -> vec4f { return vec4f(pool[base.x + off], pool[base.y + off], pool[base.z + off], pool[base.w + off]); }
fn values4(base: vec4u, off: u32) -> vec4f { return keys4(base, off); }
