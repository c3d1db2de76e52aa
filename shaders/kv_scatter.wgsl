// Writes a step's new keys and values into the paged KV pool, for every sequence of the
// step in one dispatch (vLLM's reshape_and_cache, with the slot found through the block table).
// Bindings: src f32 [rows, srcStride]: row r's key is src[r*srcStride + kOffset ..+width],
//   its value src[r*srcStride + vOffset ..+width] (GPT-2's fused c_attn output [T, 3H]
//   binds with srcStride 3H, kOffset H, vOffset 2H).
//   seqs u32, 4 per sequence: qStart, qLen, tableOffset, kvLen: the sequence owns src rows
//   qStart..qStart+qLen-1, which are its positions kvLen-qLen .. kvLen-1; its block table
//   is table[tableOffset ..]. table u32 [tableLen]: physical block ids.
//   pool f32: this layer's region starts at float layerBase and holds numBlocks blocks of
//   blockTokens rows of 2*width floats (key then value): position t of a sequence lives in
//   row table[tableOffset + t / blockTokens] * blockTokens + t % blockTokens.
// Rows outside every sequence, and rows whose table entry lies past tableLen or names a
// block >= numBlocks, are not written: nothing outside this layer's region is ever touched.
// If sequences overlap in src, the first listed wins.
// Dispatch: one workgroup of WG (override) per src row: grid1d(rows, 1), row = wid.x + wid.y * nwg.x.
struct Params {
  numSeqs: u32, rows: u32, width: u32, srcStride: u32,
  kOffset: u32, vOffset: u32, blockTokens: u32, numBlocks: u32,
  tableLen: u32, layerBase: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> seqs: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<u32>;
@group(0) @binding(4) var<storage, read_write> pool: array<f32>;

// 64 on GPUs; 4 on CPU adapters, where wide workgroups cost more than they give.
override WG: u32 = 64u;

// Zero-initialized; holds ~seq so atomicMax picks the first sequence containing the row.
var<workgroup> foundAtomic: atomic<u32>;
var<workgroup> found: u32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  for (var s = lid; s < p.numSeqs; s += WG) {
    let qStart = seqs[4u * s];
    if (row >= qStart && row - qStart < seqs[4u * s + 1u]) { atomicMax(&foundAtomic, ~s); }
  }
  workgroupBarrier();
  if (lid == 0u) { found = atomicLoad(&foundAtomic); }
  let f = workgroupUniformLoad(&found);
  if (f == 0u) { return; }
  let seq = ~f;
  let qStart = seqs[4u * seq];
  let qLen = seqs[4u * seq + 1u];
  let tableOffset = seqs[4u * seq + 2u];
  let kvLen = seqs[4u * seq + 3u];
  if (kvLen < qLen) { return; }
  let pos = kvLen - qLen + (row - qStart);
  let entry = pos / p.blockTokens;
  if (tableOffset >= p.tableLen || entry >= p.tableLen - tableOffset) { return; }
  let block = table[tableOffset + entry];
  if (block >= p.numBlocks) { return; }
  let dst = p.layerBase + (block * p.blockTokens + pos % p.blockTokens) * 2u * p.width;
  let srcRow = row * p.srcStride;
  for (var c = lid; c < p.width; c += WG) {
    pool[dst + c] = src[srcRow + p.kOffset + c];
    pool[dst + p.width + c] = src[srcRow + p.vOffset + c];
  }
}
