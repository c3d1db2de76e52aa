const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = 1.44269504088896338700;
/** Below this exp(x) < 1e-304: as a sampling weight relative to the best token it is zero. */
const UNDERFLOW = -700;

/** 2^-i, built by exact halvings (no Math.pow, whose rounding is engine-defined). */
const POW2_NEG = (() => {
  const t = new Float64Array(1024);
  t[0] = 1;
  for (let i = 1; i < t.length; i++) t[i] = t[i - 1] * 0.5;
  return t;
})();

/**
 * exp(x) for x <= 0 from +, -, *, / only (each correctly rounded by IEEE 754), so sampling
 * weights are bit-identical on every engine, which Math.exp does not promise. Cody-Waite
 * reduction x = k ln2 + r, |r| <= ln2/2, then a degree-13 Taylor polynomial in r (error
 * below 1e-16 relative) and an exact scaling by 2^k.
 */
export function detExp(x: number): number {
  if (x > 0) throw new RangeError(`detExp takes x <= 0, got ${x}`);
  if (!(x >= UNDERFLOW)) return 0;
  const k = Math.round(x * INV_LN2);
  const r = x - k * LN2_HI - k * LN2_LO;
  let p = 1;
  for (let n = 13; n >= 1; n--) p = 1 + (p * r) / n;
  return p * POW2_NEG[-k];
}
