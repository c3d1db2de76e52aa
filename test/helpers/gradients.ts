// Finite-difference checks of the backward kernels' f64 references.

/** Central differences of f at x0: every coordinate, or only `coords` (the others stay 0). */
export function numericGradient(f: (x: Float64Array) => number, x0: ArrayLike<number>, coords?: readonly number[], h = 1e-5): Float64Array {
  const x = Float64Array.from(x0);
  const g = new Float64Array(x.length);
  for (const i of coords ?? x.keys()) {
    const v = x[i];
    x[i] = v + h;
    const up = f(x);
    x[i] = v - h;
    const down = f(x);
    x[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** The largest |a - b|, relative to b's largest magnitude. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(scale, 1e-12));
  return worst;
}
