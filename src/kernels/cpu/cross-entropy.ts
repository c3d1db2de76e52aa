/** CPU reference of shaders/cross_entropy.wgsl (f64); a label >= classes ignores its row. */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  rows: number,
  classes: number,
  scale: number,
): { loss: Float64Array; dLogits: Float64Array } {
  const loss = new Float64Array(rows);
  const dLogits = new Float64Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    const label = labels[r];
    if (label >= classes) continue;
    const base = r * classes;
    let m = -Infinity;
    for (let c = 0; c < classes; c++) m = Math.max(m, logits[base + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[base + c] - m);
    const lse = m + Math.log(sum);
    loss[r] = lse - logits[base + label];
    for (let c = 0; c < classes; c++) dLogits[base + c] = scale * (Math.exp(logits[base + c] - lse) - (c === label ? 1 : 0));
  }
  return { loss, dLogits };
}
