import { beforeAll, describe, expect, it } from 'vitest';
import { readF32 } from '../../../src/gpu/buffers.js';
import type { GpuContext } from '../../../src/gpu/device.js';
import type { PlotSequence } from '../../../src/knowledge/domain/assembler.js';
import { buildPlot } from '../../../src/knowledge/domain/builder.js';
import { MemoryChunkStore } from '../../../src/knowledge/domain/chunk-store.js';
import type { ComputeWindows } from '../../../src/knowledge/domain/domain-knowledge.js';
import { DomainTree } from '../../../src/knowledge/domain/domain-tree.js';
import { PlotStoreError } from '../../../src/knowledge/domain/errors.js';
import { PlotStore } from '../../../src/knowledge/domain/plot-store.js';
import { bertKeys } from '../../../src/knowledge/domain/trigram.js';
import { testContext } from '../../helpers/gpu.js';
import { bertRig, counted, fourDomains, realBert, syntheticCompute, type BertRig } from './fixtures.js';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

let tree: DomainTree;
const bert = realBert(() => tree);
const H = bert.config.hiddenSize;
const compute = syntheticCompute(() => tree, 3 * H);
const BUDGET = 6;

/** Traffic over a small vocabulary window starting at `from`, so tri-grams repeat. */
function traffic(round: number, from: number): PlotSequence[] {
  const domains = ['general', 'law', 'tax', 'med', 'law', 'general'];
  return domains.map((domain, s) => ({
    domain,
    ids: Array.from({ length: 5 + ((s + round) % 4) }, (_, i) => from + ((i * 3 + s + round) % 5)),
  }));
}

async function hidden(rig: BertRig, batch: readonly PlotSequence[]): Promise<Float32Array> {
  const { hidden: buf, batch: b } = await rig.assembler.assemble(batch);
  const out = await readF32(ctx, buf, b.rows * H);
  buf.destroy();
  return out;
}

async function reference(batch: readonly PlotSequence[]): Promise<Float32Array> {
  const saved = tree;
  tree = DomainTree.from(fourDomains(BUDGET));
  const out = await hidden(await bertRig(ctx, { ...bert, tree, compute }), batch);
  tree = saved;
  return out;
}

function checkBudgetsAndSharing(rig: BertRig): void {
  for (const info of rig.domain.describe()) {
    expect(info.entries).toBeLessThanOrEqual(info.budgetEntries);
    expect(info.bytes).toBe(info.entries * 3 * H * 4);
  }
  // Nodes sharing their parent's lower weights store nothing the parent chain holds.
  const keys = (id: string): Set<number> => new Set(rig.domain.table(id).keys());
  const general = keys('general');
  const law = keys('law');
  for (const k of law) expect(general.has(k)).toBe(false);
  for (const k of keys('tax')) expect(general.has(k) || law.has(k)).toBe(false);
}

