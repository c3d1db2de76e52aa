import { createStore, get, set, type UseStore } from 'idb-keyval';
import type { GpuContext } from '../gpu/device.js';
import { allocBuffer } from '../gpu/buffers.js';
import { timeGpu } from '../gpu/timing.js';
import {
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

export interface AutotuneProgress {
  /** Variants timed so far, over all classes still to tune. */
  done: number;
  total: number;
  shapeClass: string;
  variant: MatmulVariant;
  /** Median milliseconds of one run of this variant on the class's representative shape. */
  ms: number;
}

/** Timed runs per variant and class, after timeGpu's warm-up run. */
const RUNS = 3;

let idb: UseStore | undefined;

/** The persistent store, or undefined where there is no IndexedDB (Node without a shim). */
function store(): UseStore | undefined {
  if (typeof indexedDB === 'undefined') return undefined;
  idb ??= createStore('hmi-autotune', 'choices');
  return idb;
}

const loads = new WeakMap<GpuContext, Promise<void>>();
/** Choices of this process by device: a recreated device (after a loss) or a second runtime does not re-time. */
const session = new Map<string, MatmulChoices>();

async function readPersisted(ctx: GpuContext): Promise<void> {
  const known = session.get(ctx.deviceKey);
  if (known) for (const [c, v] of Object.entries(known)) matmulChoiceTable(ctx).set(c, v);
  const s = store();
  if (!s) return;
  let saved: unknown;
  try {
    saved = await get(ctx.deviceKey, s);
  } catch (cause) {
    // The table is only a cache: without it the runtime re-tunes, it does not fail.
    console.warn(`autotune: could not read the saved matmul choices: ${String(cause)}`);
    return;
  }
  if (!saved || typeof saved !== 'object') return;
  const table = matmulChoiceTable(ctx);
  for (const [shapeClass, variant] of Object.entries(saved)) {
    // Entries from an older build may name variants that no longer exist; this session's
    // own measurements are fresher than anything saved.
    if (isMatmulVariant(variant) && !table.has(shapeClass)) table.set(shapeClass, variant);
  }
}

async function persist(ctx: GpuContext): Promise<void> {
  session.set(ctx.deviceKey, matmulChoices(ctx));
  const s = store();
  if (!s) return;
  try {
    await set(ctx.deviceKey, matmulChoices(ctx), s);
  } catch (cause) {
    console.warn(`autotune: could not save the matmul choices: ${String(cause)}`);
  }
}

/** The choices encodeMatmul currently uses for this context, by shape class. */
export function matmulChoices(ctx: GpuContext): MatmulChoices {
  return Object.fromEntries([...matmulChoiceTable(ctx)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Merges the choices saved for this device (IndexedDB, key ctx.deviceKey) into the context's table, once per context. */
export async function loadMatmulChoices(ctx: GpuContext): Promise<MatmulChoices> {
  let p = loads.get(ctx);
  if (!p) {
    p = readPersisted(ctx);
    loads.set(ctx, p);
  }
  await p;
  return matmulChoices(ctx);
}

/**
 * Times every matmul variant on one representative shape per shape class not yet known for
 * this context (saved choices are loaded first, so a known device tunes nothing), records
 * the fastest for encodeMatmul and saves the table. Each new class costs (1 + 3) runs of every
 * variant, the naive one included: pass shapes of the sizes the model really runs.
 */
export async function autotuneMatmul(
  ctx: GpuContext,
  shapes: readonly MatmulShape[],
  onProgress?: (p: AutotuneProgress) => void,
): Promise<MatmulChoices> {
  for (const s of shapes) validateMatmulShape(s);
  await loadMatmulChoices(ctx);
  const table = matmulChoiceTable(ctx);
  const todo = new Map<string, MatmulShape>();
  for (const s of shapes) {
    const c = matmulShapeClass(s);
    if (!table.has(c) && !todo.has(c)) todo.set(c, s);
  }
  if (todo.size === 0) return matmulChoices(ctx);

  const total = todo.size * MATMUL_VARIANTS.length;
  let done = 0;
  for (const [shapeClass, s] of todo) {
    const [x, w, y] = await Promise.all([
      allocBuffer(ctx, s.M * s.K * 4, 'autotune x'),
      allocBuffer(ctx, s.K * s.N * 4, 'autotune w'),
      allocBuffer(ctx, s.M * s.N * 4, 'autotune y'),
    ]);
    try {
      let best: { variant: MatmulVariant; ms: number } | undefined;
      for (const variant of MATMUL_VARIANTS) {
        const { ms } = await timeGpu(ctx, (pass) => encodeMatmul(ctx, pass, { ...s, x, w, y, variant }), RUNS);
        if (!best || ms < best.ms) best = { variant, ms };
        onProgress?.({ done: ++done, total, shapeClass, variant, ms });
      }
      if (best) table.set(shapeClass, best.variant);
    } finally {
      for (const b of [x, w, y]) b.destroy();
    }
  }
  await persist(ctx);
  return matmulChoices(ctx);
}
