// Softmax cross-entropy per row, forward and backward in one pass over the logits:
//   loss[r]       = logsumexp(logits[r,:]) - logits[r, label[r]]         (unscaled)
//   dLogits[r, c] = scale * (softmax(logits[r,:])[c] - (c == label[r]))
// A row whose label is >= classes (0xffffffff = ignore, and any out-of-range label, which is
// clamped to ignore rather than read out of bounds) gets loss 0 and a zero gradient row.
// Shapes: logits, dLogits [rows, classes] row-major f32; labels u32 [rows]; loss f32 [rows].
//   dLogits and loss are written, so neither may share a GPUBuffer with logits or labels.
// Bindings: 0 uniform Params, 1 logits, 2 labels (read), 3 dLogits, 4 loss (read_write).
// Dispatch: one workgroup of WG (override, 64 on GPUs, 4 on CPU adapters) per row,
//   grid1d(rows, 1): row = wid.x + wid.y * nwg.x.
// Each invocation keeps an online (max, sum) over its strided columns (as shaders/softmax.wgsl),
// then every invocation merges the WG pairs in index order after one barrier: a fixed
// summation order, the same bits on every run, and logits are read twice (stats, gradient).
// The label is loaded with workgroupUniformLoad so an ignored row can leave before the
// reduction (most rows of a masked-LM batch are ignored) without breaking barrier uniformity.
// Logits must be finite.
struct Params { rows: u32, classes: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> dLogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;

override WG: u32 = 64u;
const NEG = -3.0e38;
var<workgroup> rowLabel: u32;
var<workgroup> maxes: array<f32, WG>;
var<workgroup> sums: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.classes;
  if (lid == 0u) { rowLabel = labels[row]; }
  let label = workgroupUniformLoad(&rowLabel);
  if (label >= p.classes) {
    for (var c = lid; c < p.classes; c += WG) { dLogits[base + c] = 0.0; }
    if (lid == 0u) { loss[row] = 0.0; }
    return;
  }

  var m = NEG;
  var s = 0.0;
  for (var c = lid; c < p.classes; c += WG) {
    let v = logits[base + c];
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  maxes[lid] = m;
  sums[lid] = s;
  workgroupBarrier();

  var rowMax = NEG;
  for (var i = 0u; i < WG; i++) { rowMax = max(rowMax, maxes[i]); }
  var total = 0.0;
  for (var i = 0u; i < WG; i++) { total += sums[i] * exp(maxes[i] - rowMax); }
  let inv = 1.0 / total;

  if (lid == 0u) { loss[row] = rowMax + log(total) - logits[base + label]; }
  for (var c = lid; c < p.classes; c += WG) {
    let prob = exp(logits[base + c] - rowMax) * inv;
    dLogits[base + c] = p.scale * (prob - select(0.0, 1.0, c == label));
  }
}
