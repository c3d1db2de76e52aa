import { beforeAll, describe, expect, it } from 'vitest';
import { readF32 } from '../../../src/gpu/buffers.js';
import type { GpuContext } from '../../../src/gpu/device.js';
import type { PlotSequence } from '../../../src/knowledge/domain/assembler.js';
import { buildPlot } from '../../../src/knowledge/domain/builder.js';
import { MemoryChunkStore } from '../../../src/knowledge/domain/chunk-store.js';
import { DomainTree } from '../../../src/knowledge/domain/domain-tree.js';
import {
  CorruptChunkError,
  DomainCycleError,
  PlotCacheFullError,
  PlotMismatchError,
  UnknownDomainError,
} from '../../../src/knowledge/domain/errors.js';
import { PlotStore } from '../../../src/knowledge/domain/plot-store.js';
import { plotLayout } from '../../../src/knowledge/domain/plot-table.js';
import { testContext } from '../../helpers/gpu.js';
import { bertRig, fourDomains, ids, realBert, type BertRig } from './fixtures.js';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

let tree: DomainTree;
const bert = realBert(() => tree);
const V = bert.config.vocabSize;
const seqs: PlotSequence[] = [
  { ids: ids(4, 1, V), domain: 'law' },
  { ids: ids(3, 2, V), domain: 'general' },
];

async function hidden(rig: BertRig, batch: readonly PlotSequence[]): Promise<Float32Array> {
  const { hidden: buf, batch: b } = await rig.assembler.assemble(batch);
  const out = await readF32(ctx, buf, b.rows * rig.domain.layout.hidden);
  buf.destroy();
  return out;
}

/** What the batch gives with nothing stored: every window computed. */
async function reference(batch: readonly PlotSequence[]): Promise<Float32Array> {
  tree = DomainTree.from(fourDomains());
  return hidden(await bertRig(ctx, { ...bert, tree, compute: bert.compute }), batch);
}

async function storedPlot(): Promise<{ backend: MemoryChunkStore; store: PlotStore }> {
  const backend = new MemoryChunkStore();
  const store = new PlotStore(backend, 'plot', 2);
  tree = DomainTree.from(fourDomains());
  const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute, store });
  await buildPlot(rig.domain, 'general', seqs.map((s) => [...s.ids]), undefined, bert.compute, { boundaryId: 0 });
  return { backend, store };
}

