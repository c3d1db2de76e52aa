// Shared by matmul_rb4x4.wgsl and matmul_rb4x4_vec4.wgsl: not a kernel. src/kernels/matmul.ts
// prepends it to both, so each adds its products in one order, matmul_naive.wgsl's (one k at
// a time): every matmul variant gives the same bits.
//   addK4(acc, a, b0, b1, b2, b3): acc + a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3, added left
//     to right; a holds one row's x at k .. k+3, b_i the block's four columns' weights at k+i.
//   storeBlock(row0, col0, m1, n1, acc): the 4x4 block at (row0, col0) through the epilogue's
//     store_out, skipping rows past m1 and columns past n1 (the clamped tails).
fn addK4(acc: vec4f, a: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f) -> vec4f {
  var s = acc;
  s += a.x * b0;
  s += a.y * b1;
  s += a.z * b2;
  s += a.w * b3;
  return s;
}

fn storeBlock(row0: u32, col0: u32, m1: u32, n1: u32, block: array<vec4f, 4>) {
  var acc = block;
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
