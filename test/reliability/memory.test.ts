import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { AdapterPool } from '../../src/knowledge/task/pool.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import type { TenantSpec } from '../../src/runtime/api.js';
import { writeBertDir } from '../helpers/models.js';
import { trackGpu, type GpuTracker } from '../helpers/gpu-tracking.js';

const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const TEXTS = ['the river ran fast', 'a cold clear morning', 'old stone bridge', 'we walked home', 'the', 'under the bridge the water was deep and cold'];

let dir: string;
let gpu: GPU;
beforeAll(async () => {
  dir = await writeBertDir(SHAPE);
  gpu = await nodeGpu();
});

/** Pool bytes the tenants now resident need: what poolBytesUsed must be when no page leaked. */
async function residentBytes(rt: HmiRuntime, specs: readonly TenantSpec[]): Promise<number> {
  const resident = new Set((await rt.tenants.list()).filter((t) => t.residency === 'gpu').map((t) => t.id));
  return specs.filter((s) => resident.has(s.id)).reduce((n, s) => n + AdapterPool.bytesNeeded(s.adapter, SHAPE.hiddenSize), 0);
}

describe('no memory growth', () => {
  let tracker: GpuTracker;
  let rt: HmiRuntime | undefined;
  afterAll(async () => rt?.dispose());

  it('1,000 sequential requests leave GPU buffers and pool pages at their baseline; dispose frees every buffer', async () => {
    tracker = trackGpu(gpu);
    const probe = (await createRuntime({ gpu, model: dir, store: new MemoryTenantStore() })) as HmiRuntime;
    const specs = Array.from({ length: 8 }, (_, i) => syntheticTenant(probe.config, probe.split, i, { count: 8, seed: 5, ranks: [4], numLabels: 3 }));
    await probe.dispose();
    const perTenant = Math.max(...specs.map((s) => AdapterPool.bytesNeeded(s.adapter, SHAPE.hiddenSize)));
    // Room for about 5 of the 8 tenants: the 1,000 requests keep evicting and reloading.
    rt = (await createRuntime({ gpu: tracker.gpu, model: dir, store: new MemoryTenantStore(), poolBytes: 5 * perTenant })) as HmiRuntime;
    await rt.tenants.add(specs);
    for (let i = 0; i < 16; i++) await rt.classify(specs[i % 8].id, TEXTS[i % TEXTS.length]);
    const baseBuffers = tracker.live();
    const baseBytes = tracker.liveBytes();
    const before = await rt.metrics();
    expect(before.poolBytesUsed).toBe(await residentBytes(rt, specs));
    for (let i = 0; i < 1000; i++) await rt.classify(specs[(i * 3) % 8].id, TEXTS[i % TEXTS.length]);
    // The last batch's metrics are recorded just after its requests resolve.
    await new Promise((r) => setImmediate(r));
    const m = await rt.metrics();
    expect(tracker.live()).toBe(baseBuffers);
    expect(tracker.liveBytes()).toBe(baseBytes);
    expect(m.requestsServed).toBe(1016);
    // The pool is a cache: which tenants stay resident changes, but every used page belongs to one of them.
    expect(m.poolBytesUsed).toBe(await residentBytes(rt, specs));
    expect(m.poolBytesUsed).toBeLessThanOrEqual(m.poolBytesTotal);
    // Tenants really were evicted and reloaded along the way.
    const all = specs.reduce((n, s) => n + AdapterPool.bytesNeeded(s.adapter, SHAPE.hiddenSize), 0);
    expect(m.bytesUploaded).toBeGreaterThan(2 * all);
    await rt.dispose();
    expect(tracker.liveBuffers()).toEqual([]);
    rt = undefined;
  });

  it('training leaves GPU buffers at their baseline, finished or aborted, with or without a domain', async () => {
    tracker = trackGpu(gpu);
    rt = (await createRuntime({ gpu: tracker.gpu, model: dir, store: new MemoryTenantStore(), autotune: false })) as HmiRuntime;
    await rt.domains.add({ id: 'walks' });
    const data = TEXTS.map((text, i) => ({ text, label: i % 2 ? 'a' : 'b' }));
    // A first job compiles the pipelines and sizes the PLOT cache: the baseline comes after it.
    await rt.tenants.train({ id: 'warm', data, epochs: 1, batchSize: 2 });
    await rt.tenants.train({ id: 'warm-domain', domain: 'walks', data, epochs: 1, batchSize: 2 });
    const baseBuffers = tracker.live();
    const baseBytes = tracker.liveBytes();
    await rt.tenants.train({ id: 't1', data, epochs: 2, batchSize: 2 });
    await rt.tenants.train({ id: 't2', domain: 'walks', data, epochs: 2, batchSize: 2 });
    const controller = new AbortController();
    let during: { held: number; reported: Promise<number> } | undefined;
    await expect(
      rt.tenants.train({ id: 't3', domain: 'walks', data, epochs: 3, batchSize: 2, signal: controller.signal }, (p) => {
        if (p.step !== 1) return;
        during = { held: tracker.liveBytes() - baseBytes, reported: rt!.metrics().then((m) => m.trainingGpuBytes) };
        controller.abort();
      }),
    ).rejects.toThrow();
    // metrics() counts every byte the job holds beyond the baseline, and nothing once it ends.
    expect(during!.held).toBeGreaterThan(0);
    expect(await during!.reported).toBe(during!.held);
    expect((await rt.metrics()).trainingGpuBytes).toBe(0);
    // Registering t1 and t2 pages them into the pool only when they are asked for: none were.
    expect(tracker.live()).toBe(baseBuffers);
    expect(tracker.liveBytes()).toBe(baseBytes);
    await rt.dispose();
    expect(tracker.liveBuffers()).toEqual([]);
    rt = undefined;
  });
});
