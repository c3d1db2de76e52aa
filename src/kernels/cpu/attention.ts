/** Inputs of the attention reference, laid out exactly as the kernel's bindings. */
export interface AttentionRefArgs {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  /** 4 per sequence: qStart, qLen, kvStart, kvLen. */
  seqs: ArrayLike<number>;
  numSeqs: number;
  qRows: number;
  numHeads: number;
  headDim: number;
  qStride: number;
  qOffset: number;
  kvStride: number;
  kOffset: number;
  vOffset: number;
  causal: boolean;
  keyMask?: ArrayLike<number>;
}

/**
 * CPU reference of shaders/attention.wgsl (f64): query j of a sequence sits at position
 * kvLen - qLen + j; rows outside every sequence and queries with no visible key are zeros;
 * the first sequence containing a row wins.
 */
export function attentionRef(a: AttentionRefArgs): Float64Array {
  const { numHeads: nh, headDim: hd } = a;
  const width = nh * hd;
  const out = new Float64Array(a.qRows * width);
  const scale = 1 / Math.sqrt(hd);
  for (let r = 0; r < a.qRows; r++) {
    let seq = -1;
    for (let s = 0; s < a.numSeqs && seq < 0; s++) {
      if (r >= a.seqs[4 * s] && r < a.seqs[4 * s] + a.seqs[4 * s + 1]) seq = s;
    }
    if (seq < 0) continue;
    const [qStart, qLen, kvStart, kvLen] = [0, 1, 2, 3].map((i) => a.seqs[4 * seq + i]);
    const pos = kvLen - qLen + (r - qStart);
    const visible: number[] = [];
    for (let j = 0; j < kvLen; j++) {
      if (a.causal && j > pos) continue;
      if (a.keyMask && a.keyMask[kvStart + j] === 0) continue;
      visible.push(j);
    }
    if (visible.length === 0) continue;
    for (let h = 0; h < nh; h++) {
      const qBase = r * a.qStride + a.qOffset + h * hd;
      const scores = visible.map((j) => {
        const kBase = (kvStart + j) * a.kvStride + a.kOffset + h * hd;
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += a.q[qBase + d] * a.k[kBase + d];
        return dot * scale;
      });
      const m = Math.max(...scores);
      const w = scores.map((s) => Math.exp(s - m));
      const sum = w.reduce((x, y) => x + y, 0);
      for (let i = 0; i < visible.length; i++) {
        const vBase = (kvStart + visible[i]) * a.kvStride + a.vOffset + h * hd;
        for (let d = 0; d < hd; d++) out[r * width + h * hd + d] += (w[i] / sum) * a.v[vBase + d];
      }
    }
  }
  return out;
}
