import { pagedRow, seqOfRow, type PagedKvRefArgs } from './kv-scatter.js';

export interface AttentionPagedRefArgs extends PagedKvRefArgs {
  q: ArrayLike<number>;
  qRows: number;
  numHeads: number;
  headDim: number;
  qStride: number;
  qOffset: number;
}

/**
 * CPU reference of the attention_paged kernels (shaders/attention_keys_paged_prelude.wgsl, f64):
 * causal, query j of a sequence at position kvLen - qLen + j; keys the table cannot address
 * are skipped; rows outside every sequence and queries with no visible key are zeros.
 */
export function attentionPagedRef(a: AttentionPagedRefArgs): Float64Array {
  const { numHeads: nh, headDim: hd } = a;
  const W = nh * hd;
  const out = new Float64Array(a.qRows * W);
  const scale = 1 / Math.sqrt(hd);
  for (let r = 0; r < a.qRows; r++) {
    const s = seqOfRow(a.seqs, a.numSeqs, r);
    if (s < 0) continue;
    const [qStart, qLen, tableOffset, kvLen] = [0, 1, 2, 3].map((i) => a.seqs[4 * s + i]);
    const pos = kvLen - qLen + (r - qStart);
    const rows: number[] = [];
    for (let j = 0; j <= pos && j < kvLen; j++) {
      const row = pagedRow(a, tableOffset, j);
      if (row >= 0) rows.push(a.layerBase + row * 2 * W);
    }
    if (rows.length === 0) continue;
    for (let h = 0; h < nh; h++) {
      const qBase = r * a.qStride + a.qOffset + h * hd;
      const scores = rows.map((base) => {
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += a.q[qBase + d] * a.pool[base + h * hd + d];
        return dot * scale;
      });
      const m = Math.max(...scores);
      const w = scores.map((x) => Math.exp(x - m));
      const sum = w.reduce((x, y) => x + y, 0);
      rows.forEach((base, i) => {
        for (let d = 0; d < hd; d++) out[r * W + h * hd + d] += (w[i] / sum) * a.pool[base + W + h * hd + d];
      });
    }
  }
  return out;
}
