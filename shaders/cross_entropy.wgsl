// Softmax cross-entropy per row, forward and backward in one pass over the logits:
//   loss[r]       = logsumexp(logits[r,:]) - logits[r, label[r]]         (unscaled)
//   dLogits[r, c] = scale * (softmax(logits[r,:])[c] - (c == label[r]))
// A row whose label is >= classes (0xffffffff = ignore, and any out-of-range label, which is
// clamped to ignore rather than read out of bounds) gets loss 0 and a zero gradient row.
// Shapes: logits, dLogits [rows, classes] row-major f32; labels u32 [rows]; loss f32 [rows].
//   dLogits and loss are written, so neither may share a GPUBuffer with logits or labels.
// Bindings: 0 uniform Params, 1 logits, 2 labels (read), 3 dLogits, 4 loss (read_write).
// Dispatch: one workgroup of WG (override, declared by the prelude: 64 on GPUs, 4 on CPU
//   adapters) per row, grid1d(rows, 1): row = wid.x + wid.y * nwg.x.
// Composed after shaders/softmax_stats_prelude.wgsl (src/kernels/cross-entropy.ts), unmasked:
// rowMaxSum() keeps an online (max, sum) per invocation over its strided columns (as
// shaders/softmax.wgsl), then every invocation merges the WG pairs in index order after one
// barrier: a fixed summation order, the same bits on every run, and logits are read twice
// (stats, gradient).
// The label is loaded with workgroupUniformLoad so an ignored row can leave before the
// reduction (most rows of a masked-LM batch are ignored) without breaking barrier uniformity.
// Logits must be finite.
struct Params { rows: u32, classes: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> dLogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;

var<workgroup> rowLabel: u32;

fn rowValue(i: u32) -> f32 { return logits[i]; }

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

  let st = rowMaxSum(base, p.classes, lid, false);
  let inv = 1.0 / st.total;

  if (lid == 0u) { loss[row] = st.rowMax + log(st.total) - logits[base + label]; }
  for (var c = lid; c < p.classes; c += WG) {
    let prob = exp(logits[base + c] - st.rowMax) * inv;
    dLogits[base + c] = p.scale * (prob - select(0.0, 1.0, c == label));
  }
}
