/**
 * The bag-of-words floor of the accuracy benchmark: multinomial logistic regression on
 * log(1 + count) of each hBERT WordPiece id, L2 on the weights (not the bias), fitted
 * full-batch with L-BFGS, the L2 strength chosen by validation accuracy. The same model as the
 * training chain's `train.py bow`, computed here so that it is scored on the very examples
 * the runtime columns are.
 */

/** One example's bag: distinct ids and log1p of their counts. */
export interface Bag {
  readonly ids: Int32Array;
  readonly values: Float64Array;
}

export function bagOf(tokenIds: readonly number[]): Bag {
  const counts = new Map<number, number>();
  for (const id of tokenIds) counts.set(id, (counts.get(id) ?? 0) + 1);
  const ids = Int32Array.from([...counts.keys()].sort((a, b) => a - b));
  const values = Float64Array.from(ids, (id) => Math.log1p(counts.get(id)!));
  return { ids, values };
}

export interface BowModel {
  readonly vocab: number;
  readonly classes: number;
  /** [vocab, classes] row-major, then [classes] biases. */
  readonly params: Float64Array;
  readonly l2: number;
}

/** Logits of one bag into `out` (length classes). */
function logits(p: Float64Array, vocab: number, k: number, bag: Bag, out: Float64Array): void {
  const bias = vocab * k;
  for (let c = 0; c < k; c++) out[c] = p[bias + c];
  for (let j = 0; j < bag.ids.length; j++) {
    const row = bag.ids[j] * k;
    const v = bag.values[j];
    for (let c = 0; c < k; c++) out[c] += v * p[row + c];
  }
}

/** Mean cross-entropy + l2 * |W|^2 and its gradient (into `grad`). */
function lossAndGrad(p: Float64Array, grad: Float64Array, bags: readonly Bag[], labels: readonly number[], vocab: number, k: number, l2: number): number {
  grad.fill(0);
  const z = new Float64Array(k);
  const n = bags.length;
  const bias = vocab * k;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const bag = bags[i];
    logits(p, vocab, k, bag, z);
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, z[c]);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(z[c] - max);
    const lse = max + Math.log(sum);
    loss += lse - z[labels[i]];
    for (let c = 0; c < k; c++) {
      // d loss_i / d z_c = softmax_c - [c == y], averaged over examples.
      const d = (Math.exp(z[c] - lse) - (c === labels[i] ? 1 : 0)) / n;
      grad[bias + c] += d;
      for (let j = 0; j < bag.ids.length; j++) grad[bag.ids[j] * k + c] += d * bag.values[j];
    }
  }
  loss /= n;
  for (let i = 0; i < bias; i++) {
    loss += l2 * p[i] * p[i];
    grad[i] += 2 * l2 * p[i];
  }
  return loss;
}

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/**
 * Fits the regression with L-BFGS (memory 10, backtracking Armijo line search) from zero
 * weights: deterministic, and on this convex loss within a few hundred iterations of the
 * optimum (the training chain runs torch's L-BFGS for 200).
 */
export function fitBow(bags: readonly Bag[], labels: readonly number[], vocab: number, classes: number, l2: number, maxIterations = 300): BowModel {
  const size = vocab * classes + classes;
  let p = new Float64Array(size);
  let g = new Float64Array(size);
  let f = lossAndGrad(p, g, bags, labels, vocab, classes, l2);
  const memory = 10;
  const ss: Float64Array[] = [];
  const ys: Float64Array[] = [];
  const dir = new Float64Array(size);
  const next = new Float64Array(size);
  const nextG = new Float64Array(size);
  for (let it = 0; it < maxIterations; it++) {
    // Two-loop recursion: dir = -H g.
    dir.set(g);
    const alphas: number[] = [];
    for (let m = ss.length - 1; m >= 0; m--) {
      const a = dot(ss[m], dir) / dot(ys[m], ss[m]);
      alphas[m] = a;
      for (let i = 0; i < size; i++) dir[i] -= a * ys[m][i];
    }
    const gamma = ss.length ? dot(ss[ss.length - 1], ys[ys.length - 1]) / dot(ys[ys.length - 1], ys[ys.length - 1]) : 1 / Math.max(1e-12, Math.sqrt(dot(g, g)));
    for (let i = 0; i < size; i++) dir[i] *= gamma;
    for (let m = 0; m < ss.length; m++) {
      const b = dot(ys[m], dir) / dot(ys[m], ss[m]);
      for (let i = 0; i < size; i++) dir[i] += ss[m][i] * (alphas[m] - b);
    }
    for (let i = 0; i < size; i++) dir[i] = -dir[i];
    let slope = dot(g, dir);
    if (slope >= 0) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      ss.length = 0;
      ys.length = 0;
      for (let i = 0; i < size; i++) dir[i] = -g[i] / Math.max(1e-12, Math.sqrt(dot(g, g)));
      slope = dot(g, dir);
    }
    let t = 1;
    let fNext = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let i = 0; i < size; i++) next[i] = p[i] + t * dir[i];
      fNext = lossAndGrad(next, nextG, bags, labels, vocab, classes, l2);
      if (fNext <= f + 1e-4 * t * slope) break;
      t *= 0.5;
    }
    if (!(fNext < f)) break;
    const s = new Float64Array(size);
    const y = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      s[i] = next[i] - p[i];
      y[i] = nextG[i] - g[i];
    }
    if (dot(s, y) > 1e-12) {
      ss.push(s);
      ys.push(y);
      if (ss.length > memory) {
        ss.shift();
        ys.shift();
      }
    }
    [p, g] = [Float64Array.from(next), Float64Array.from(nextG)];
    const converged = f - fNext < 1e-10 * Math.max(1, Math.abs(f));
    f = fNext;
    if (converged) break;
  }
  return { vocab, classes, params: p, l2 };
}

export function predictBow(model: BowModel, bags: readonly Bag[]): number[] {
  const z = new Float64Array(model.classes);
  return bags.map((bag) => {
    logits(model.params, model.vocab, model.classes, bag, z);
    let best = 0;
    for (let c = 1; c < model.classes; c++) if (z[c] > z[best]) best = c;
    return best;
  });
}

export function accuracyOf(predicted: readonly number[], gold: readonly number[]): number {
  let right = 0;
  for (let i = 0; i < gold.length; i++) if (predicted[i] === gold[i]) right++;
  return gold.length ? right / gold.length : 0;
}

export const BOW_L2 = [1e-5, 1e-4, 1e-3] as const;

export interface BowSplit {
  readonly bags: readonly Bag[];
  readonly labels: readonly number[];
}

export interface BowFit {
  readonly model: BowModel;
  readonly l2: number;
  readonly validationAccuracy: number;
}

/** One fit per L2 of `l2s`; the best on validation wins (the first on ties, as train.py). */
export function chooseBow(train: BowSplit, validation: BowSplit, vocab: number, classes: number, l2s: readonly number[] = BOW_L2): BowFit {
  let best: BowFit | null = null;
  for (const l2 of l2s) {
    const model = fitBow(train.bags, train.labels, vocab, classes, l2);
    const validationAccuracy = accuracyOf(predictBow(model, validation.bags), validation.labels);
    if (!best || validationAccuracy > best.validationAccuracy) best = { model, l2, validationAccuracy };
  }
  return best!;
}
