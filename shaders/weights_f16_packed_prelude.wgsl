// Weight-value prelude for f16 weights on devices without shader-f16: not a kernel.
// src/kernels/weight-read.ts prepends it (see shaders/weights_f32_prelude.wgsl for the
// contract). The buffer holds IEEE halves, element e in u32 word e/2 (low half when e is
// even, as safetensors' little-endian halves and unpack2x16float agree), so it is the same
// buffer the native prelude reads as array<f16>. unpack2x16float is exact, so a kernel
// computes bit for bit what its f32 sibling computes on the decoded values.
alias WeightWord = u32;
alias WeightQuad = vec2u;

fn weightIndex(e: u32) -> u32 {
  return e >> 1u;
}

fn weightValue(word: WeightWord, e: u32) -> f32 {
  let v = unpack2x16float(word);
  return select(v.x, v.y, (e & 1u) == 1u);
}

fn weightQuad(q: WeightQuad) -> vec4f {
  return vec4f(unpack2x16float(q.x), unpack2x16float(q.y));
}
