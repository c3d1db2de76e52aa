import { createStore, entries, setMany, type UseStore } from 'idb-keyval';
import { maxBindingBytes, type GpuContext } from '../gpu/device.js';
import { allocBuffer } from '../gpu/buffers.js';
import { timeGpu } from '../gpu/timing.js';
import type { Progress } from '../util/progress.js';
import {
  defaultMatmulVariant,
  encodeMatmul,
  isMatmulVariant,
  MATMUL_VARIANTS,
  matmulChoiceTable,
  matmulShapeClass,
  validateMatmulShape,
  type MatmulShape,
  type MatmulVariant,
} from './matmul.js';

/** Fastest variant by shape class (see matmulShapeClass). */
export type MatmulChoices = Record<string, MatmulVariant>;

/** One step of an autotune: a variant timed, or a class left at its default once the budget ran out. */
export interface AutotuneProgress extends Progress {
  readonly phase: 'autotune';
  /** Variants timed or given up so far, over all classes this call tunes; the last event has done === total. */
  readonly done: number;
  readonly total: number;
  readonly shapeClass: string;
  /** The variant timed; for a class given up, the default it keeps. */
  readonly variant: MatmulVariant;
  /** Median milliseconds of one run of this variant on the class's representative shape; NaN when not timed. */
  readonly ms: number;
  /** False for a class given up because the time budget was spent. */
  readonly timed: boolean;
}

export type AutotuneProgressCallback = (p: AutotuneProgress) => void;

export interface AutotuneOptions {
  /**
   * Wall time this call may spend timing, in ms (default AUTOTUNE_BUDGET_MS). Classes not
   * reached keep the default variant in this context and are tuned by a later load.
   */
  readonly budgetMs?: number;
  /** Told of every variant timed and every class given up (phase 'autotune'); not called on a full cache hit. */
  readonly onProgress?: AutotuneProgressCallback;
  /** The clock the budget is spent on (ms); default performance.now. */
  readonly now?: () => number;
}

/**
 * Timing every variant of every class of a large model on a slow device took minutes: the
 * load waits for it, so its cost is capped and what is left is tuned on later loads.
 */
export const AUTOTUNE_BUDGET_MS = 2000;

/** Timed runs per variant and class, after timeGpu's warm-up run. */
const RUNS = 3;

let idb: UseStore | undefined;

/** The persistent store, or undefined where there is no IndexedDB (Node without a shim). */
function store(): UseStore | undefined {
  if (typeof indexedDB === 'undefined') return undefined;
  idb ??= createStore('hmi-autotune', 'choices');
  return idb;
}

// One entry per device and shape class, key [deviceKey, shapeClass]: a model adds its own classes
// without rewriting (or, from another tab, overwriting) those of the models tuned before it.
type ChoiceKey = [deviceKey: string, shapeClass: string];

const loads = new WeakMap<GpuContext, Promise<void>>();
/** Measured choices of this process by device: a recreated device (after a loss) or a second runtime does not re-time. */
const session = new Map<string, Map<string, MatmulVariant>>();

function sessionChoices(deviceKey: string): Map<string, MatmulVariant> {
  let m = session.get(deviceKey);
  if (!m) {
    m = new Map();
    session.set(deviceKey, m);
  }
  return m;
}

async function readPersisted(ctx: GpuContext): Promise<void> {
  const table = matmulChoiceTable(ctx);
  // This session's own measurements are fresher than anything saved.
  for (const [c, v] of sessionChoices(ctx.deviceKey)) table.set(c, v);
  const s = store();
  if (!s) return;
  let saved: [IDBValidKey, unknown][];
  try {
    saved = await entries<IDBValidKey, unknown>(s);
  } catch (cause) {
    // The table is only a cache: without it the runtime re-tunes, it does not fail.
    console.warn(`autotune: could not read the saved matmul choices: ${String(cause)}`);
    return;
  }
  for (const [key, variant] of saved) {
    // Entries of other devices, of the older one-record-per-device layout, or naming variants
    // an older build had are skipped: the class is re-timed.
    if (!Array.isArray(key) || key.length !== 2 || key[0] !== ctx.deviceKey || typeof key[1] !== 'string') continue;
    if (isMatmulVariant(variant) && !table.has(key[1])) table.set(key[1], variant);
  }
}

async function persist(ctx: GpuContext, measured: ReadonlyMap<string, MatmulVariant>): Promise<void> {
  if (measured.size === 0) return;
  const known = sessionChoices(ctx.deviceKey);
  for (const [c, v] of measured) known.set(c, v);
  const s = store();
  if (!s) return;
  try {
    await setMany(
      [...measured].map(([c, v]): [ChoiceKey, MatmulVariant] => [[ctx.deviceKey, c], v]),
      s,
    );
  } catch (cause) {
    console.warn(`autotune: could not save the matmul choices: ${String(cause)}`);
  }
}

