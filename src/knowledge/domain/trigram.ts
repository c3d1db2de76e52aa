/**
 * Tri-gram keys of the PLOT. A key packs three token ids into one number (17 bits each, 51
 * bits < 2^53), so keys are exact JS numbers: Map keys without string building, sortable,
 * and storable as f64.
 */
import { ShapeError } from '../../errors.js';

const BITS = 17;
const RADIX = 2 ** BITS;
/** Largest vocabulary a key can hold. */
export const MAX_VOCAB = RADIX;

export type TrigramKey = number;

export function trigramKey(a: number, b: number, c: number): TrigramKey {
  return (a * RADIX + b) * RADIX + c;
}

/** The three ids of a key, in window order. */
export function trigramIds(key: TrigramKey): [number, number, number] {
  const c = key % RADIX;
  const ab = (key - c) / RADIX;
  const b = ab % RADIX;
  return [(ab - b) / RADIX, b, c];
}

function checkIds(ids: readonly number[], fill: number): void {
  for (const id of [...ids, fill]) {
    if (!Number.isInteger(id) || id < 0 || id >= RADIX) throw new ShapeError(`token id ${id} cannot be a PLOT key (0..${RADIX - 1})`);
  }
}

/** hBERT: key of position i is (x[i-1], x[i], x[i+1]), `pad` beyond either edge. */
export function bertKeys(ids: readonly number[], pad: number): TrigramKey[] {
  checkIds(ids, pad);
  const n = ids.length;
  return ids.map((x, i) => trigramKey(i > 0 ? ids[i - 1] : pad, x, i + 1 < n ? ids[i + 1] : pad));
}

/**
 * hGPT: key of position i is (x[i-2], x[i-1], x[i]); `context` holds the ids before `ids`
 * (a decode step passes the tokens already in the KV cache), `eos` stands for missing ids.
 */
export function gptKeys(ids: readonly number[], eos: number, context: readonly number[] = []): TrigramKey[] {
  checkIds(ids, eos);
  checkIds(context, eos);
  const all = [...context.slice(-2), ...ids];
  const off = all.length - ids.length;
  return ids.map((_, i) => {
    const j = off + i;
    return trigramKey(j >= 2 ? all[j - 2] : eos, j >= 1 ? all[j - 1] : eos, all[j]);
  });
}

/** Windows of keys as 3 ids each, the layout computeWindows takes. */
export function windowsOf(keys: readonly TrigramKey[]): Uint32Array {
  const out = new Uint32Array(keys.length * 3);
  keys.forEach((k, i) => out.set(trigramIds(k), i * 3));
  return out;
}
