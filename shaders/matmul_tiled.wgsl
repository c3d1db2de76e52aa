// Workgroup-memory tiled matmul (the shape real GPUs prefer): y[M,N] = epilogue(x[M,K] @ W).
// A workgroup computes a 64x64 output tile; it stages 64x16 of x and 16x64 of W in
// workgroup memory per K step, and each of its 16x16 invocations accumulates a 4x4 block.
// Out-of-range tile elements are staged as zeros, so any M, N, K is exact. w is read
// through the weight prelude (shaders/weights_*_prelude.wgsl: f32, or f16 widened to f32).
// W layout (override KN): true: w is [K,N] (GPT-2 Conv1D); false: w is [N,K] (nn.Linear).
// bias: [N] (bind any buffer when flags bit 0 is clear). Epilogue: matmul_epilogue.wgsl.
// Dispatch: (ceil(N/64), ceil(M/64)) workgroups of 16x16.
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

const TILE = 64u;
const BK = 16u;
// Both tiles are stored k-major ([BK][TILE]) so the inner loop reads 4 consecutive rows/cols.
var<workgroup> xs: array<f32, 1024>;
var<workgroup> ws: array<f32, 1024>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = 0u; i < 4u; i++) {
      let e = tid + i * 256u;
      // x: consecutive invocations walk along k, which is contiguous in memory.
      let xr = e / BK;
      let xk = e % BK;
      let gr = row0 + xr;
      let gk = k0 + xk;
      var xv = 0.0;
      if (gr < p.M && gk < p.K) {
        xv = x[gr * p.K + gk];
      }
      xs[xk * TILE + xr] = xv;
      // W: walk along whichever dimension is contiguous for this layout.
      var wk: u32;
      var wc: u32;
      if (KN) {
        wk = e / TILE;
        wc = e % TILE;
      } else {
        wc = e / BK;
        wk = e % BK;
      }
      let gc = col0 + wc;
      let gwk = k0 + wk;
      var wv = 0.0;
      if (gc < p.N && gwk < p.K) {
        if (KN) {
          wv = wAt(gwk * p.N + gc);
        } else {
          wv = wAt(gc * p.K + gwk);
        }
      }
      ws[wk * TILE + wc] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let xb = kk * TILE + lid.y * 4u;
      let wb = kk * TILE + lid.x * 4u;
      let a = vec4f(xs[xb], xs[xb + 1u], xs[xb + 2u], xs[xb + 3u]);
      let b = vec4f(ws[wb], ws[wb + 1u], ws[wb + 2u], ws[wb + 3u]);
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid.y * 4u + i;
    if (row >= p.M) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x * 4u + j;
      if (col < p.N) {
        store_out(row, col, acc[i][j]);
      }
    }
  }
}
