/**
 * Builds a node's PLOT from a corpus: counts its tri-grams, keeps the most frequent ones
 * the node does not inherit from a parent with the same lower weights, computes them in
 * batches and persists the table. The counts also seed the node's traffic counters, so a
 * later rebuild weighs the corpus along with live traffic.
 */
import { ShapeError } from '../../errors.js';
import type { ProgressCallback } from '../../util/progress.js';
import type { ComputeWindows, DomainKnowledge } from './domain-knowledge.js';
import { topK } from './frequency.js';
import { PlotTable } from './plot-table.js';
import { bertKeys, gptKeys, windowsOf, type TrigramKey } from './trigram.js';

export interface BuildOptions {
  /** The id outside a sequence: padTokenId (hBERT) or eosTokenId (hGPT). */
  readonly boundaryId: number;
  /** At most this many entries (and never more than the node's budget). */
  readonly maxEntries?: number;
  /** Windows per computeWindows call (default 256). */
  readonly batchSize?: number;
  readonly onProgress?: ProgressCallback;
}

export interface BuildReport {
  readonly sequences: number;
  readonly tokens: number;
  readonly distinct: number;
  readonly entries: number;
  readonly bytes: number;
}

export async function buildPlot(
  domain: DomainKnowledge,
  nodeId: string,
  corpus: readonly string[] | readonly (readonly number[])[],
  tokenize: ((text: string) => readonly number[]) | undefined,
  computeWindows: ComputeWindows,
  options: BuildOptions,
): Promise<BuildReport> {
  const { tree, layout } = domain;
  const node = tree.node(nodeId);
  const progress = options.onProgress;
  const counts = new Map<TrigramKey, number>();
  let tokens = 0;
  corpus.forEach((item, i) => {
    let ids: readonly number[];
    if (typeof item === 'string') {
      if (!tokenize) throw new ShapeError('buildPlot: a text corpus needs a tokenizer');
      ids = tokenize(item);
    } else {
      ids = item;
    }
    if (ids.length === 0) return;
    tokens += ids.length;
    const keys = layout.family === 'bert' ? bertKeys(ids, options.boundaryId) : gptKeys(ids, options.boundaryId);
    for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    progress?.({ phase: 'count', done: i + 1, total: corpus.length });
  });
  const counter = domain.counter(nodeId);
  for (const [k, n] of counts) counter.observe([k], n);

  await domain.ensureOpen(tree.chain(nodeId));
  const scope = tree.scope(nodeId);
  const above = tree
    .chain(nodeId)
    .slice(1)
    .filter((a) => tree.scope(a) === scope)
    .map((a) => domain.table(a));
  for (const k of [...counts.keys()]) if (above.some((t) => t.has(k))) counts.delete(k);
  const limit = Math.min(options.maxEntries ?? node.budgetEntries, node.budgetEntries);
  const chosen = topK(counts, limit);

  const table = domain.table(nodeId);
  // No chunks: the fresh table holds every value it has, nothing of the old one is loaded into it.
  const fresh = new PlotTable(table.layout, 0, table.generation);
  const batch = Math.max(1, options.batchSize ?? 256);
  for (let i = 0; i < chosen.length; i += batch) {
    const part = chosen.slice(i, i + batch);
    const values = await computeWindows(nodeId, windowsOf(part));
    if (values.length !== part.length * layout.width) {
      throw new ShapeError(`computeWindows returned ${values.length} values for ${part.length} windows of ${layout.width}`);
    }
    part.forEach((k, j) => fresh.set(k, values.subarray(j * layout.width, (j + 1) * layout.width)));
    progress?.({ phase: 'compute', done: Math.min(i + batch, chosen.length), total: chosen.length });
  }
  domain.replaceTable(nodeId, fresh);
  if (domain.store) {
    progress?.({ phase: 'store', done: 0, total: 1 });
    for (const e of await domain.store.save(nodeId, fresh, scope)) domain.record(e);
    progress?.({ phase: 'store', done: 1, total: 1 });
  }
  return { sequences: corpus.length, tokens, distinct: counts.size, entries: fresh.size, bytes: fresh.bytes };
}
