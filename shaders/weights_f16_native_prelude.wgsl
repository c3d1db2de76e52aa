// Weight-value prelude for f16 weights on devices with shader-f16: not a kernel.
// src/kernels/weight-read.ts prepends it first (the enable directive must open the module;
// see shaders/weights_f32_prelude.wgsl for the contract). Same buffer layout as the packed
// prelude (one half per element); each value is widened to f32 before any arithmetic, so
// compute stays f32 and matches the f32 sibling bit for bit on the decoded values.
enable f16;

alias WeightWord = f16;
alias WeightQuad = vec4h;

fn weightIndex(e: u32) -> u32 {
  return e;
}

fn weightValue(word: WeightWord, e: u32) -> f32 {
  return f32(word);
}

fn weightQuad(q: WeightQuad) -> vec4f {
  return vec4f(q);
}
