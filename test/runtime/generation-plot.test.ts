import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeGpu } from '../../src/gpu/node.js';
import { directorySource, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import { AdapterMismatchError } from '../../src/formats/errors.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { MemoryChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import { UnknownDomainError } from '../../src/knowledge/domain/errors.js';
import type { Gpt2Config } from '../../src/formats/model-config.js';
import { gpt2GreedyRef } from '../../src/model/cpu/gpt2-ref.js';
import { gpt2PlotGreedyRef } from '../../src/model/cpu/plot-ref.js';
import { makeGpt2Files } from '../../src/model/synthetic.js';
import type { GenerateChunk, TenantSpec } from '../../src/runtime/api.js';
import type { Engine } from '../../src/runtime/engine.js';
import type { DecoderParts } from '../../src/runtime/heads/decoder-head.js';
import { HmiRuntime } from '../../src/runtime/runtime.js';
import type { RuntimeOptions } from '../../src/runtime/api.js';
import { createRuntime } from '../../src/create-runtime.js';
import { syntheticDomainAdapter, syntheticTenant } from '../../src/runtime/synthetic-tenants.js';

const SHAPE = { nEmbd: 32, nLayer: 4, nHead: 2, nPositions: 64, vocabSize: 300, seed: 21 };
const BLOCK = 4;
const SPLIT = 2;

let dir: string;
let gpu: GPU;
let loaded: LoadedModel;
let config: Gpt2Config;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hmi-gpt-plot-'));
  for (const [name, content] of Object.entries(makeGpt2Files(SHAPE))) await writeFile(join(dir, name), content);
  loaded = await loadModel(directorySource(dir));
  config = loaded.config as Gpt2Config;
  gpu = await nodeGpu();
});

async function runtime(): Promise<HmiRuntime> {
  const options: RuntimeOptions = {
    gpu,
    model: dir,
    store: new MemoryTenantStore(),
    plotStore: new PlotStore(new MemoryChunkStore()),
    split: SPLIT,
    poolBytes: 1 << 20,
    kvBytes: 1 << 20,
    kvBlockTokens: BLOCK,
    autotune: false,
  };
  const rt = await createRuntime(options);
  expect(rt).toBeInstanceOf(HmiRuntime);
  return rt as HmiRuntime;
}

const engineOf = (rt: HmiRuntime): Engine<DecoderParts> => (rt as unknown as { engine: Engine<DecoderParts> }).engine;

async function greedy(rt: HmiRuntime, tenant: string, ids: readonly number[], n: number): Promise<number[]> {
  const out: number[] = [];
  for await (const c of rt.generate(tenant, ids, { maxTokens: n }) as AsyncIterable<GenerateChunk>) if (c.tokenId >= 0) out.push(c.tokenId);
  return out;
}

function prompt(i: number, n: number): number[] {
  return Array.from({ length: n }, (_, j) => (i * 41 + j * 13 + 7) % config.vocabSize);
}

const tenant = (index: number, domain?: string): TenantSpec => ({
  ...syntheticTenant(config, SPLIT, index, { count: 4, seed: 5, ranks: [2, 3, 1, 4] }),
  ...(domain !== undefined ? { domain } : {}),
});