/** The choices encodeMatmul currently uses for this context, by shape class. */
export function matmulChoices(ctx: GpuContext): MatmulChoices {
  return Object.fromEntries([...matmulChoiceTable(ctx)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Merges the choices saved for this device (IndexedDB, keys [ctx.deviceKey, shape class]) into the context's table, once per context. */
export async function loadMatmulChoices(ctx: GpuContext): Promise<MatmulChoices> {
  let p = loads.get(ctx);
  if (!p) {
    p = readPersisted(ctx);
    loads.set(ctx, p);
  }
  await p;
  return matmulChoices(ctx);
}

const flops = (s: MatmulShape): number => 2 * s.M * s.N * s.K;

/** The default first, so a class cut short has its baseline; naive last, as it almost never wins. */
function timingOrder(ctx: GpuContext): MatmulVariant[] {
  const first = defaultMatmulVariant(ctx);
  const rest = MATMUL_VARIANTS.filter((v) => v !== first && v !== 'naive');
  return [first, ...rest, ...(first === 'naive' ? [] : ['naive' as const])];
}

/**
 * Times the matmul variants on one representative shape per shape class not yet known for this
 * device (saved choices are loaded first, so a known device and model tune nothing), records
 * the fastest for encodeMatmul and saves them. A class costs (1 + 3) runs of each variant, so
 * pass shapes of the sizes the model really runs; the largest classes go first, as they
 * weigh most in a forward.
 *
 * A variant is timed only while `budgetMs` is not spent and would not be by that variant at the
 * cost per FLOP seen so far (a smaller class may still fit after a larger one did not). The
 * classes not finished keep the default variant in this context (never switching under a model
 * that runs them) and are not saved, so a later load times them.
 * A finished class's choice depends on timing as before; which classes finish depends on it too.
 */
export async function autotuneMatmul(
  ctx: GpuContext,
  shapes: readonly MatmulShape[],
  options: AutotuneOptions | AutotuneProgressCallback = {},
): Promise<MatmulChoices> {
  const o: AutotuneOptions = typeof options === 'function' ? { onProgress: options } : options;
  const { budgetMs = AUTOTUNE_BUDGET_MS, onProgress, now = defaultNow } = o;
  for (const s of shapes) validateMatmulShape(s);
  await loadMatmulChoices(ctx);
  const table = matmulChoiceTable(ctx);
  const todo = new Map<string, MatmulShape>();
  for (const s of shapes) {
    const c = matmulShapeClass(s);
    if (!table.has(c) && !todo.has(c)) todo.set(c, s);
  }
  if (todo.size === 0) return matmulChoices(ctx);

  const order = timingOrder(ctx);
  const classes = [...todo].sort(([, a], [, b]) => flops(b) - flops(a));
  const total = classes.length * order.length;
  const start = now();
  let spentFlops = 0;
  let done = 0;
  const measured = new Map<string, MatmulVariant>();
  const fits = (s: MatmulShape): boolean => {
    const elapsed = now() - start;
    const cost = (RUNS + 1) * flops(s);
    const expected = spentFlops > 0 ? (elapsed / spentFlops) * cost : 0;
    return elapsed < budgetMs && elapsed + expected <= budgetMs;
  };

  const maxBytes = maxBindingBytes(ctx.limits);
  for (const [shapeClass, whole] of classes) {
    let best: { variant: MatmulVariant; ms: number } | undefined;
    let timed = 0;
    // A weight above one binding (GPT-2's tied LM head under 128 MiB) runs as row shards of the
    // same class: time as many columns as one buffer holds.
    const s: MatmulShape = { ...whole, N: Math.max(1, Math.min(whole.N, Math.floor(maxBytes / (4 * Math.max(whole.K, whole.M))))) };
    if (fits(s)) {
      const [x, w, y] = await Promise.all([
        allocBuffer(ctx, s.M * s.K * 4, 'autotune x'),
        allocBuffer(ctx, s.K * s.N * 4, 'autotune w'),
        allocBuffer(ctx, s.M * s.N * 4, 'autotune y'),
      ]);
      try {
        for (const variant of order) {
          if (timed > 0 && !fits(s)) break;
          const { ms } = await timeGpu(ctx, (pass) => encodeMatmul(ctx, pass, { ...s, x, w, y, variant }), RUNS);
          timed++;
          spentFlops += (RUNS + 1) * flops(s);
          if (!best || ms < best.ms) best = { variant, ms };
          onProgress?.({ phase: 'autotune', done: ++done, total, shapeClass, variant, ms, timed: true });
        }
      } finally {
        for (const b of [x, w, y]) b.destroy();
      }
    }
    if (best && timed === order.length) {
      table.set(shapeClass, best.variant);
      measured.set(shapeClass, best.variant);
      continue;
    }
    // Out of time: the best of a class cut short is kept for this context only (it is at least
    // as fast as the default, timed first); the next load times the class in full.
    const keep = best?.variant ?? defaultMatmulVariant(ctx);
    table.set(shapeClass, keep);
    done += order.length - timed;
    onProgress?.({ phase: 'autotune', done, total, shapeClass, variant: keep, ms: NaN, timed: false });
  }
  await persist(ctx, measured);
  return matmulChoices(ctx);
}

function defaultNow(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
