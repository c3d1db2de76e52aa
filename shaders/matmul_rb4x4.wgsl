// Register-blocked matmul, no workgroup memory: y[M,N] = epilogue(x[M,K] @ W).
// Each invocation computes a 4x4 output block with scalar loads (any M, N, K). CPU-style
// Vulkan (SwiftShader) runs this far faster than workgroup-memory tiling: 8 loads feed
// 16 FMAs and there are no barriers. Tail rows/cols are clamped for the loads (the block
// recomputes the last valid row/col) and skipped at the store, so tails stay exact. w is
// read through the weight prelude (shaders/weights_*_prelude.wgsl: f32, or f16 widened).
// Products are added as matmul_naive.wgsl adds them (addK4, shaders/matmul_rb4x4_prelude.wgsl):
// the variants give the same bits, so an autotune's choice never changes an answer.
// W layout (override KN): true: w is [K,N] (GPT-2 Conv1D); false: w is [N,K] (nn.Linear).
// bias: [N] (bind any buffer when flags bit 0 is clear). Epilogue: matmul_epilogue.wgsl.
// Dispatch: (ceil(ceil(N/4)/WGX), ceil(ceil(M/4)/WGY)) workgroups of WGX x WGY.
override KN: bool = true;
override WGX: u32 = 8u;
override WGY: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<WeightWord>;

// Weight element e, through the weight-value prelude (f32, or f16 packed or native).
fn wAt(e: u32) -> f32 {
  return weightValue(w[weightIndex(e)], e);
}

@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn x4(o: u32) -> vec4f {
  return vec4f(x[o], x[o + 1u], x[o + 2u], x[o + 3u]);
}

fn w4(o: u32) -> vec4f {
  return vec4f(wAt(o), wAt(o + 1u), wAt(o + 2u), wAt(o + 3u));
}

fn wg(o: u32, c: vec4u) -> vec4f {
  return vec4f(wAt(o + c.x), wAt(o + c.y), wAt(o + c.z), wAt(o + c.w));
}

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= p.M || col0 >= p.N) {
    return;
  }
  let K = p.K;
  let N = p.N;
  let m1 = p.M - 1u;
  let n1 = N - 1u;
  let r = vec4u(row0, min(row0 + 1u, m1), min(row0 + 2u, m1), min(row0 + 3u, m1)) * K;
  let c = vec4u(col0, min(col0 + 1u, n1), min(col0 + 2u, n1), min(col0 + 3u, n1));
  let k4 = K & ~3u;
  var acc0 = vec4f();
  var acc1 = vec4f();
  var acc2 = vec4f();
  var acc3 = vec4f();
  if (KN) {
    for (var k = 0u; k < k4; k += 4u) {
      let a0 = x4(r.x + k);
      let a1 = x4(r.y + k);
      let a2 = x4(r.z + k);
      let a3 = x4(r.w + k);
      let o = k * N;
      let b0 = wg(o, c);
      let b1 = wg(o + N, c);
      let b2 = wg(o + 2u * N, c);
      let b3 = wg(o + 3u * N, c);
      acc0 = addK4(acc0, a0, b0, b1, b2, b3);
      acc1 = addK4(acc1, a1, b0, b1, b2, b3);
      acc2 = addK4(acc2, a2, b0, b1, b2, b3);
      acc3 = addK4(acc3, a3, b0, b1, b2, b3);
    }
    for (var k = k4; k < K; k++) {
      let b = wg(k * N, c);
      acc0 += x[r.x + k] * b;
      acc1 += x[r.y + k] * b;
      acc2 += x[r.z + k] * b;
      acc3 += x[r.w + k] * b;
    }
  } else {
    let wc = c * K;
    for (var k = 0u; k < k4; k += 4u) {
      let a0 = x4(r.x + k);
      let a1 = x4(r.y + k);
      let a2 = x4(r.z + k);
      let a3 = x4(r.w + k);
      let b0 = w4(wc.x + k);
      let b1 = w4(wc.y + k);
      let b2 = w4(wc.z + k);
      let b3 = w4(wc.w + k);
      let t = transpose(mat4x4f(b0, b1, b2, b3));
      acc0 = addK4(acc0, a0, t[0], t[1], t[2], t[3]);
      acc1 = addK4(acc1, a1, t[0], t[1], t[2], t[3]);
      acc2 = addK4(acc2, a2, t[0], t[1], t[2], t[3]);
      acc3 = addK4(acc3, a3, t[0], t[1], t[2], t[3]);
    }
    for (var k = k4; k < K; k++) {
      let b = vec4f(wAt(wc.x + k), wAt(wc.y + k), wAt(wc.z + k), wAt(wc.w + k));
      acc0 += x[r.x + k] * b;
      acc1 += x[r.y + k] * b;
      acc2 += x[r.z + k] * b;
      acc3 += x[r.w + k] * b;
    }
  }
  storeBlock(row0, col0, m1, n1, array<vec4f, 4>(acc0, acc1, acc2, acc3));
}
