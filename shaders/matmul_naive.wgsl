// Naive matmul, the reference GPU variant: y[M,N] = epilogue(x[M,K] @ W), one invocation
// per output, no reuse. Row-major; x, bias, y f32, w as the weight prelude stores it
// (shaders/weights_*_prelude.wgsl, prepended first); compute f32.
// W layout (override KN): true: w is [K,N] (GPT-2 Conv1D); false: w is [N,K] (nn.Linear).
// bias: [N] (bind any buffer when flags bit 0 is clear). Epilogue: matmul_epilogue.wgsl.
// Dispatch: (ceil(N/16), ceil(M/16)) workgroups of 16x16; x indexes columns, y rows.
override KN: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<WeightWord>;

// Weight element e, through the weight-value prelude (f32, or f16 packed or native).
fn wAt(e: u32) -> f32 {
  return weightValue(w[weightIndex(e)], e);
}

@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  let row = gid.y;
  if (row >= p.M || col >= p.N) {
    return;
  }
  let xo = row * p.K;
  var acc = 0.0;
  if (KN) {
    for (var k = 0u; k < p.K; k++) {
      acc += x[xo + k] * wAt(k * p.N + col);
    }
  } else {
    let wo = col * p.K;
    for (var k = 0u; k < p.K; k++) {
      acc += x[xo + k] * wAt(wo + k);
    }
  }
  store_out(row, col, acc);
}