describe('domain knowledge errors: named, and serving continues by computation', () => {
  it('an unknown domain is reported and served with the base lower layers', async () => {
    const want = await reference(seqs);
    tree = DomainTree.from(fourDomains());
    const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute });
    const out = await hidden(rig, [{ ...seqs[0], domain: 'no-such-domain' }, seqs[1]]);
    await hidden(rig, [{ ...seqs[0], domain: 'no-such-domain' }]);
    expect(rig.domain.errors.filter((e) => e instanceof UnknownDomainError && e.domain === 'no-such-domain')).toHaveLength(1);
    expect(Array.from(out)).toEqual(Array.from(want));
    expect(() => rig.domain.table('no-such-domain')).toThrow(UnknownDomainError);
  });

  it('a node whose parent chain loops is a DomainCycleError and leaves the tree as it was', async () => {
    const want = await reference(seqs);
    tree = DomainTree.from(fourDomains());
    const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute });
    expect(() => rig.domain.addNode({ id: 'law', parent: 'tax', budgetEntries: 5 })).toThrow(DomainCycleError);
    expect(() => rig.domain.addNode({ id: 'x', parent: 'x', budgetEntries: 5 })).toThrow(DomainCycleError);
    expect(() => DomainTree.from([...fourDomains(), { id: 'a', parent: 'b', budgetEntries: 1 }, { id: 'b', parent: 'a', budgetEntries: 1 }])).toThrow(
      DomainCycleError,
    );
    expect(tree.node('law').parent).toBe('general');
    expect(tree.has('x')).toBe(false);
    expect(Array.from(await hidden(rig, seqs))).toEqual(Array.from(want));
  });

  it('a PLOT built for another base model or split layer is a PlotMismatchError; the node computes', async () => {
    const want = await reference(seqs);
    const { store } = await storedPlot();
    for (const [hash, split] of [
      ['another-model', bert.split],
      ['hash-bert', bert.split + 1],
    ] as const) {
      const expected = plotLayout('bert', bert.config.hiddenSize, hash, split);
      await expect(store.loadIndex('general', expected, 'base')).rejects.toThrow(PlotMismatchError);
    }
    // A runtime serving another model opens the same store: the error is recorded once, the batch computed.
    tree = DomainTree.from(fourDomains());
    const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute, store, modelHash: 'another-model' });
    const out = await hidden(rig, seqs);
    await hidden(rig, seqs);
    expect(rig.domain.errors.filter((e) => e instanceof PlotMismatchError)).toHaveLength(1);
    expect(rig.assembler.stats.table + rig.assembler.stats.ancestor).toBe(0);
    expect(Array.from(out)).toEqual(Array.from(want));
  });

  it('a stored PLOT computed with other lower weights is a PlotMismatchError', async () => {
    const { store } = await storedPlot();
    const withOwn = fourDomains().map((d) => (d.id === 'general' ? { ...d, lowerWeightsId: 'general-dapt' } : d));
    tree = DomainTree.from(withOwn);
    const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute, store });
    await expect(rig.domain.open('general')).rejects.toThrow(PlotMismatchError);

    // Giving a node new lower weights at run time drops what it stored.
    tree = DomainTree.from(fourDomains());
    const live = await bertRig(ctx, { ...bert, tree, compute: bert.compute, store });
    await live.domain.open('general');
    expect(live.domain.table('general').size).toBeGreaterThan(0);
    live.domain.addNode({ id: 'general', parent: null, lowerWeightsId: 'general-dapt', budgetEntries: 10 });
    expect(live.domain.table('general').size).toBe(0);
    await new Promise((r) => setTimeout(r, 0));
    expect(await store.loadIndex('general', live.domain.layout, 'base')).toBeUndefined();
  });

  it('a corrupt chunk is a CorruptChunkError; its keys are computed, the other chunks still serve', async () => {
    const want = await reference(seqs);
    const { backend, store } = await storedPlot();
    const chunks = [...backend.records.keys()].filter((k) => k.includes('/c'));
    expect(chunks.length).toBeGreaterThan(1);
    const bytes = backend.records.get(chunks[0])!;
    bytes[40] ^= 0x10;

    tree = DomainTree.from(fourDomains());
    const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute, store });
    const out = await hidden(rig, seqs);
    expect(rig.domain.errors.some((e) => e instanceof CorruptChunkError)).toBe(true);
    const s = rig.assembler.stats;
    expect(s.computed).toBeGreaterThan(0);
    expect(s.table + s.ancestor).toBeGreaterThan(0);
    expect(Array.from(out)).toEqual(Array.from(want));
  });

  it('a corrupt index is a CorruptChunkError; the node serves by computation', async () => {
    const want = await reference(seqs);
    const { backend, store } = await storedPlot();
    const index = [...backend.records.keys()].find((k) => k.endsWith('/index'))!;
    backend.records.get(index)![20] ^= 1;
    tree = DomainTree.from(fourDomains());
    const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute, store });
    await expect(rig.domain.open('general')).rejects.toThrow(CorruptChunkError);
    expect(Array.from(await hidden(rig, seqs))).toEqual(Array.from(want));
    expect(rig.domain.errors.some((e) => e instanceof CorruptChunkError)).toBe(true);
  });

  it('a batch needing more distinct entries than the cache has slots is a PlotCacheFullError, pins untouched', async () => {
    tree = DomainTree.from(fourDomains());
    const rig = await bertRig(ctx, { ...bert, tree, compute: bert.compute, slots: 4 });
    await expect(rig.assembler.prefetch(seqs)).rejects.toThrow(PlotCacheFullError);
    expect(rig.cache.pinned).toBe(0);
    const out = await hidden(rig, [{ ids: ids(3, 5, V), domain: 'law' }]);
    expect(out.length).toBe(3 * bert.config.hiddenSize);
  });
});
