/** Deterministic randomness for workloads: the same seed gives the same requests everywhere. */

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer uniform in [0, n). */
export function uniformInt(n: number, rnd: () => number): number {
  return Math.min(n - 1, Math.floor(rnd() * n));
}

/**
 * Zipf(s) over ranks 0..n-1 (rank k drawn with probability proportional to 1/(k+1)^s), by
 * binary search in the cumulative table: O(n) once, O(log n) per draw.
 */
export function zipfSampler(n: number, s: number, rnd: () => number): () => number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`zipf needs n >= 1, got ${n}`);
  if (!(s >= 0)) throw new RangeError(`zipf exponent must be >= 0, got ${s}`);
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / Math.pow(k + 1, s);
    cdf[k] = sum;
  }
  return () => {
    const u = rnd() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/** Fisher-Yates in place. */
export function shuffle<T>(a: T[], rnd: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = uniformInt(i + 1, rnd);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
