/** Turns the batched classifier logits (MultiTenantLora.encodeHeads) into per-request predictions. */
import type { HeadsLayout } from './multi-lora.js';

export interface HeadPrediction {
  readonly labelIndex: number;
  /** The tenant's label name, or `LABEL_<i>` (HF's default) when it has none. */
  readonly label: string;
  /** Softmax over the tenant's own labels only (the row's padding is ignored). */
  readonly scores: readonly number[];
}

/**
 * Softmax and argmax of request q's first numLabels[q] logits in a [numRequests, maxLabels]
 * array. A request whose tenant has no classifier gets labelIndex -1 and no scores.
 */
export function predictions(logits: Float32Array, layout: HeadsLayout, labelsOf: (q: number) => readonly string[] | undefined): HeadPrediction[] {
  return layout.numLabels.map((n, q) => {
    if (n === 0) return { labelIndex: -1, label: '', scores: [] };
    const row = logits.subarray(q * layout.maxLabels, q * layout.maxLabels + n);
    let best = 0;
    for (let l = 1; l < n; l++) if (row[l] > row[best]) best = l;
    const max = row[best];
    const exps = Array.from(row, (v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return { labelIndex: best, label: labelsOf(q)?.[best] ?? `LABEL_${best}`, scores: exps.map((e) => e / sum) };
  });
}
