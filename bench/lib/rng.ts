/** Deterministic randomness for workloads: the same seed gives the same requests everywhere. */

import { mulberry32, ZipfSampler } from '../../src/util/rng.js';

export { mulberry32 };

/** Integer uniform in [0, n). */
export function uniformInt(n: number, rnd: () => number): number {
  return Math.min(n - 1, Math.floor(rnd() * n));
}

/** Zipf(s) over ranks 0..n-1 drawn from `rnd` (see ZipfSampler). */
export function zipfSampler(n: number, s: number, rnd: () => number): () => number {
  const z = new ZipfSampler(n, s);
  return () => z.sample(rnd());
}

/** Fisher-Yates in place. */
export function shuffle<T>(a: T[], rnd: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = uniformInt(i + 1, rnd);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
