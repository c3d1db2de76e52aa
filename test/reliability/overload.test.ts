/**
 * Overload soak, bounded by fixed counts and a fixed offered load: measure the rate the
 * runtime sustains with a full queue, then offer 5x that rate. The queue stays bounded,
 * excess requests are rejected with QueueFullError before the next macrotask (never after
 * waiting for GPU work), every accepted request completes correctly, and afterwards GPU
 * buffers, pool pages and (when the process exposes gc) the JS heap return to baseline.
 * Latency of accepted requests is not asserted: it is wall-clock on a shared machine.
 */
import { setImmediate as nextMacrotask, setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { AdapterPool } from '../../src/knowledge/task/pool.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { QueueFullError } from '../../src/runtime/errors.js';
import type { TenantSpec } from '../../src/runtime/api.js';
import { writeBertDir } from '../helpers/models.js';
import { trackGpu, type GpuTracker } from '../helpers/gpu-tracking.js';

const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const TEXTS = ['the river ran fast', 'a cold clear morning', 'old stone bridge', 'we walked home under the bridge'];
const MAX_QUEUE = 24;
const TENANTS = 6;
/** The soak's time base: offered load is counted per tick of TICK_MS, for SOAK_TICKS ticks (about 2 s). */
const TICK_MS = 20;
const SOAK_TICKS = 100;

const gc = (globalThis as { gc?: () => void }).gc;
const heapUsed = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed;
};

describe('overload soak at 5x the sustainable rate', () => {
  let tracker: GpuTracker;
  let rt: HmiRuntime;
  let specs: TenantSpec[];
  const heap = { before: 0, after: 0 };
  const expected = new Map<string, string>();

  beforeAll(async () => {
    const dir = await writeBertDir(SHAPE);
    tracker = trackGpu(await nodeGpu());
    rt = (await createRuntime({ gpu: tracker.gpu, model: dir, store: new MemoryTenantStore(), maxQueue: MAX_QUEUE, tokenBudget: 96 })) as HmiRuntime;
    specs = Array.from({ length: TENANTS }, (_, i) => syntheticTenant(rt.config, rt.split, i, { count: TENANTS, seed: 51 }));
    await rt.tenants.add(specs);
    for (const s of specs) for (let t = 0; t < TEXTS.length; t++) expected.set(`${s.id}/${t}`, (await rt.classify(s.id, TEXTS[t])).scores.join(','));
  });
  afterAll(async () => rt?.dispose());

  const request = (i: number): { id: string; text: number; p: Promise<string> } => {
    const id = specs[i % TENANTS].id;
    const text = (i >> 1) % TEXTS.length;
    return { id, text, p: rt.classify(id, TEXTS[text]).then((r) => r.scores.join(',')) };
  };

  it('bounded queue, immediate QueueFullError for the excess, every accepted request served, memory back to baseline', async () => {
    // Warm-up with a full queue, so buffers that grow to the largest batch already have.
    await Promise.all(Array.from({ length: MAX_QUEUE }, (_, i) => request(i).p));
    const baseBuffers = tracker.live();
    const baseBytes = tracker.liveBytes();
    const baseList = tracker.liveBuffers();
    const basePool = (await rt.metrics()).poolBytesUsed;
    heap.before = heapUsed();

    // Sustainable rate: requests served per tick with the queue kept full (closed loop).
    let served = 0;
    let ticks = 0;
    const inFlight = new Set<Promise<unknown>>();
    let i = 0;
    while (served < 4 * MAX_QUEUE) {
      while (inFlight.size < MAX_QUEUE) {
        const p = request(i++).p.then(() => {
          served++;
          inFlight.delete(p);
        });
        inFlight.add(p);
      }
      await sleep(TICK_MS);
      ticks++;
    }
    await Promise.all(inFlight);
    const perTick = served / ticks;

    // Soak: offer 5x that per tick, sampling the queue at every tick.
    const offeredPerTick = Math.max(1, Math.ceil(5 * perTick));
    const outcomes: Promise<'served' | 'full'>[] = [];
    const wrong: string[] = [];
    let maxDepth = 0;
    let late = 0;
    for (let tick = 0; tick < SOAK_TICKS; tick++) {
      for (let k = 0; k < offeredPerTick; k++) {
        const r = request(i++);
        const submittedAt = tick;
        let currentTick = tick;
        outcomes.push(
          r.p.then(
            (scores) => {
              if (scores !== expected.get(`${r.id}/${r.text}`)) wrong.push(`${r.id}: ${scores}`);
              return 'served' as const;
            },
            (e: unknown) => {
              if (!(e instanceof QueueFullError)) wrong.push(`${r.id}: ${String(e)}`);
              // Rejected in the tick it was submitted in: no waiting behind GPU work.
              if (currentTick !== submittedAt) late++;
              return 'full' as const;
            },
          ),
        );
        void nextMacrotask().then(() => {
          currentTick = -1;
        });
      }
      maxDepth = Math.max(maxDepth, (await rt.metrics()).queueDepth);
      await sleep(TICK_MS);
    }
    const results = await Promise.all(outcomes);
    const full = results.filter((r) => r === 'full').length;

    expect(wrong).toEqual([]);
    expect(late).toBe(0);
    expect(maxDepth).toBeLessThanOrEqual(MAX_QUEUE);
    expect(full).toBeGreaterThan(0);
    expect(results.length - full).toBeGreaterThan(0);
    const m = await rt.metrics();
    expect(m.queueDepth).toBe(0);
    expect(m.requestsRejected).toBeGreaterThanOrEqual(full);

    // Back to baseline: GPU buffers and pool pages (all tenants fit, so the same pages stay used).
    expect(tracker.live()).toBe(baseBuffers);
    // Same buffers by label; scratch buffers (tiles, tables, tmp) may have grown to a larger
    // batch than the warm-up formed, bounded by the token budget: a few KiB, not a leak.
    const labels = (l: readonly { label: string }[]): string[] => l.map((b) => b.label).sort();
    expect(labels(tracker.liveBuffers())).toEqual(labels(baseList));
    expect(tracker.liveBytes() - baseBytes).toBeLessThan(64 * 1024);
    expect(m.poolBytesUsed).toBe(basePool);
    expect(basePool).toBe(specs.reduce((n, s) => n + AdapterPool.bytesNeeded(s.adapter, SHAPE.hiddenSize), 0));
    heap.after = heapUsed();
  });

  it.runIf(gc !== undefined)('JS heap back to its baseline after the soak (needs node --expose-gc)', () => {
    expect(heap.after).toBeGreaterThan(0);
    expect(heap.after - heap.before).toBeLessThan(8 * 1024 * 1024);
  });
});
