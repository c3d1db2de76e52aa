/**
 * f64 building blocks of the CPU reference forward passes. Inputs may be f32 (weights as
 * loaded) or f64 (activations); every result is f64 so that the references are an exact
 * statement of the HF semantics that GPU results are compared against.
 */
import { HmiError, ShapeError } from '../../errors.js';
import type { TensorMap } from '../../formats/types.js';

export type Vec = ArrayLike<number>;

/** 'nk': weight stored [out, in] (nn.Linear). 'kn': weight stored [in, out] (GPT-2's Conv1D). */
export type Layout = 'nk' | 'kn';

/** A tensor the model needs is absent from the weights (or from the adapter's head). */
export class MissingTensorError extends HmiError {
  constructor(readonly tensor: string) {
    super('MISSING_TENSOR', `weights have no tensor "${tensor}"`);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The tensor's data, after checking its shape, or undefined when it is absent. */
export function optionalTensor(weights: TensorMap, name: string, shape: readonly number[]): Float32Array | undefined {
  const t = weights.get(name);
  if (t === undefined) return undefined;
  if (!sameShape(t.shape, shape) || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new ShapeError(`tensor "${name}" has shape [${t.shape.join(',')}], expected [${shape.join(',')}]`);
  }
  return t.data;
}

export function tensor(weights: TensorMap, name: string, shape: readonly number[]): Float32Array {
  const t = optionalTensor(weights, name, shape);
  if (t === undefined) throw new MissingTensorError(name);
  return t;
}

/** y[r, o] = sum_k x[r, k] * W(o, k) + bias[o], W read in the given layout. */
export function matmul(x: Vec, rows: number, inDim: number, w: Vec, outDim: number, layout: Layout, bias?: Vec): Float64Array {
  if (x.length < rows * inDim) throw new ShapeError(`matmul input has ${x.length} values, expected ${rows}x${inDim}`);
  if (w.length !== inDim * outDim) throw new ShapeError(`matmul weight has ${w.length} values, expected ${inDim}x${outDim}`);
  if (bias !== undefined && bias.length !== outDim) throw new ShapeError(`matmul bias has ${bias.length} values, expected ${outDim}`);
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    const xo = r * inDim;
    for (let o = 0; o < outDim; o++) {
      let acc = 0;
      if (layout === 'nk') {
        const wo = o * inDim;
        for (let k = 0; k < inDim; k++) acc += x[xo + k] * w[wo + k];
      } else {
        for (let k = 0; k < inDim; k++) acc += x[xo + k] * w[k * outDim + o];
      }
      y[r * outDim + o] = bias === undefined ? acc : acc + bias[o];
    }
  }
  return y;
}

/** Row-wise LayerNorm as torch: biased variance, eps inside the square root. */
export function layerNorm(x: Vec, rows: number, dim: number, gamma: Vec, beta: Vec, eps: number): Float64Array {
  if (gamma.length !== dim || beta.length !== dim) throw new ShapeError(`LayerNorm weights must have ${dim} values`);
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let mean = 0;
    for (let i = 0; i < dim; i++) mean += x[o + i];
    mean /= dim;
    let variance = 0;
    for (let i = 0; i < dim; i++) variance += (x[o + i] - mean) ** 2;
    variance /= dim;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < dim; i++) y[o + i] = (x[o + i] - mean) * inv * gamma[i] + beta[i];
  }
  return y;
}

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * erf to a few ulp (JS has no Math.erf). Below 1.5 (CPython's cut too) the series
 * erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1)) has only positive terms, so no
 * cancellation; above, 1 - erfc(x) with erfc from its continued fraction (Lentz), which
 * converges fast there and keeps the tiny tail exact.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  const sign = x < 0 ? -1 : 1;
  if (ax < 1.5) {
    const x2 = ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; term > sum * 1e-18; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
    }
    return sign * TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  }
  if (ax > 27) return sign;
  // erfc(x) = e^{-x^2} / sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
  const tiny = 1e-300;
  let f = ax;
  let c = f;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = ax + a * d;
    d = 1 / (d === 0 ? tiny : d);
    c = ax + a / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return sign * (1 - erfc);
}

