import { beforeAll, describe, expect, it } from 'vitest';
import { allocBuffer, readF32 } from '../../../src/gpu/buffers.js';
import { run } from '../../../src/gpu/dispatch.js';
import { bertPlotCombineRef, bertTrigramEntryRef, bertTrigramKeys, gpt2TrigramEntryRef, gpt2TrigramKeys } from '../../../src/model/cpu/plot-ref.js';
import type { PlotSequence, PreparedBatch } from '../../../src/knowledge/domain/assembler.js';
import { buildPlot } from '../../../src/knowledge/domain/builder.js';
import { measureInheritDeviation } from '../../../src/knowledge/domain/deviation.js';
import { DomainTree } from '../../../src/knowledge/domain/domain-tree.js';
import { expectClose, testContext } from '../../helpers/gpu.js';
import { bertRig, counted, fourDomains, gptRig, ids, realBert, realGpt, type BertRig } from './fixtures.js';
import type { GpuContext } from '../../../src/gpu/device.js';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

async function hidden(rig: BertRig, seqs: readonly PlotSequence[], policy?: 'exact' | 'inherit'): Promise<Float32Array> {
  const { hidden: buf, batch } = await rig.assembler.assemble(seqs, policy ? { policy } : {});
  const out = await readF32(ctx, buf, batch.rows * rig.domain.layout.hidden);
  buf.destroy();
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('PLOT assembler, hBERT (real lower layers)', () => {
  let tree: DomainTree;
  const bert = realBert(() => tree);
  const V = bert.config.vocabSize;
  const seqs: PlotSequence[] = [
    { ids: ids(1, 1, V), domain: 'general' },
    { ids: ids(2, 2, V), domain: 'tax' },
    { ids: ids(3, 3, V), domain: 'med' },
    { ids: ids(9, 4, V), domain: 'law' },
    { ids: ids(5, 5, V), domain: 'general' },
  ];
  const H = bert.config.hiddenSize;
  const lnName = `encoder.layer.${bert.split - 1}.output.LayerNorm`;
  const ln = { weight: bert.base.get(`${lnName}.weight`)!.data, bias: bert.base.get(`${lnName}.bias`)!.data };

  /** Entries from the domain's own lower layers, combined with the base's embeddings and LN. */
  function expected(t: DomainTree, batch: readonly PlotSequence[]): Float64Array {
    const parts = batch.map((s) => {
      const w = bert.weightsOf(t, s.domain);
      const entries = bertTrigramKeys(bert.config, s.ids).map((tri) => bertTrigramEntryRef(bert.config, w, bert.split, tri));
      return bertPlotCombineRef(bert.config, bert.base, entries, ln);
    });
    const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  it('exact: hidden states from PLOT hits equal the windows computed on the fly', async () => {
    tree = DomainTree.from(fourDomains());
    const compute = counted(bert.compute);
    const rig = await bertRig(ctx, { ...bert, tree, compute: compute.fn });
    const rows = seqs.reduce((a, s) => a + s.ids.length, 0);

    const onTheFly = await hidden(rig, seqs);
    expect(rig.assembler.stats.computed).toBe(rows);
    // One batched pass per lower-weights scope in the batch (base and med-dapt).
    expect(compute.calls).toBe(2);
    expectClose(onTheFly, expected(tree, seqs), 1e-4, 1e-5);

    const corpus = seqs.map((s) => [...s.ids]);
    for (const node of ['general', 'med']) {
      await buildPlot(rig.domain, node, corpus, undefined, bert.compute, { boundaryId: bert.config.padTokenId });
    }
    rig.cache.clear();
    const callsBefore = compute.calls;
    const fromTables = await hidden(rig, seqs);
    expect(compute.calls).toBe(callsBefore);
    const s = rig.assembler.stats;
    expect(s.table + s.ancestor).toBe(rows);
    expect(s.ancestor).toBeGreaterThan(0); // law and tax read general's entries
    expect(maxAbsDiff(fromTables, onTheFly)).toBeLessThanOrEqual(1e-5);

    const fromCache = await hidden(rig, seqs);
    expect(s.gpu).toBe(rows);
    expect(maxAbsDiff(fromCache, onTheFly)).toBeLessThanOrEqual(1e-5);
  });

  it('uses a domain LayerNorm when the node has one, the default otherwise', async () => {
    const gamma = Float32Array.from({ length: H }, (_, i) => 0.5 + i / H);
    const beta = Float32Array.from({ length: H }, (_, i) => i / (2 * H) - 0.2);
    tree = DomainTree.from([...fourDomains().slice(0, 3), { ...fourDomains()[3], ln: { gamma, beta } }]);
    const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute });
    const out = await hidden(rig, seqs);
    const medRows = seqs.slice(0, 2).reduce((a, q) => a + q.ids.length, 0);
    const med = seqs[2];
    const entries = bertTrigramKeys(bert.config, med.ids).map((tri) => bertTrigramEntryRef(bert.config, bert.weightsOf(tree, 'med'), bert.split, tri));
    const want = bertPlotCombineRef(bert.config, bert.base, entries, { weight: gamma, bias: beta });
    expectClose(out.subarray(medRows * H, (medRows + med.ids.length) * H), want, 1e-4, 1e-5);
    // The other domains keep the base model's LayerNorm.
    expectClose(out.subarray(0, medRows * H), expected(tree, seqs).subarray(0, medRows * H), 1e-4, 1e-5);
  });

  it('inherit: a node with its own lower weights takes the nearest ancestor entry; the deviation is measured', async () => {
    tree = DomainTree.from(fourDomains());
    const compute = counted(bert.compute);
    const rig = await bertRig(ctx, { ...bert, tree, compute: compute.fn });
    const medSeqs: PlotSequence[] = [{ ids: ids(6, 7, V), domain: 'med' }, { ids: ids(4, 8, V), domain: 'med' }];
    await buildPlot(rig.domain, 'general', medSeqs.map((q) => [...q.ids]), undefined, bert.compute, { boundaryId: 0 });

    const before = { ...rig.assembler.stats };
    const observed = [...rig.domain.counter('med').entries()].length;
    const dev = await measureInheritDeviation(rig.assembler, medSeqs);
    // Inherit took all 10 rows from the general domain; exact computed them with med's own layers.
    expect(dev.inheritedRows).toBe(10);
    expect(compute.windows).toBe(10);
    // A measurement, not traffic: no hit statistic and no frequency counter moved.
    expect({ ...rig.assembler.stats, bytesUploaded: before.bytesUploaded }).toEqual(before);
    expect([...rig.domain.counter('med').entries()].length).toBe(observed);
    expect(rig.domain.describe().find((d) => d.id === 'med')!.lookups).toBe(0);
    expect(dev.rows).toBe(10);
    expect(dev.meanCosine).toBeLessThan(0.9999);
    expect(dev.meanCosine).toBeGreaterThan(-1);
    expect(dev.maxAbsDiff).toBeGreaterThan(1e-3);
    // A node sharing its parent's lower weights inherits exactly.
    const same = await measureInheritDeviation(rig.assembler, medSeqs.map((q) => ({ ...q, domain: 'tax' })));
    expect(same.inheritedRows).toBe(0);
    expect(same.maxAbsDiff).toBeLessThanOrEqual(1e-6);
    expect(same.meanCosine).toBeCloseTo(1, 6);

    // Served under inherit, the general domain's entries: equal to what a general tenant gets.
    const other: PlotSequence[] = [{ ids: ids(5, 9, V), domain: 'med' }];
    await buildPlot(rig.domain, 'general', other.map((q) => [...q.ids]), undefined, bert.compute, { boundaryId: 0 });
    const inherited = await hidden(rig, other, 'inherit');
    expectClose(inherited, expected(tree, other.map((q) => ({ ...q, domain: 'general' }))), 1e-4, 1e-5);
    // Exact ignores them: med's own lower layers compute its windows.
    const exact = await hidden(rig, other, 'exact');
    expectClose(exact, expected(tree, other), 1e-4, 1e-5);
  });

  it('a node\'s own policy wins over the default and passes to its children', async () => {
    const specs = fourDomains();
    // med inherits (its own lower weights, served from general's table); its child keeps that policy.
    tree = DomainTree.from([...specs.slice(0, 3), { ...specs[3], policy: 'inherit' }, { id: 'cardio', parent: 'med', budgetEntries: 1000 }]);
    const compute = counted(bert.compute);
    const rig = await bertRig(ctx, { ...bert, tree, compute: compute.fn });
    expect(rig.domain.policyOf('general')).toBe('exact');
    expect(rig.domain.policyOf('cardio')).toBe('inherit');
    expect(rig.domain.describe().map((d) => [d.id, d.policy])).toEqual([
      ['general', 'exact'],
      ['law', 'exact'],
      ['med', 'inherit'],
      ['tax', 'exact'],
      ['cardio', 'inherit'],
    ]);
    const seq: PlotSequence[] = [{ ids: ids(6, 3, V), domain: 'cardio' }];
    await buildPlot(rig.domain, 'general', seq.map((q) => [...q.ids]), undefined, bert.compute, { boundaryId: 0 });
    const calls = compute.windows;
    const out = await hidden(rig, seq);
    expect(compute.windows).toBe(calls);
    expect(rig.assembler.stats.computed).toBe(0);
    expectClose(out, expected(tree, seq.map((q) => ({ ...q, domain: 'general' }))), 1e-4, 1e-5);
    // The batch override still reaches exact: cardio's windows run through med's own layers.
    const exact = await hidden(rig, seq, 'exact');
    expect(compute.windows).toBe(calls + 6);
    expectClose(exact, expected(tree, seq), 1e-4, 1e-5);
  });

  it('an f16 cache halves the entry bytes and stays close to f32', async () => {
    tree = DomainTree.from(fourDomains());
    const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute, dtype: 'f16' });
    expect(rig.cache.bytes).toBeLessThanOrEqual(256 * Math.ceil((3 * H) / 2) * 4);
    const out = await hidden(rig, seqs);
    expectClose(out, expected(tree, seqs), 2e-2, 2e-2);
  });
});

