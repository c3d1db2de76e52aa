import { InvalidInputError } from '../errors.js';
import { detExp } from './det-exp.js';
import { Prng } from './prng.js';

export interface SamplerOptions {
  /** 0 = greedy (the default); logits are divided by it before the softmax. */
  readonly temperature?: number;
  /** Keep only the k most likely tokens; 0 (the default) keeps all. */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches topP; 1 (the default) keeps all. */
  readonly topP?: number;
  /**
   * A safe integer >= 0: the same seed on the same logits rows draws the same tokens, on any
   * platform. Omitted: a random seed, reported in Sampler.options so a run can be replayed.
   */
  readonly seed?: number;
  /** Generation ends after any of these tokens. */
  readonly stopTokenIds?: readonly number[];
}

export interface Sampler {
  readonly options: Readonly<Required<Omit<SamplerOptions, 'stopTokenIds'>>>;
  /** Draws the next token id from one row of logits (length = vocabulary size). */
  sample(logits: ArrayLike<number>): number;
  isStop(tokenId: number): boolean;
}

/** Bins of (logit - max) / T for the nucleus search, each BIN_WIDTH wide; the last takes the rest. */
const BINS = 256;
const BIN_WIDTH = 40 / (BINS - 1);

function check(ok: boolean, message: string): void {
  if (!ok) throw new InvalidInputError(message);
}

export function validateSamplerOptions(o: SamplerOptions): void {
  const { temperature = 0, topK = 0, topP = 1, seed = 0 } = o;
  check(Number.isFinite(temperature) && temperature >= 0, `temperature must be a finite number >= 0, got ${temperature}`);
  check(Number.isInteger(topK) && topK >= 0, `topK must be an integer >= 0, got ${topK}`);
  check(Number.isFinite(topP) && topP > 0 && topP <= 1, `topP must be in (0, 1], got ${topP}`);
  check(Number.isSafeInteger(seed) && seed >= 0, `seed must be a safe integer >= 0, got ${seed}`);
  for (const id of o.stopTokenIds ?? []) check(Number.isInteger(id) && id >= 0, `stop token id ${id} is not an integer >= 0`);
}

/** Max over the row; rejects NaN/+Infinity (a model bug, never a distribution) and all -Infinity rows. */
function rowMax(logits: ArrayLike<number>): { max: number; arg: number } {
  check(logits.length > 0, 'the logits row is empty');
  let max = -Infinity;
  let arg = -1;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (Number.isNaN(v) || v === Infinity) throw new InvalidInputError(`logit ${i} is ${v}`);
    if (v > max) {
      max = v;
      arg = i;
    }
  }
  check(arg >= 0, 'every logit is -Infinity: no token can be drawn');
  return { max, arg };
}

/** `a` ranks before `b`: higher logit, ties to the lower id. */
function before(logits: ArrayLike<number>, a: number, b: number): boolean {
  return logits[a] > logits[b] || (logits[a] === logits[b] && a < b);
}

/**
 * The k best token ids, best first (ties to the lower id), by a bounded min-heap: O(V log k),
 * so a top-k or top-p step never sorts the whole vocabulary.
 */
export function topIndices(logits: ArrayLike<number>, k: number): Uint32Array {
  const n = Math.min(k, logits.length);
  const heap = new Uint32Array(n);
  let size = 0;
  // The heap's root is the worst kept token.
  const worse = (a: number, b: number): boolean => before(logits, b, a);
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && worse(heap[l], heap[m])) m = l;
      if (r < size && worse(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let id = 0; id < logits.length; id++) {
    if (size < n) {
      let i = size++;
      heap[i] = id;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(heap[i], heap[parent])) break;
        [heap[i], heap[parent]] = [heap[parent], heap[i]];
        i = parent;
      }
    } else if (n > 0 && before(logits, id, heap[0])) {
      heap[0] = id;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (before(logits, a, b) ? -1 : 1));
}

/**
 * Every token that can be in the nucleus, best first (ties to the lower id): tokens are
 * binned by weight (a monotone function of the logit) and only the best bins whose mass
 * reaches `need` are sorted, so the cost is O(V) plus a sort of about the nucleus itself.
 */
