// Register-blocked matmul with vec4 loads, no workgroup memory: y[M,N] = epilogue(x[M,K] @ W).
// Same blocking as matmul_rb4x4.wgsl (4x4 outputs per invocation) but x and w are read as
// vec4s, a quarter of the loads (w as WeightQuads of the weight prelude,
// shaders/weights_*_prelude.wgsl: vec4f, or four halves widened to f32). Needs K % 4 == 0, and for KN also N % 4 == 0 (the binding
// picks matmul_rb4x4.wgsl otherwise); M and, for !KN, N tails are clamped as there.
// Each accumulator adds its products one k at a time, in the order matmul_naive.wgsl does:
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
      acc0 += a0.x * b0;
      acc0 += a0.y * b1;
      acc0 += a0.z * b2;
      acc0 += a0.w * b3;
      acc1 += a1.x * b0;
      acc1 += a1.y * b1;
      acc1 += a1.z * b2;
      acc1 += a1.w * b3;
      acc2 += a2.x * b0;
      acc2 += a2.y * b1;
      acc2 += a2.z * b2;
      acc2 += a2.w * b3;
      acc3 += a3.x * b0;
      acc3 += a3.y * b1;
      acc3 += a3.z * b2;
      acc3 += a3.w * b3;
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
      acc0 += a0.x * t[0];
      acc0 += a0.y * t[1];
      acc0 += a0.z * t[2];
      acc0 += a0.w * t[3];
      acc1 += a1.x * t[0];
      acc1 += a1.y * t[1];
      acc1 += a1.z * t[2];
      acc1 += a1.w * t[3];
      acc2 += a2.x * t[0];
      acc2 += a2.y * t[1];
      acc2 += a2.z * t[2];
      acc2 += a2.w * t[3];
      acc3 += a3.x * t[0];
      acc3 += a3.y * t[1];
      acc3 += a3.z * t[2];
      acc3 += a3.w * t[3];
    }
  }
  var acc = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row > m1) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      if (col0 + j <= n1) {
        store_out(row, col0 + j, acc[i][j]);
      }
    }
  }
}
