import { beforeAll, describe, expect, it } from 'vitest';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import type { Engine } from '../../src/runtime/engine.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { writeBertDir } from '../helpers/models.js';

const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const TEXTS = ['the river ran fast', 'a cold clear morning', 'old stone bridge', 'we walked home'];

let dir: string;
let gpu: GPU;
beforeAll(async () => {
  dir = await writeBertDir(SHAPE);
  gpu = await nodeGpu();
});

const engineOf = (rt: HmiRuntime): Engine => (rt as unknown as { engine: Engine }).engine;

describe('device loss', () => {
  it('recovers mid-batch: every in-flight request completes with the same answer, none hangs', async () => {
    const rt = (await createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), tokenBudget: 64 })) as HmiRuntime;
    const specs = Array.from({ length: 8 }, (_, i) => syntheticTenant(rt.config, rt.split, i, { count: 8, seed: 5 }));
    await rt.tenants.add(specs);
    const before = await Promise.all(specs.map((s, i) => rt.classify(s.id, TEXTS[i % TEXTS.length])));

    const first = engineOf(rt);
    const inflight = specs.flatMap((s, i) => [rt.classify(s.id, TEXTS[i % TEXTS.length]), rt.classify(s.id, TEXTS[(i + 1) % TEXTS.length])]);
    // Lose the device while those batches are queued and running.
    await new Promise((r) => setTimeout(r, 1));
    first.ctx.device.destroy();
    const after = await Promise.all(inflight);
    for (let i = 0; i < specs.length; i++) expect(after[2 * i].scores).toEqual(before[i].scores);
    expect(engineOf(rt)).not.toBe(first);
    expect((await rt.metrics()).deviceRecoveries).toBe(1);

    // And the runtime keeps serving on the new device.
    expect((await rt.classify(specs[3].id, TEXTS[3 % TEXTS.length])).scores).toEqual(before[3].scores);
    await rt.dispose();
  });

  it('recovers from a loss while idle', async () => {
    const rt = (await createRuntime({ gpu, model: dir, store: new MemoryTenantStore() })) as HmiRuntime;
    const spec = syntheticTenant(rt.config, rt.split, 0, { count: 1 });
    await rt.tenants.add(spec);
    const before = await rt.classify(spec.id, TEXTS[0]);
    engineOf(rt).ctx.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect((await rt.classify(spec.id, TEXTS[0])).scores).toEqual(before.scores);
    expect((await rt.metrics()).deviceRecoveries).toBe(1);
    await rt.dispose();
  });
});