/** HF "gelu" (BERT): the exact, erf-based GELU. */
export function geluErf(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** HF "gelu_new" (GPT-2): the tanh approximation. */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

export function mapInPlace(x: Float64Array, f: (v: number) => number): Float64Array {
  for (let i = 0; i < x.length; i++) x[i] = f(x[i]);
  return x;
}

export function addInPlace(y: Float64Array, x: Vec): Float64Array {
  if (x.length !== y.length) throw new ShapeError(`cannot add ${x.length} values to ${y.length}`);
  for (let i = 0; i < y.length; i++) y[i] += x[i];
  return y;
}

/** Max-subtracted softmax of y[start..end), in place. */
export function softmaxInPlace(y: Float64Array, start = 0, end = y.length): void {
  let max = -Infinity;
  for (let i = start; i < end; i++) max = Math.max(max, y[i]);
  let sum = 0;
  for (let i = start; i < end; i++) {
    y[i] = Math.exp(y[i] - max);
    sum += y[i];
  }
  for (let i = start; i < end; i++) y[i] /= sum;
}

export interface AttentionShape {
  /** Query rows. */
  readonly queries: number;
  /** Key/value rows available (rows of k and v read: 0..keys-1). */
  readonly keys: number;
  readonly hidden: number;
  readonly heads: number;
  /**
   * Causal attention: query i sits at absolute position `pastLength + i` and sees keys
   * 0..pastLength+i. Absent: bidirectional.
   */
  readonly pastLength?: number;
  /** Per key, 0 excludes it (padding), as HF's attention_mask. Absent: all keys. */
  readonly keyMask?: Vec;
}

/**
 * Multi-head scaled dot-product attention; q is [queries, hidden], k and v [>=keys, hidden],
 * heads are contiguous slices of hidden. Scores are divided by sqrt(headDim) as HF does.
 * Excluded keys get probability exactly 0 (HF adds the dtype's minimum, which underflows to 0).
 * A query that sees no key at all is an error, not HF's uniform fallback over masked keys.
 */
export function attention(q: Vec, k: Vec, v: Vec, s: AttentionShape): Float64Array {
  const { queries, keys, hidden, heads } = s;
  if (hidden % heads !== 0) throw new ShapeError(`hidden size ${hidden} is not divisible by ${heads} heads`);
  if (q.length < queries * hidden || k.length < keys * hidden || v.length < keys * hidden) {
    throw new ShapeError('attention inputs are shorter than their shapes');
  }
  if (s.keyMask !== undefined && s.keyMask.length !== keys) {
    throw new ShapeError(`attention mask has ${s.keyMask.length} entries, expected ${keys}`);
  }
  const dh = hidden / heads;
  const scale = Math.sqrt(dh);
  const out = new Float64Array(queries * hidden);
  const visibleKeys = new Int32Array(keys);
  const probs = new Float64Array(keys);
  for (let i = 0; i < queries; i++) {
    const causalEnd = s.pastLength === undefined ? keys : Math.min(keys, s.pastLength + i + 1);
    let n = 0;
    for (let j = 0; j < causalEnd; j++) if (s.keyMask === undefined || s.keyMask[j] !== 0) visibleKeys[n++] = j;
    if (n === 0) throw new ShapeError(`attention query ${i} has no visible key (all masked)`);
    for (let h = 0; h < heads; h++) {
      const qo = i * hidden + h * dh;
      for (let m = 0; m < n; m++) {
        const ko = visibleKeys[m] * hidden + h * dh;
        let dot = 0;
        for (let d = 0; d < dh; d++) dot += q[qo + d] * k[ko + d];
        probs[m] = dot / scale;
      }
      softmaxInPlace(probs, 0, n);
      for (let m = 0; m < n; m++) {
        const vo = visibleKeys[m] * hidden + h * dh;
        for (let d = 0; d < dh; d++) out[qo + d] += probs[m] * v[vo + d];
      }
    }
  }
  return out;
}

/** Index of the first maximum (torch.argmax's tie-break on CPU). */
export function argmax(x: Vec, start = 0, end = x.length): number {
  let best = start;
  for (let i = start + 1; i < end; i++) if (x[i] > x[best]) best = i;
  return best - start;
}

export function checkIds(ids: readonly number[], vocabSize: number, what = 'token id'): void {
  if (ids.length === 0) throw new ShapeError('empty token sequence');
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new RangeError(`${what} ${id} is outside 0..${vocabSize - 1}`);
  }
}
