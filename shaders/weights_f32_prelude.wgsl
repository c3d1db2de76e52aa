// Weight-value prelude for f32 weights: not a kernel. src/kernels/weight-read.ts prepends it
// (first, as the f16 preludes must be) to the kernels that read base weights through it
// (shaders/matmul_*.wgsl, shaders/embedding.wgsl). A kernel declares its weight bindings as
// array<WeightWord> (or array<WeightQuad> for vec4 reads) and reads element e as
// weightValue(w[weightIndex(e)], e), four consecutive elements as weightQuad(w[q]).
// Here a word is one f32: the read is the plain load. Compute is f32 in every variant.
alias WeightWord = f32;
alias WeightQuad = vec4f;

fn weightIndex(e: u32) -> u32 {
  return e;
}

fn weightValue(word: WeightWord, e: u32) -> f32 {
  return word;
}

fn weightQuad(q: WeightQuad) -> vec4f {
  return q;
}
