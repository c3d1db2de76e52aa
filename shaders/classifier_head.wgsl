// Batched per-tenant classifier heads (gather-GEMV):
//   logits[q, l] = sum_j W_t[l, j] * pooled[q, j] + b_t[l]   for l < L_t, t = tenant of request q;
//   logits[q, l] = 0 for L_t <= l < maxLabels.
// Shapes: pooled [numRequests, inDim] f32; logits [numRequests, maxLabels] f32.
// pool: f32 pages of pageFloats (= H) floats. Row l of W_t spans ceil(inDim/H) pages with
//   indices table[wOff + l*ceil(inDim/H) + pg]; bias b_t is one row of L_t floats on
//   ceil(L_t/H) pages at table[bOff ..].
// requests: vec4u (L_t, wOff, bOff, pool buffer index) per request; only requests whose pool
//   buffer index equals p.shard are computed by this dispatch (one dispatch per pool buffer).
// Safety: page indices are clamped to the bound pool buffer.
// Dispatch: grid1d(numRequests * maxLabels, 64); flat g = (wid.x + wid.y*nwg.x)*64 + lid,
//   q = g / maxLabels, l = g % maxLabels.
struct Params {
  numRequests: u32,
  inDim: u32,
  pageFloats: u32,
  maxLabels: u32,
  shard: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pooled: array<f32>;
@group(0) @binding(2) var<storage, read> pool: array<f32>;
@group(0) @binding(3) var<storage, read> requests: array<vec4u>;
@group(0) @binding(4) var<storage, read> table: array<u32>;
@group(0) @binding(5) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let g = (wid.x + wid.y * nwg.x) * 64u + lid;
  let q = g / p.maxLabels;
  if (q >= p.numRequests) { return; }
  let l = g - q * p.maxLabels;
  let req = requests[q];
  if (req.w != p.shard) { return; }
  let out = q * p.maxLabels + l;
  if (l >= req.x) {
    logits[out] = 0.0;
    return;
  }
  let H = p.pageFloats;
  let lastPage = arrayLength(&pool) / H - 1u;
  let pagesPerRow = (p.inDim + H - 1u) / H;
  let rowBase = req.y + l * pagesPerRow;
  let xBase = q * p.inDim;
  var acc = 0.0;
  for (var pg = 0u; pg < pagesPerRow; pg++) {
    let base = min(table[rowBase + pg], lastPage) * H;
    let j0 = pg * H;
    let n = min(H, p.inDim - j0);
    for (var e = 0u; e < n; e++) {
      acc += pool[base + e] * pooled[xBase + j0 + e];
    }
  }
  let bp = l / H;
  logits[out] = acc + pool[min(table[req.z + bp], lastPage) * H + (l - bp * H)];
}