describe('PLOT assembler, hGPT (real lower layers)', () => {
  let tree: DomainTree;
  const gpt = realGpt(() => tree);
  const V = gpt.config.vocabSize;
  const H = gpt.config.hiddenSize;

  function expected(t: DomainTree, seqs: readonly PlotSequence[]): Float64Array {
    const rows: Float64Array[] = [];
    for (const s of seqs) {
      const all = [...(s.context ?? []), ...s.ids];
      const keys = gpt2TrigramKeys(gpt.config, all).slice(all.length - s.ids.length);
      for (const tri of keys) rows.push(gpt2TrigramEntryRef(gpt.config, gpt.weightsOf(t, s.domain), gpt.split, tri));
    }
    const out = new Float64Array(rows.length * H);
    rows.forEach((r, i) => out.set(r, i * H));
    return out;
  }

  it('exact: gathered hidden states from PLOT hits equal the on-the-fly windows, decode steps included', async () => {
    tree = DomainTree.from(fourDomains());
    const rig = await gptRig(ctx, { ...gpt, tree, compute: gpt.compute });
    const prompt = ids(7, 3, V);
    const seqs: PlotSequence[] = [
      { ids: ids(1, 1, V), domain: 'general' },
      { ids: prompt, domain: 'med' },
      { ids: ids(4, 2, V), domain: 'tax' },
      // A decode step: one new token whose key reaches back into the cached ones.
      { ids: [5], context: prompt, domain: 'med' },
    ];
    const rows = 13;
    const onTheFly = await hidden(rig, seqs);
    expect(rig.assembler.stats.computed).toBe(rows);
    expectClose(onTheFly, expected(tree, seqs), 1e-4, 1e-5);

    const corpus = [...seqs.map((s) => [...(s.context ?? []), ...s.ids])];
    for (const node of ['general', 'med']) await buildPlot(rig.domain, node, corpus, undefined, gpt.compute, { boundaryId: gpt.config.eosTokenId });
    rig.cache.clear();
    const fromTables = await hidden(rig, seqs);
    expect(rig.assembler.stats.table + rig.assembler.stats.ancestor).toBe(rows);
    expect(maxAbsDiff(fromTables, onTheFly)).toBeLessThanOrEqual(1e-5);
  });
});