describe('hGPT two-phase generation through PLOT', () => {
  let rt: HmiRuntime;
  beforeAll(async () => {
    rt = await runtime();
    await rt.domains.add({ id: 'rivers', budgetEntries: 500 });
  });
  afterAll(async () => {
    await rt.dispose();
  });

  it('decodes a domain tenant like the CPU reference: cold (computed windows), then warm from a built PLOT', async () => {
    const spec = tenant(0, 'rivers');
    await rt.tenants.add(spec);
    const n = 7;
    const a = prompt(1, 5);
    const ref = (ids: readonly number[]): number[] => gpt2PlotGreedyRef(config, loaded.weights, SPLIT, ids, n, { adapter: spec.adapter });
    const refA = ref(a);
    // The PLOT path must not fall back to all layers: that is a different model.
    expect(refA).not.toEqual(gpt2GreedyRef(config, loaded.weights, a, n, { adapter: spec.adapter }));

    const stats = engineOf(rt).assembler.stats;
    expect(await greedy(rt, spec.id, a, n)).toEqual(refA);
    expect(stats.computed).toBeGreaterThan(0);
    const coldRate = (await rt.metrics()).plotHitRate;

    // A prompt never seen, built into the table together with its continuation: every key of its run is in the PLOT.
    const b = prompt(2, 6);
    const refB = ref(b);
    const report = await rt.domains.build('rivers', [[...b, ...refB], prompt(3, 9)]);
    expect(report.entries).toBeGreaterThan(0);
    const computed = stats.computed;
    const tableHits = stats.table;
    expect(await greedy(rt, spec.id, b, n)).toEqual(refB);
    expect(stats.computed).toBe(computed);
    expect(stats.table).toBeGreaterThan(tableHits);
    expect((await rt.metrics()).plotHitRate).toBeGreaterThan(coldRate);

    const node = (await rt.domains.list()).find((d) => d.id === 'rivers')!;
    expect(node.entries).toBeGreaterThan(0);
    expect(node.entries).toBeLessThanOrEqual(500);
    await rt.domains.rebuild('rivers');
    expect(await greedy(rt, spec.id, b, n)).toEqual(refB);
  });

  it('gives a domain tenant the same output alone and in steps mixed with tenants running all layers', async () => {
    const plotSpec = tenant(1, 'rivers');
    const others = [tenant(2), tenant(3)];
    await rt.tenants.add([plotSpec, ...others]);
    const target = prompt(4, 4);
    const n = 8;
    const alone = await greedy(rt, plotSpec.id, target, n);
    expect(alone).toEqual(gpt2PlotGreedyRef(config, loaded.weights, SPLIT, target, n, { adapter: plotSpec.adapter }));

    // Which passes each step ran: a mixed step prefetches its PLOT rows, then runs the full pass.
    const engine = engineOf(rt);
    const log: string[] = [];
    const { assembler } = engine;
    const { model } = engine.head;
    const prefetch = assembler.prefetch.bind(assembler);
    const step = model.step.bind(model);
    assembler.prefetch = (seqs, o) => (log.push('prefetch'), prefetch(seqs, o));
    model.step = (pool, entries, lora) => (log.push('full'), step(pool, entries, lora));
    try {
      const otherPrompts = [prompt(5, 3), prompt(6, 7)];
      const [mine, ...theirs] = await Promise.all([
        greedy(rt, plotSpec.id, target, n),
        ...others.map((s, i) => greedy(rt, s.id, otherPrompts[i], n - 2 * i)),
      ]);
      expect(mine).toEqual(alone);
      theirs.forEach((got, i) => expect(got).toEqual(gpt2GreedyRef(config, loaded.weights, otherPrompts[i], n - 2 * i, { adapter: others[i].adapter })));
      expect(log.some((e, i) => e === 'prefetch' && log[i + 1] === 'full')).toBe(true);
    } finally {
      assembler.prefetch = prefetch;
      model.step = step;
    }
  });

  it('computes the windows of a domain with its own lower-layer LoRA through those layers', async () => {
    const all = syntheticTenant(config, 0, 7, { count: 1, seed: 13 }).adapter;
    const lowerAdapter = { modules: new Map([...all.modules].filter(([path]) => Number(/^h\.(\d+)\./.exec(path)![1]) < SPLIT)), head: new Map() };
    await rt.domains.add({ id: 'medicine', parent: 'rivers', lowerAdapter });
    const spec = tenant(2, 'medicine');
    await rt.tenants.add({ ...spec, id: 'medic' });
    const ids = prompt(8, 5);
    const n = 6;
    const got = await greedy(rt, 'medic', ids, n);
    expect(got).toEqual(gpt2PlotGreedyRef(config, loaded.weights, SPLIT, ids, n, { adapter: spec.adapter, adapterLower: lowerAdapter }));
    expect(got).not.toEqual(gpt2PlotGreedyRef(config, loaded.weights, SPLIT, ids, n, { adapter: spec.adapter }));
  });

  it('generates from the parent\'s entries under policy inherit, and measures the drift with domains.deviation', async () => {
    const lowerAdapter = syntheticDomainAdapter(config, SPLIT, { seed: 17 });
    await rt.domains.add({ id: 'dapt-inherit', parent: 'rivers', lowerAdapter, policy: 'inherit' });
    const ids = prompt(9, 11);
    // Every causal tri-gram of the prompt and its continuation, in the parent's table.
    const n = 5;
    const viaParent = gpt2PlotGreedyRef(config, loaded.weights, SPLIT, ids, n, { adapter: tenant(3).adapter });
    await rt.domains.build('rivers', [[...ids, ...viaParent]]);
    const spec = tenant(3, 'dapt-inherit');
    await rt.tenants.add({ ...spec, id: 'inheritor' });
    expect(await greedy(rt, 'inheritor', ids, n)).toEqual(viaParent);
    // Exact would have run the domain's own lower layers: another continuation.
    expect(gpt2PlotGreedyRef(config, loaded.weights, SPLIT, ids, n, { adapter: tenant(3).adapter, adapterLower: lowerAdapter })).not.toEqual(viaParent);

    const dev = await rt.domains.deviation('dapt-inherit', [ids]);
    expect(dev.rows).toBe(ids.length);
    expect(dev.inheritedRows).toBe(ids.length);
    expect(dev.meanCosine).toBeLessThan(0.99999);
    expect(dev.maxAbsDiff).toBeGreaterThan(1e-4);
    const same = await rt.domains.deviation('rivers', [ids]);
    expect([same.inheritedRows, same.maxAbsDiff]).toEqual([0, 0]);
  });

  it('rejects an unknown domain and a domain tenant whose LoRA adapts lower layers', async () => {
    await expect(rt.tenants.add(tenant(0, 'nowhere'))).rejects.toBeInstanceOf(UnknownDomainError);
    const lower = { ...syntheticTenant(config, 0, 9, { count: 1, seed: 2 }), domain: 'rivers' };
    await expect(rt.tenants.add(lower)).rejects.toBeInstanceOf(AdapterMismatchError);
    // Without a domain the same adapter is fine: that tenant runs all layers.
    const { domain: _, ...full } = lower;
    await rt.tenants.add(full);
    const ids = prompt(7, 3);
    expect(await greedy(rt, full.id, ids, 4)).toEqual(gpt2GreedyRef(config, loaded.weights, ids, 4, { adapter: full.adapter }));
  });
});

describe('hGPT PLOT generation across a device loss', () => {
  it('finishes domain and full-layer requests with the reference tokens on the new engine', async () => {
    const rt = await runtime();
    await rt.domains.add({ id: 'rivers' });
    const specs = [tenant(0, 'rivers'), tenant(1)];
    await rt.tenants.add(specs);
    const n = 10;
    const ids = [prompt(0, 4), prompt(1, 3)];
    const expected = [
      gpt2PlotGreedyRef(config, loaded.weights, SPLIT, ids[0], n, { adapter: specs[0].adapter }),
      gpt2GreedyRef(config, loaded.weights, ids[1], n, { adapter: specs[1].adapter }),
    ];
    const first = engineOf(rt);
    const results = specs.map(async (s, i) => {
      const out: number[] = [];
      for await (const c of rt.generate(s.id, ids[i], { maxTokens: n })) {
        if (c.tokenId >= 0) out.push(c.tokenId);
        if (i === 0 && out.length === 4) first.ctx.device.destroy();
      }
      return out;
    });
    expect(await Promise.all(results)).toEqual(expected);
    expect(engineOf(rt)).not.toBe(first);
    expect((await rt.metrics()).deviceRecoveries).toBe(1);
    await rt.dispose();
  });
});
