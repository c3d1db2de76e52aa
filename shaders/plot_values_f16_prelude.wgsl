// Value prelude of shaders/plot_combine.wgsl for an f16 PLOT cache (half the bytes): not a
// kernel. src/kernels/plot-combine.ts prepends it (kernel plot_combine_f16). values u32
// [slots, slotWords]: slot s holds its window's 3H values as f16 pairs, element e in word e/2
// (low half when e is even, as unpack2x16float reads), slotWords = ceil(3H / 2). Packed in u32
// because WGSL's f16 type needs the optional shader-f16 feature; unpacking gives f32.
// slotBase(slot) is the element offset of a slot (clamped to the last slot); value(e) turns an
// element offset into a word and a half.
@group(0) @binding(1) var<storage, read> values: array<u32>;

fn slotBase(slot: u32) -> u32 {
  return min(slot, p.slots - 1u) * 2u * p.slotWords;
}

fn value(e: u32) -> f32 {
  let v = unpack2x16float(values[e / 2u]);
  return select(v.x, v.y, (e & 1u) == 1u);
}
