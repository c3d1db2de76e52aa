// Shared GELU prelude: not a kernel. src/kernels/gelu.ts prepends it to shaders/gelu.wgsl and
// shaders/gelu_inplace.wgsl, src/kernels/matmul.ts to every matmul kernel (through
// shaders/matmul_epilogue.wgsl's activate()), src/kernels/activation-backward.ts to
// shaders/activation_backward.wgsl (the derivatives). One definition, so a layer's output bits
// do not depend on whether its activation ran fused into the matmul (no LoRA) or as its own
// dispatch after the LoRA delta (test/model/gelu-paths.test.ts holds the two paths
// bit-identical), and the gradient differentiates the very forward that ran.
//   geluErf: exact BERT gelu 0.5x(1 + erf(x/sqrt2)).
//   geluTanh: GPT-2 gelu_new 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))).
// For the derivatives, the pieces the two are formed from:
//   geluErfParts(x): erfc(|x|/sqrt2) and exp(-x^2/2), the erfc's own Gaussian factor.
//   geluTanhArg(x): 2u = 2 sqrt(2/pi)(x + 0.044715x^3), unclamped; geluTanhArgSlope(x) = d(2u)/dx;
//   GELU_TANH_CLAMP: the bound of 2u past which geluTanh's factor is 0 or 1 in f32.

const GELU_TANH_K = 1.5957691216057308; // 2 sqrt(2/pi)
const GELU_TANH_C = 0.044715;
const GELU_TANH_CLAMP = 80.0;

struct GeluErfParts { erfc: f32, gauss: f32 }

// WGSL has no erf. Abramowitz & Stegun 7.1.26 gives erfc(z) for z >= 0 with |error| <= 1.5e-7;
// working with erfc directly keeps the x < 0 side free of the cancellation in 1 + erf.
fn geluErfParts(v: f32) -> GeluErfParts {
  let z = abs(v) * 0.70710678118654752;
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let gauss = exp(-z * z);
  return GeluErfParts(poly * gauss, gauss);
}

fn geluErf(v: f32) -> f32 {
  let erfc = geluErfParts(v).erfc;
  return 0.5 * v * select(erfc, 2.0 - erfc, v >= 0.0);
}

fn geluTanhArg(v: f32) -> f32 {
  return GELU_TANH_K * (v + GELU_TANH_C * v * v * v);
}

fn geluTanhArgSlope(v: f32) -> f32 {
  return GELU_TANH_K * (1.0 + 3.0 * GELU_TANH_C * v * v);
}

// 0.5(1 + tanh(u)) = 1 / (1 + exp(-2u)): no tanh, whose exp-based lowering overflows to NaN on
// some backends for large |u|. The clamp keeps exp finite; past it the factor is 0 or 1 in f32.
fn geluTanh(v: f32) -> f32 {
  let u2 = clamp(geluTanhArg(v), -GELU_TANH_CLAMP, GELU_TANH_CLAMP);
  return v / (1.0 + exp(-u2));
}
