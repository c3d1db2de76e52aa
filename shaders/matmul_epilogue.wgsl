// Shared epilogue of the matmul kernels: not a kernel by itself. src/kernels/matmul.ts
// prepends it (after shaders/gelu_prelude.wgsl) to each shaders/matmul_*.wgsl kernel, which
// declares the bindings it uses (p, bias, y). For output (row, col) with accumulator acc:
//   v = alpha * acc (+ bias[col0 + col] if flags bit 0) ; v = act(v) ;
//   y[row * ldy + col0 + col] = v (+ that y if flags bit 1)
// The activation comes after the bias and before the accumulation, so a LoRA delta or a
// residual can be added onto y by the same dispatch.
struct Params {
  M: u32,
  N: u32,
  K: u32,
  // bit 0: a bias is bound; bit 1: add onto the existing y.
  flags: u32,
  alpha: f32,
  // 0: none, 1: GELU with erf (BERT), 2: GELU with tanh (GPT-2 gelu_new).
  act: u32,
  // y's row stride and the column of y (and bias) where this dispatch's N columns start:
  // N and 0 for a whole weight; the full width and the shard's first row for one row shard of
  // an [N, K] weight (the LM head), so the shards write disjoint columns of one output.
  ldy: u32,
  col0: u32,
}

// The GELU forms are shaders/gelu_prelude.wgsl's (prepended before this epilogue), the same
// functions the standalone gelu kernels run: a LoRA-adapted layer, whose activation runs as
// its own dispatch after the delta, must match the fused path bit for bit.
fn activate(v: f32) -> f32 {
  switch p.act {
    case 1u: {
      return geluErf(v);
    }
    case 2u: {
      return geluTanh(v);
    }
    default: {
      return v;
    }
  }
}

fn store_out(row: u32, col: u32, acc: f32) {
  var v = p.alpha * acc;
  if ((p.flags & 1u) != 0u) {
    v += bias[p.col0 + col];
  }
  v = activate(v);
  let i = row * p.ldy + p.col0 + col;
  if ((p.flags & 2u) != 0u) {
    v += y[i];
  }
  y[i] = v;
}