function nucleusCandidates(logits: ArrayLike<number>, max: number, temperature: number, w: Float64Array, need: number): Uint32Array {
  const V = logits.length;
  const bin = new Uint16Array(V);
  const mass = new Float64Array(BINS);
  for (let i = 0; i < V; i++) {
    const b = Math.min(BINS - 1, Math.floor((max - logits[i]) / temperature / BIN_WIDTH));
    bin[i] = b;
    mass[b] += w[i];
  }
  let last = BINS - 1;
  let acc = 0;
  for (let b = 0; b < BINS; b++) {
    acc += mass[b];
    if (acc >= need) {
      last = b;
      break;
    }
  }
  let n = 0;
  for (let i = 0; i < V; i++) if (bin[i] <= last) n++;
  const ids = new Uint32Array(n);
  n = 0;
  for (let i = 0; i < V; i++) if (bin[i] <= last) ids[n++] = i;
  return ids.sort((a, b) => (before(logits, a, b) ? -1 : 1));
}

/**
 * A per-request sampler (HF order: temperature, then top-k, then top-p on what top-k kept).
 * Greedy (temperature 0 or topK 1) is the argmax with ties to the lowest id and draws no
 * random number. Weights are exp((logit - max) / T) computed by detExp and summed in a fixed
 * order, and the draw is one 53-bit uniform from a seeded xoshiro128**, so a seed replays
 * exactly on any platform.
 */
export function createSampler(options: SamplerOptions = {}): Sampler {
  validateSamplerOptions(options);
  const temperature = options.temperature ?? 0;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const stops = new Set(options.stopTokenIds ?? []);
  const rng = new Prng(seed);
  let scratch = new Float64Array(0);

  const sampleFrom = (ids: ArrayLike<number>, w: Float64Array, count: number, total: number): number => {
    const target = rng.nextFloat() * total;
    let acc = 0;
    for (let i = 0; i < count; i++) {
      acc += w[i];
      if (acc > target) return ids[i];
    }
    // Rounding can leave target at the very top: the last token with any weight takes it.
    for (let i = count - 1; i >= 0; i--) if (w[i] > 0) return ids[i];
    return ids[0];
  };

  const weigh = (logits: ArrayLike<number>, ids: ArrayLike<number>, max: number, w: Float64Array): number => {
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      w[i] = detExp((logits[ids[i]] - max) / temperature);
      total += w[i];
    }
    return total;
  };

  /** The shortest best-first prefix of `ids` (weights w) holding at least topP of `total`. */
  const nucleus = (w: Float64Array, count: number, total: number): { count: number; kept: number } => {
    let kept = 0;
    for (let i = 0; i < count; i++) {
      kept += w[i];
      if (kept >= topP * total) return { count: i + 1, kept };
    }
    return { count, kept };
  };

  const sample = (logits: ArrayLike<number>): number => {
    const { max, arg } = rowMax(logits);
    if (temperature === 0 || topK === 1) return arg;
    const V = logits.length;
    if (scratch.length < V) scratch = new Float64Array(V);
    const w = scratch;
    if (topK > 0 && topK < V) {
      const ids = topIndices(logits, topK);
      const total = weigh(logits, ids, max, w);
      const cut = topP < 1 ? nucleus(w, ids.length, total) : { count: ids.length, kept: total };
      return sampleFrom(ids, w, cut.count, cut.kept);
    }
    let total = 0;
    for (let i = 0; i < V; i++) {
      w[i] = detExp((logits[i] - max) / temperature);
      total += w[i];
    }
    if (topP === 1) {
      const target = rng.nextFloat() * total;
      let acc = 0;
      let last = arg;
      for (let i = 0; i < V; i++) {
        if (w[i] === 0) continue;
        acc += w[i];
        last = i;
        if (acc > target) return i;
      }
      return last;
    }
    const ids = nucleusCandidates(logits, max, temperature, w, topP * total);
    const wk = Float64Array.from(ids, (id) => w[id]);
    const cut = nucleus(wk, ids.length, total);
    return sampleFrom(ids, wk, cut.count, cut.kept);
  };

  return {
    options: { temperature, topK, topP, seed },
    sample,
    isStop: (id) => stops.has(id),
  };
}
