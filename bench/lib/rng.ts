/** Deterministic randomness for workloads: the same seed gives the same requests everywhere. */

import { mulberry32, shuffle, ZipfSampler } from '../../src/util/rng.js';

export { mulberry32, shuffle };

/** Integer uniform in [0, n). */
export function uniformInt(n: number, rnd: () => number): number {
  return Math.min(n - 1, Math.floor(rnd() * n));
}

/** Zipf(s) over ranks 0..n-1 drawn from `rnd` (see ZipfSampler). */
export function zipfSampler(n: number, s: number, rnd: () => number): () => number {
  const z = new ZipfSampler(n, s);
  return () => z.sample(rnd());
}

