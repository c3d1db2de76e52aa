import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../../src/errors.js';
import type { Progress } from '../../../src/runtime/api.js';
import { buildPlot } from '../../../src/knowledge/domain/builder.js';
import { DomainKnowledge } from '../../../src/knowledge/domain/domain-knowledge.js';
import { DomainTree } from '../../../src/knowledge/domain/domain-tree.js';
import { MemoryChunkStore } from '../../../src/knowledge/domain/chunk-store.js';
import { PlotStore } from '../../../src/knowledge/domain/plot-store.js';
import { plotLayout } from '../../../src/knowledge/domain/plot-table.js';
import { gptKeys, trigramKey } from '../../../src/knowledge/domain/trigram.js';
import { counted, fourDomains, syntheticCompute } from './fixtures.js';

const H = 4;

describe('buildPlot', () => {
  it('computes the most frequent tri-grams of a text corpus in batches, within budget, with progress', async () => {
    const tree = DomainTree.from(fourDomains(5));
    const compute = counted(syntheticCompute(() => tree, H));
    const store = new PlotStore(new MemoryChunkStore(), 'plot', 2);
    const domain = new DomainKnowledge({ tree, layout: plotLayout('gpt2', H, 'h', 1), computeWindows: compute.fn, store });
    const vocab = new Map<string, number>();
    const tokenize = (text: string): number[] =>
      text.split(' ').map((w) => {
        if (!vocab.has(w)) vocab.set(w, vocab.size + 1);
        return vocab.get(w)!;
      });
    const corpus = ['the cat sat', 'the cat sat', 'the cat ran', 'a dog sat', 'the cat sat'];
    const progress: Progress[] = [];
    const report = await buildPlot(domain, 'general', corpus, tokenize, compute.fn, {
      boundaryId: 0,
      batchSize: 2,
      onProgress: (p) => progress.push(p),
    });
    expect(report.tokens).toBe(15);
    expect(report.entries).toBe(5);
    expect(compute.calls).toBe(3);
    expect(compute.windows).toBe(5);
    const t = domain.table('general');
    // (eos, eos, the) appears 4 times, (eos, the, cat) 4, (the, cat, sat) 3.
    const [the, cat, sat] = ['the', 'cat', 'sat'].map((w) => vocab.get(w)!);
    for (const k of [trigramKey(0, 0, the), trigramKey(0, the, cat), trigramKey(the, cat, sat)]) expect(t.has(k)).toBe(true);
    expect(progress.filter((p) => p.phase === 'compute').map((p) => p.done)).toEqual([2, 4, 5]);
    expect(progress.at(-1)).toEqual({ phase: 'store', done: 1, total: 1 });
    expect(report.bytes).toBe(5 * H * 4);
  });

  it('stores at a child sharing its parent weights only what the parent lacks', async () => {
    const tree = DomainTree.from(fourDomains(100));
    const compute = syntheticCompute(() => tree, H);
    const domain = new DomainKnowledge({ tree, layout: plotLayout('gpt2', H, 'h', 1), computeWindows: compute });
    const parentCorpus = [[1, 2, 3, 4]];
    const childCorpus = [[1, 2, 3, 4, 5, 6]];
    await buildPlot(domain, 'general', parentCorpus, undefined, compute, { boundaryId: 0 });
    await buildPlot(domain, 'law', childCorpus, undefined, compute, { boundaryId: 0 });
    await buildPlot(domain, 'med', childCorpus, undefined, compute, { boundaryId: 0 });
    const parent = new Set(domain.table('general').keys());
    const law = [...domain.table('law').keys()];
    expect(law).toEqual(gptKeys([1, 2, 3, 4, 5, 6], 0).filter((k) => !parent.has(k)));
    // med has its own lower weights: it stores all its windows.
    expect(domain.table('med').size).toBe(6);
    await expect(buildPlot(domain, 'law', ['text'], undefined, compute, { boundaryId: 0 })).rejects.toThrow(ShapeError);
  });
});
