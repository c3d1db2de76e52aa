import { beforeAll, describe, expect, it } from 'vitest';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import { MemoryChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { UnknownDomainError } from '../../src/knowledge/domain/errors.js';
import { InvalidInputError } from '../../src/runtime/errors.js';
import { AdapterMismatchError } from '../../src/formats/errors.js';
import { syntheticDomainAdapter, syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { loadModel, directorySource } from '../../src/formats/model-source.js';
import { bertPlotForwardRef } from '../../src/model/cpu/plot-ref.js';
import type { BertConfig } from '../../src/formats/model-config.js';
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

  it('per-domain miss policy and the inherit deviation, through the public API', async () => {
    const rt = (await createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), plotStore: new PlotStore(new MemoryChunkStore()) })) as HmiRuntime;
    const S = rt.split;
    // Domain-adaptive lower layers: a LoRA on every target of the layers below the split.
    const lowerAdapter = syntheticDomainAdapter(rt.config, S, { seed: 5 });
    expect([...lowerAdapter.modules.keys()].every((path) => Number(/layer\.(\d+)\./.exec(path)![1]) < S)).toBe(true);
    expect(lowerAdapter.modules.size).toBe(6 * S);
    await rt.domains.add({ id: 'rivers' });
    await rt.domains.add({ id: 'dapt', lowerAdapter, policy: 'inherit' });
    await rt.domains.add({ id: 'dapt-exact', lowerAdapter });
    await rt.domains.add({ id: 'dapt-child', parent: 'dapt' });
    await expect(rt.domains.add({ id: 'bad', policy: 'sometimes' as 'exact' })).rejects.toBeInstanceOf(InvalidInputError);
    const policies = Object.fromEntries((await rt.domains.list()).map((d) => [d.id, d.policy]));
    expect(policies).toEqual({ general: 'exact', rivers: 'exact', dapt: 'inherit', 'dapt-exact': 'exact', 'dapt-child': 'inherit' });
    await rt.domains.build('general', CORPUS);

    // Every tri-gram of the text is in general's table: inherit serves them, exact computes with the domain's own layers.
    const text = CORPUS[0];
    const spec = syntheticTenant(rt.config, S, 0, { count: 1, seed: 11 });
    await rt.tenants.add([
      { ...spec, id: 'inh', domain: 'dapt' },
      { ...spec, id: 'exa', domain: 'dapt-exact' },
    ]);
    const { config, weights, tokenizer } = await loadModel(directorySource(dir));
    const ln = { weight: weights.get(`encoder.layer.${S - 1}.output.LayerNorm.weight`)!.data, bias: weights.get(`encoder.layer.${S - 1}.output.LayerNorm.bias`)!.data };
    const ids = tokenizer.encode(text);
    const viaGeneral = softmax(bertPlotForwardRef(config as BertConfig, weights, S, ids, ln, { adapter: spec.adapter }).logits!);
    const viaOwn = softmax(bertPlotForwardRef(config as BertConfig, weights, S, ids, ln, { adapter: spec.adapter, adapterLower: lowerAdapter }).logits!);
    // The two answers differ, so each check below tells which lower layers served.
    expect(Math.max(...viaGeneral.map((p, i) => Math.abs(p - viaOwn[i])))).toBeGreaterThan(1e-3);
    const inh = await rt.classify('inh', text);
    const exa = await rt.classify('exa', text);
    viaGeneral.forEach((p, i) => expect(inh.scores[i]).toBeCloseTo(p, 4));
    viaOwn.forEach((p, i) => expect(exa.scores[i]).toBeCloseTo(p, 4));

    const before = (await rt.domains.list()).find((d) => d.id === 'dapt')!;
    const progress: number[] = [];
    const dev = await rt.domains.deviation('dapt', CORPUS, (p) => progress.push(p.done));
    const tokens = CORPUS.reduce((n, t) => n + tokenizer.encode(t).length, 0);
    expect(dev.rows).toBe(tokens);
    expect(dev.inheritedRows).toBe(tokens);
    expect(dev.meanCosine).toBeLessThan(0.99999);
    expect(dev.meanCosine).toBeGreaterThan(0);
    expect(dev.maxAbsDiff).toBeGreaterThan(1e-3);
    expect(progress.at(-1)).toBe(CORPUS.length);
    // A measurement: the domain's traffic statistics did not move.
    const after = (await rt.domains.list()).find((d) => d.id === 'dapt')!;
    expect([after.lookups, after.hits]).toEqual([before.lookups, before.hits]);
    // A domain sharing general's lower layers inherits exactly.
    const same = await rt.domains.deviation('rivers', CORPUS.map((t) => tokenizer.encode(t)));
    expect(same.inheritedRows).toBe(0);
    expect(same.maxAbsDiff).toBeLessThanOrEqual(1e-6);

    await expect(rt.domains.deviation('nowhere', CORPUS)).rejects.toBeInstanceOf(UnknownDomainError);
    await expect(rt.domains.deviation('dapt', [[1, 2, 1e9]])).rejects.toBeInstanceOf(InvalidInputError);
    await expect(rt.domains.deviation('dapt', ['', '   '])).rejects.toBeInstanceOf(InvalidInputError);
    await expect(rt.domains.build('rivers', [[3, -1]])).rejects.toBeInstanceOf(InvalidInputError);
    // The tenants are still served after the bad calls.
    expect((await rt.classify('exa', text)).scores).toEqual(exa.scores);
    await rt.dispose();
  });

  it('refuses an unknown runtime-wide plotPolicy', async () => {
    await expect(createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), plotPolicy: 'maybe' as 'exact' })).rejects.toBeInstanceOf(InvalidInputError);
  });
});
