import { beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type HmiRuntime } from '../../src/runtime/runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import { MemoryChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { UnknownDomainError } from '../../src/knowledge/domain/errors.js';
import { AdapterMismatchError } from '../../src/formats/errors.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { loadModel, directorySource } from '../../src/formats/model-source.js';
import { bertPlotForwardRef } from '../../src/model/cpu/plot-ref.js';
import type { BertConfig } from '../../src/model/config.js';
import { writeBertDir } from '../helpers/models.js';

const SHAPE = { hiddenSize: 32, numLayers: 4, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const CORPUS = ['the river ran fast under the old stone bridge', 'a cold clear morning on the river', 'we walked home under the bridge'];

let dir: string;
let gpu: GPU;
beforeAll(async () => {
  dir = await writeBertDir(SHAPE);
  gpu = await nodeGpu();
});

function softmax(x: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

describe('two-phase hPLM inference through PLOT', () => {
  it('serves a domain tenant from PLOT: cold (computed) and warm (hit) equal the CPU reference of the same semantics', async () => {
    const rt = (await createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), plotStore: new PlotStore(new MemoryChunkStore()) })) as HmiRuntime;
    await rt.domains.add({ id: 'rivers', budgetEntries: 500 });
    const spec = { ...syntheticTenant(rt.config, rt.split, 0, { count: 1, seed: 11 }), domain: 'rivers' };
    await rt.tenants.add(spec);
    const text = 'the river ran under the bridge';

    const cold = await rt.classify(spec.id, text);
    const coldRate = (await rt.metrics()).plotHitRate;
    const report = await rt.domains.build('rivers', CORPUS);
    expect(report.entries).toBeGreaterThan(0);
    const warm = await rt.classify(spec.id, text);
    expect((await rt.metrics()).plotHitRate).toBeGreaterThan(coldRate);
    for (let i = 0; i < cold.scores.length; i++) expect(warm.scores[i]).toBeCloseTo(cold.scores[i], 5);

    // The CPU reference of DESIGN.md's PLOT definition, with the default LayerNorm (layer S-1's output LN).
    const { config, weights, tokenizer } = await loadModel(directorySource(dir));
    const S = rt.split;
    const ln = { weight: weights.get(`encoder.layer.${S - 1}.output.LayerNorm.weight`)!.data, bias: weights.get(`encoder.layer.${S - 1}.output.LayerNorm.bias`)!.data };
    const ref = bertPlotForwardRef(config as BertConfig, weights, S, tokenizer.encode(text), ln, { adapter: spec.adapter });
    const expected = softmax(ref.logits!);
    for (let i = 0; i < expected.length; i++) expect(warm.scores[i]).toBeCloseTo(expected[i], 4);

    const tree = await rt.domains.list();
    expect(tree.map((n) => n.id).sort()).toEqual(['general', 'rivers']);
    expect(tree.find((n) => n.id === 'rivers')!.entries).toBeLessThanOrEqual(500);
    await rt.dispose();
  });

  it('rejects an unknown domain and a domain tenant adapting lower layers; tenants without a domain run all layers', async () => {
    const rt = (await createRuntime({ gpu, model: dir, store: new MemoryTenantStore() })) as HmiRuntime;
    const base = syntheticTenant(rt.config, rt.split, 0, { count: 1 });
    await expect(rt.tenants.add({ ...base, domain: 'nowhere' })).rejects.toBeInstanceOf(UnknownDomainError);
    const lower = syntheticTenant(rt.config, 0, 1, { count: 2 });
    await expect(rt.tenants.add({ ...lower, domain: 'general' })).rejects.toBeInstanceOf(AdapterMismatchError);
    await rt.tenants.add(base);
    expect((await rt.classify(base.id, 'the river')).scores.length).toBeGreaterThan(1);
    expect((await rt.tenants.list()).map((t) => t.id)).toEqual([base.id]);
    await rt.dispose();
  });
});
