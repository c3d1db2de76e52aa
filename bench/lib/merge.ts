import type { LoraAdapter, TensorMap } from '../../src/formats/types.js';

/**
 * The naive alternative's model for one tenant: W' = W + scale * B @ A for every adapted
 * projection (HF nn.Linear weight, [out, in]) and the tenant's head tensors in place of the
 * base's. Untouched tensors are shared with `base`, not copied.
 */
export function mergeAdapter(base: TensorMap, adapter: LoraAdapter): TensorMap {
  const out: TensorMap = new Map(base);
  for (const [path, m] of adapter.modules) {
    const name = `${path}.weight`;
    const w = base.get(name);
    if (!w) throw new Error(`merge: the base model has no ${name}`);
    if (w.shape[0] !== m.outDim || w.shape[1] !== m.inDim) throw new Error(`merge: ${name} is [${w.shape.join(',')}], the adapter ${m.outDim}x${m.inDim}`);
    const data = Float32Array.from(w.data);
    const { r, inDim, outDim } = m;
    for (let o = 0; o < outDim; o++) {
      const row = o * inDim;
      for (let k = 0; k < r; k++) {
        const b = m.scale * m.B[o * r + k];
        if (b === 0) continue;
        const a = k * inDim;
        for (let i = 0; i < inDim; i++) data[row + i] += b * m.A[a + i];
      }
    }
    out.set(name, { shape: w.shape, data });
  }
  for (const [name, t] of adapter.head) out.set(name, t);
  return out;
}
