// Value prelude of shaders/plot_combine.wgsl for an f32 PLOT cache: not a kernel.
// src/kernels/plot-combine.ts prepends it (kernel plot_combine). values [slots, 3H] f32
// row-major. slotBase(slot) is the element offset of a slot (clamped to the last slot, so a bad
// index never reads outside values); value(e) reads element e.
@group(0) @binding(1) var<storage, read> values: array<f32>;

fn slotBase(slot: u32) -> u32 {
  return min(slot, p.slots - 1u) * 3u * p.hidden;
}

fn value(e: u32) -> f32 {
  return values[e];
}