describe('PLOT assembler, batches in flight', () => {
  it('entries of a prepared batch stay pinned while the next batches are prefetched', async () => {
    let tree = DomainTree.from(fourDomains());
    const bert = realBert(() => tree);
    const H = bert.config.hiddenSize;
    const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute, slots: 10 });
    const a: PlotSequence[] = [{ ids: [1, 2, 3, 4, 5], domain: 'general' }];
    const b: PlotSequence[] = [{ ids: [6, 7, 8, 9, 10], domain: 'law' }];
    const c: PlotSequence[] = [{ ids: [11, 12, 13, 14, 15], domain: 'tax' }];
    const want = async (batch: PlotSequence[]): Promise<Float32Array> => {
      tree = DomainTree.from(fourDomains());
      const fresh = await bertRig(ctx, { ...bert, tree, compute: bert.compute });
      return hidden(fresh, batch);
    };
    const [wantA, wantB] = [await want(a), await want(b)];
    tree = rig.domain.tree;

    const pa = await rig.assembler.prefetch(a);
    const pb = await rig.assembler.prefetch(b);
    // The cache is full of pinned entries: a third batch must wait for a release.
    await expect(rig.assembler.prefetch(c)).rejects.toThrow('pinned');
    const outA = await allocAndRun(rig, pa, H);
    rig.assembler.release(pa);
    const pc = await rig.assembler.prefetch(c);
    // c took a's slots, never b's.
    for (const s of pc.slots) expect(Array.from(pb.slots)).not.toContain(s);
    const outB = await allocAndRun(rig, pb, H);
    rig.assembler.release(pb);
    rig.assembler.release(pc);
    expect(Array.from(outA)).toEqual(Array.from(wantA));
    expect(Array.from(outB)).toEqual(Array.from(wantB));
    expect(rig.cache.pinned).toBe(0);
  });
});

async function allocAndRun(rig: BertRig, batch: PreparedBatch, H: number): Promise<Float32Array> {
  const out = await allocBuffer(ctx, batch.rows * H * 4, 'out');
  run(ctx, (pass) => rig.assembler.encode(pass, batch, out));
  const data = await readF32(ctx, out, batch.rows * H);
  out.destroy();
  return data;
}
