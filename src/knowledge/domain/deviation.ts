/**
 * How far `inherit` (an ancestor's entries, cheaper) drifts from `exact` (the node's own lower
 * layers): the two numbers the benchmark reports for a batch.
 */
import { readF32 } from '../../gpu/buffers.js';
import { ShapeError } from '../../errors.js';
import type { PlotAssembler, PlotSequence } from './assembler.js';

/**
 * How far policy 'inherit' drifts from 'exact' at a domain: the split-layer hidden states
 * (the input of layer S) of the same texts assembled both ways, compared row by row.
 */
export interface PlotDeviation {
  /** Mean over rows (tokens) of the cosine similarity, inherit vs exact. 1 = identical. */
  readonly meanCosine: number;
  /** Largest absolute difference over every element. */
  readonly maxAbsDiff: number;
  /** Rows (tokens) compared. */
  readonly rows: number;
  /** Rows inherit served from an ancestor with other lower weights: the only ones that can differ. */
  readonly inheritedRows: number;
}

export interface Deviation {
  /** Mean over rows of the cosine similarity of the two hidden states. */
  readonly meanCosine: number;
  /** Largest absolute difference over every element. */
  readonly maxAbsDiff: number;
  readonly rows: number;
}

/** A deviation measured on served batches, with how many rows inherit took from an ancestor: the public PlotDeviation. */
export type InheritDeviation = PlotDeviation;

/** Several batches' deviations as one: the mean weighted by rows, the max of the maxima. */
export function combineDeviations(parts: readonly InheritDeviation[]): InheritDeviation {
  const rows = parts.reduce((n, d) => n + d.rows, 0);
  return {
    rows,
    meanCosine: rows > 0 ? parts.reduce((a, d) => a + d.meanCosine * d.rows, 0) / rows : 1,
    maxAbsDiff: parts.reduce((a, d) => Math.max(a, d.maxAbsDiff), 0),
    inheritedRows: parts.reduce((n, d) => n + d.inheritedRows, 0),
  };
}

/** Compares two [rows, dim] hidden states row by row (a zero row against a zero row has cosine 1). */
export function compareHidden(approx: ArrayLike<number>, exact: ArrayLike<number>, rows: number, dim: number): Deviation {
  if (approx.length < rows * dim || exact.length < rows * dim) throw new ShapeError(`compareHidden: inputs shorter than ${rows}x${dim}`);
  let cosSum = 0;
  let maxAbs = 0;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let c = r * dim; c < (r + 1) * dim; c++) {
      const a = approx[c];
      const b = exact[c];
      dot += a * b;
      na += a * a;
      nb += b * b;
      maxAbs = Math.max(maxAbs, Math.abs(a - b));
    }
    cosSum += na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb || Number.MIN_VALUE);
  }
  return { meanCosine: rows > 0 ? cosSum / rows : 1, maxAbsDiff: maxAbs, rows };
}

/**
 * Assembles the batch under both policies on the GPU and compares the hidden states. Inherit
 * runs first: exact would put the node's own entries in the GPU cache, and inherit prefers
 * those to an ancestor's. Entries the node already held exactly therefore count as exact:
 * this is the deviation inherit serves now, not that of a cold cache. A measurement, not
 * traffic: it moves no frequency counter and no hit statistic.
 */
export async function measureInheritDeviation(assembler: PlotAssembler, seqs: readonly PlotSequence[]): Promise<InheritDeviation> {
  const inherit = await assembler.assemble(seqs, { policy: 'inherit', record: false });
  const exact = await assembler.assemble(seqs, { policy: 'exact', record: false }).catch((e: unknown) => {
    inherit.hidden.destroy();
    throw e;
  });
  try {
    const n = exact.batch.rows * assembler.domain.layout.hidden;
    const [a, b] = await Promise.all([readF32(assembler.ctx, inherit.hidden, n), readF32(assembler.ctx, exact.hidden, n)]);
    return { ...compareHidden(a, b, exact.batch.rows, assembler.domain.layout.hidden), inheritedRows: inherit.batch.foreignRows };
  } finally {
    exact.hidden.destroy();
    inherit.hidden.destroy();
  }
}
