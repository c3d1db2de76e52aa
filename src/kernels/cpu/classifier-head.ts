import type { ClassifierHeadParams } from '../classifier-head.js';

export interface ClassifierHeadRefInputs {
  readonly pooled: ArrayLike<number>;
  /** The bound pool buffer's floats (page clamping uses its length). */
  readonly pool: ArrayLike<number>;
  readonly requests: Uint32Array;
  readonly table: Uint32Array;
  /** logits before the kernel: requests of other pool buffers keep these values. */
  readonly logits: ArrayLike<number>;
}

const at = (a: Uint32Array, i: number): number => (i < a.length ? a[i] : 0);

/** f64 reference of shaders/classifier_head.wgsl. */
export function classifierHeadRef(inp: ClassifierHeadRefInputs, p: ClassifierHeadParams): Float64Array {
  const out = Float64Array.from(inp.logits);
  const H = p.pageFloats;
  const lastPage = Math.floor(inp.pool.length / H) - 1;
  const pagesPerRow = Math.ceil(p.inDim / H);
  for (let q = 0; q < p.numRequests; q++) {
    const [L, wOff, bOff, shard] = inp.requests.subarray(q * 4, q * 4 + 4);
    if (shard !== p.shard) continue;
    for (let l = 0; l < p.maxLabels; l++) {
      const o = q * p.maxLabels + l;
      if (l >= L) {
        out[o] = 0;
        continue;
      }
      let acc = 0;
      for (let pg = 0; pg < pagesPerRow; pg++) {
        const base = Math.min(at(inp.table, wOff + l * pagesPerRow + pg), lastPage) * H;
        const j0 = pg * H;
        const n = Math.min(H, p.inDim - j0);
        for (let e = 0; e < n; e++) acc += inp.pool[base + e] * inp.pooled[q * p.inDim + j0 + e];
      }
      const bp = Math.floor(l / H);
      out[o] = acc + inp.pool[Math.min(at(inp.table, bOff + bp), lastPage) * H + (l - bp * H)];
    }
  }
  return out;
}
