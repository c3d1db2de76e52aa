// Shared epilogue of the matmul kernels: not a kernel by itself. src/kernels/matmul.ts
// prepends it to each shaders/matmul_*.wgsl kernel, which declares the bindings it uses
// (p, bias, y). For output (row, col) with accumulator acc:
//   v = alpha * acc (+ bias[col] if flags bit 0) ; v = act(v) ; y = v (+ y if flags bit 1)
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
}

// WGSL has no erf. Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 over the real line.
fn erf_approx(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}

fn activate(v: f32) -> f32 {
  switch p.act {
    case 1u: {
      return 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752));
    }
    case 2u: {
      // Clamped because some drivers build tanh from exp, which overflows to inf/inf = NaN.
      let u = clamp(0.79788456080286536 * (v + 0.044715 * v * v * v), -15.0, 15.0);
      return 0.5 * v * (1.0 + tanh(u));
    }
    default: {
      return v;
    }
  }
}

fn store_out(row: u32, col: u32, acc: f32) {
  var v = p.alpha * acc;
  if ((p.flags & 1u) != 0u) {
    v += bias[col];
  }
  v = activate(v);
  let i = row * p.N + col;
  if ((p.flags & 2u) != 0u) {
    v += y[i];
  }
  y[i] = v;
}
