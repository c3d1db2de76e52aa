// Register-blocked matmul with vec4 loads, no workgroup memory: y[M,N] = epilogue(x[M,K] @ W).
// Same blocking as matmul_rb4x4.wgsl (4x4 outputs per invocation) but x and w are read as
// vec4s, a quarter of the loads (w as WeightQuads of the weight prelude,
// shaders/weights_*_prelude.wgsl: vec4f, or four halves widened to f32). Needs K % 4 == 0, and for KN also N % 4 == 0 (the binding
// picks matmul_rb4x4.wgsl otherwise); M and, for !KN, N tails are clamped as there.
// Products are added as matmul_naive.wgsl adds them (addK4, shaders/matmul_rb4x4_prelude.wgsl):
// the variants give the same bits, so an autotune's choice never changes an answer.
// W layout (override KN): true: w is [K,N] (GPT-2 Conv1D); false: w is [N,K] (nn.Linear).
// bias: [N] (bind any buffer when flags bit 0 is clear). Epilogue: matmul_epilogue.wgsl.
// Dispatch: (ceil(ceil(N/4)/WGX), ceil(ceil(M/4)/WGY)) workgroups of WGX x WGY.
override KN: bool = true;
override WGX: u32 = 8u;
override WGY: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<WeightQuad>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= p.M || col0 >= p.N) {
    return;
  }
  let kq = p.K / 4u;
  let m1 = p.M - 1u;
  let n1 = p.N - 1u;
  let r = vec4u(row0, min(row0 + 1u, m1), min(row0 + 2u, m1), min(row0 + 3u, m1)) * kq;
  var acc0 = vec4f();
  var acc1 = vec4f();
  var acc2 = vec4f();
  var acc3 = vec4f();
  if (KN) {
    let nq = p.N / 4u;
    var o = col0 / 4u;
    for (var k = 0u; k < kq; k++) {
      let a0 = x[r.x + k];
      let a1 = x[r.y + k];
      let a2 = x[r.z + k];
      let a3 = x[r.w + k];
      let b0 = weightQuad(w[o]);
      let b1 = weightQuad(w[o + nq]);
      let b2 = weightQuad(w[o + 2u * nq]);
      let b3 = weightQuad(w[o + 3u * nq]);
      o += 4u * nq;
      acc0 = addK4(acc0, a0, b0, b1, b2, b3);
      acc1 = addK4(acc1, a1, b0, b1, b2, b3);
      acc2 = addK4(acc2, a2, b0, b1, b2, b3);
      acc3 = addK4(acc3, a3, b0, b1, b2, b3);
    }
  } else {
    let wc = vec4u(col0, min(col0 + 1u, n1), min(col0 + 2u, n1), min(col0 + 3u, n1)) * kq;
    for (var k = 0u; k < kq; k++) {
      let a0 = x[r.x + k];
      let a1 = x[r.y + k];
      let a2 = x[r.z + k];
      let a3 = x[r.w + k];
      let b0 = weightQuad(w[wc.x + k]);
      let b1 = weightQuad(w[wc.y + k]);
      let b2 = weightQuad(w[wc.z + k]);
      let b3 = weightQuad(w[wc.w + k]);
      let t = transpose(mat4x4f(b0, b1, b2, b3));
      acc0 = addK4(acc0, a0, t[0], t[1], t[2], t[3]);
      acc1 = addK4(acc1, a1, t[0], t[1], t[2], t[3]);
      acc2 = addK4(acc2, a2, t[0], t[1], t[2], t[3]);
      acc3 = addK4(acc3, a3, t[0], t[1], t[2], t[3]);
    }
  }
  storeBlock(row0, col0, m1, n1, array<vec4f, 4>(acc0, acc1, acc2, acc3));
}
