/** The pool layer and step descriptors of the paged kernels, as plain arrays. */
export interface PagedKvRefArgs {
  pool: ArrayLike<number>;
  layerBase: number;
  numBlocks: number;
  blockTokens: number;
  /** 4 per sequence: qStart, qLen, tableOffset, kvLen. */
  seqs: ArrayLike<number>;
  numSeqs: number;
  table: ArrayLike<number>;
  tableLen: number;
}

/** Pool row (in rows of 2*width floats from layerBase) of a sequence's position, or -1 when the table cannot address it. */
export function pagedRow(a: PagedKvRefArgs, tableOffset: number, pos: number): number {
  const entry = Math.floor(pos / a.blockTokens);
  if (tableOffset >= a.tableLen || entry >= a.tableLen - tableOffset) return -1;
  const block = a.table[tableOffset + entry];
  if (block >= a.numBlocks) return -1;
  return block * a.blockTokens + (pos % a.blockTokens);
}

/** The first sequence (in listing order) owning q/src row r, or -1. */
export function seqOfRow(seqs: ArrayLike<number>, numSeqs: number, r: number): number {
  for (let s = 0; s < numSeqs; s++) if (r >= seqs[4 * s] && r < seqs[4 * s] + seqs[4 * s + 1]) return s;
  return -1;
}

export interface KvScatterRefArgs extends PagedKvRefArgs {
  src: ArrayLike<number>;
  rows: number;
  width: number;
  srcStride: number;
  kOffset: number;
  vOffset: number;
}

/** CPU reference of shaders/kv_scatter.wgsl (f64): returns the pool after the writes. */
export function kvScatterRef(a: KvScatterRefArgs): Float64Array {
  const pool = Float64Array.from(a.pool);
  for (let r = 0; r < a.rows; r++) {
    const s = seqOfRow(a.seqs, a.numSeqs, r);
    if (s < 0) continue;
    const [qStart, qLen, tableOffset, kvLen] = [0, 1, 2, 3].map((i) => a.seqs[4 * s + i]);
    if (kvLen < qLen) continue;
    const row = pagedRow(a, tableOffset, kvLen - qLen + (r - qStart));
    if (row < 0) continue;
    const dst = a.layerBase + row * 2 * a.width;
    for (let c = 0; c < a.width; c++) {
      pool[dst + c] = a.src[r * a.srcStride + a.kOffset + c];
      pool[dst + a.width + c] = a.src[r * a.srcStride + a.vOffset + c];
    }
  }
  return pool;
}