describe('domain tree rebuild', () => {
  it('keeps each node within budget, promotes hot tri-grams, drops rare ones, and serving stays exact', async () => {
    tree = DomainTree.from(fourDomains(BUDGET));
    const counter = counted(compute);
    const rig = await bertRig(ctx, { ...bert, tree, compute: counter.fn });

    for (let round = 0; round < 3; round++) {
      const batch = traffic(round, 1);
      expect(Array.from(await hidden(rig, batch))).toEqual(Array.from(await reference(batch)));
      await rig.domain.rebuild();
      checkBudgetsAndSharing(rig);
    }
    // The hottest key of the base scope's traffic is stored at the root after the rebuilds.
    const general = rig.domain.table('general');
    expect(general.size).toBe(BUDGET);
    const counts = new Map<number, number>();
    for (let round = 0; round < 3; round++) {
      for (const s of traffic(round, 1)) {
        if (s.domain === 'med') continue;
        for (const k of bertKeys(s.ids, 0)) counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    }
    const hottest = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
    expect(general.has(hottest)).toBe(true);
    // med runs its own lower weights, so it keeps its own entries.
    expect(rig.domain.table('med').size).toBeGreaterThan(0);

    // Traffic moves to other ids: the old entries fall out, the new ones come in.
    const old = new Set(general.keys());
    for (let round = 0; round < 4; round++) {
      await hidden(rig, traffic(round, 20));
      await rig.domain.rebuild();
      checkBudgetsAndSharing(rig);
    }
    const now = [...rig.domain.table('general').keys()];
    expect(now.filter((k) => old.has(k))).toHaveLength(0);

    // The old ids are now misses at every node and are served exactly by computation.
    const before = rig.assembler.stats.computed;
    const batch = traffic(0, 1);
    rig.cache.clear();
    expect(Array.from(await hidden(rig, batch))).toEqual(Array.from(await reference(batch)));
    expect(rig.assembler.stats.computed).toBeGreaterThan(before);

    const info = rig.domain.describe().find((n) => n.id === 'law')!;
    expect(info.lookups).toBeGreaterThan(0);
    expect(info.hitRate).toBeCloseTo(info.hits / info.lookups, 12);
  });

  it('rebuilds only the subtree asked for', async () => {
    tree = DomainTree.from(fourDomains(BUDGET));
    const rig = await bertRig(ctx, { ...bert, tree, compute });
    await hidden(rig, traffic(0, 1));
    const reports = await rig.domain.rebuild('med');
    expect(reports.map((r) => r.node)).toEqual(['med']);
    expect(rig.domain.table('general').size).toBe(0);
    expect(rig.domain.table('med').size).toBeGreaterThan(0);
  });

  it('serving during a rebuild sees the old or the new table, never a broken one', async () => {
    tree = DomainTree.from(fourDomains(BUDGET));
    // The rebuild's lower-layer pass is held open, so the batch is assembled while it waits.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let entered: () => void = () => undefined;
    const blocked = new Promise<void>((r) => (entered = r));
    let armed = false;
    const slow: ComputeWindows = async (node, w) => {
      if (armed) {
        armed = false;
        entered();
        await gate;
      }
      return compute(node, w);
    };
    const rig = await bertRig(ctx, { ...bert, tree, compute: slow });
    await hidden(rig, traffic(0, 1));
    armed = true;
    const rebuilding = rig.domain.rebuild();
    await blocked;
    const batch = traffic(1, 1);
    const during = await hidden(rig, batch);
    expect(rig.domain.table('general').size).toBe(0);
    release();
    await rebuilding;
    expect(rig.domain.table('general').size).toBe(BUDGET);
    const after = await hidden(rig, batch);
    const want = await reference(batch);
    expect(Array.from(during)).toEqual(Array.from(want));
    expect(Array.from(after)).toEqual(Array.from(want));
    checkBudgetsAndSharing(rig);
  });

  it('a failed save (quota) is reported, the stored PLOT stays intact and serving continues', async () => {
    tree = DomainTree.from(fourDomains(BUDGET));
    const backend = new MemoryChunkStore();
    const store = new PlotStore(backend, 'plot', 2);
    const rig = await bertRig(ctx, { ...bert, tree, compute, store });
    await buildPlot(rig.domain, 'general', traffic(0, 1).map((s) => [...s.ids]), undefined, compute, { boundaryId: 0 });
    const stored = new Set(rig.domain.table('general').keys());
    expect(stored.size).toBe(BUDGET);

    const realSet = backend.set.bind(backend);
    backend.set = async () => {
      throw new DOMException('quota exceeded', 'QuotaExceededError');
    };
    await hidden(rig, traffic(0, 30));
    await hidden(rig, traffic(1, 30));
    await rig.domain.rebuild('general');
    expect(rig.domain.errors.some((e) => e instanceof PlotStoreError)).toBe(true);
    backend.set = realSet;

    // A fresh process reads the PLOT written before the failed save.
    tree = DomainTree.from(fourDomains(BUDGET));
    const again = await bertRig(ctx, { ...bert, tree, compute, store });
    await again.domain.open('general');
    expect(new Set(again.domain.table('general').keys())).toEqual(stored);
    const batch = traffic(0, 1);
    expect(Array.from(await hidden(again, batch))).toEqual(Array.from(await reference(batch)));
  });

  it('loads stored chunks lazily: only the chunks holding looked-up keys', async () => {
    tree = DomainTree.from(fourDomains(50));
    const backend = new MemoryChunkStore();
    const store = new PlotStore(backend, 'plot', 4);
    const rig = await bertRig(ctx, { ...bert, tree, compute, store });
    const corpus = Array.from({ length: 8 }, (_, s) => Array.from({ length: 6 }, (_, i) => 1 + ((s * 5 + i * 7) % 37)));
    await buildPlot(rig.domain, 'general', corpus, undefined, compute, { boundaryId: 0 });
    const chunks = [...backend.records.keys()].filter((k) => k.includes('/c')).length;
    expect(chunks).toBeGreaterThan(3);

    tree = DomainTree.from(fourDomains(50));
    const reads: string[] = [];
    const realGet = backend.get.bind(backend);
    backend.get = async (name) => {
      reads.push(name);
      return realGet(name);
    };
    const fresh = await bertRig(ctx, { ...bert, tree, compute, store });
    const batch: PlotSequence[] = [{ ids: corpus[0].slice(0, 2), domain: 'general' }];
    const out = await hidden(fresh, batch);
    const chunkReads = reads.filter((r) => r.includes('/c'));
    expect(chunkReads.length).toBeGreaterThan(0);
    expect(chunkReads.length).toBeLessThanOrEqual(2);
    expect(Array.from(out)).toEqual(Array.from(await reference(batch)));
    expect(fresh.domain.describe().find((n) => n.id === 'general')!.entries).toBe(rig.domain.table('general').size);
  });
});
