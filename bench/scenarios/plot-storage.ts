import { MemoryChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { DomainInfo, HmiRuntimeApi } from '../../src/runtime/api.js';
import { createRuntime } from '../../src/create-runtime.js';
import type { BenchContext } from '../lib/context.js';
import type { PlotStorageRow } from '../lib/results.js';
import { mulberry32, shuffle, uniformInt, zipfSampler } from '../lib/rng.js';
import type { Scenario } from '../lib/scenario.js';
import { slices } from '../lib/workload.js';

export const STORAGE_DOMAINS = [1, 2, 4] as const;
/** Lines of the whole corpus (split among the domains). Kept small: every distinct tri-gram of a build is a 3-token window through the lower layers, ~5-10 ms each on a loaded 2-core SwiftShader. */
export const STORAGE_CORPUS_LINES = [20, 80, 320] as const;
/** Per-domain budget high enough that no table of the grid is cut by it. */
export const STORAGE_NODE_BUDGET = 100_000;
/** The capped variant's per-domain budget (on the largest grid point). */
export const STORAGE_CAPPED_BUDGET = 128;
/** Budget of the parent the domains hang under: a rebuild promotes its hottest shared tri-grams into it. */
export const STORAGE_PARENT_BUDGET = 512;
/** Corpus lines: token ids drawn Zipf(1.1) over the vocabulary, 4-12 per line (short queries), so hot tri-grams recur as in text. */
const ZIPF_S = 1.1;
const LINE_TOKENS = [4, 12] as const;
/** Ids below this are BERT's specials ([PAD], [UNK], [CLS], [SEP], [MASK]). */
const FIRST_ID = 5;

/** A deterministic corpus of `lines` token-id lines; a prefix of a longer one with the same seed. */
export function zipfCorpus(lines: number, vocabSize: number, seed: number): number[][] {
  const rnd = mulberry32(seed);
  const n = vocabSize - FIRST_ID;
  // Hot ranks land on scattered ids, not just the first ones.
  const idOfRank = shuffle(Array.from({ length: n }, (_, i) => FIRST_ID + i), rnd);
  const rank = zipfSampler(n, ZIPF_S, rnd);
  const [lo, hi] = LINE_TOKENS;
  return Array.from({ length: lines }, () => Array.from({ length: lo + uniformInt(hi - lo + 1, rnd) }, () => idOfRank[rank()]));
}

interface Setup {
  readonly rt: HmiRuntimeApi;
  readonly chunks: MemoryChunkStore;
}

/** An hBERT runtime whose PLOT chunks persist in memory, where their stored bytes can be counted (the same in Node and a page). */
function setup(c: BenchContext): Promise<Setup> {
  return c.shared(
    'plot-storage',
    async () => {
      const chunks = new MemoryChunkStore();
      const rt = await createRuntime({ gpu: await c.env.gpu(), model: c.env.bertModel, store: new MemoryTenantStore(), plotStore: new PlotStore(chunks) });
      return { rt, chunks };
    },
    (s) => s.rt.dispose(),
  );
}

/** Persisted bytes (index + chunks of the current generation) of one node. */
function storedBytes(chunks: MemoryChunkStore, node: string): number {
  const prefix = `plot/${encodeURIComponent(node)}/`;
  let n = 0;
  for (const [name, bytes] of chunks.records) if (name.startsWith(prefix)) n += bytes.byteLength;
  return n;
}

interface Config {
  readonly domains: number;
  readonly corpusLines: number;
  readonly budgetEntries: number;
}

/**
 * Builds one grid point in a subtree of its own: a parent under the root with `domains` domains
 * under it, each built from its own slice of the corpus (the first `corpusLines` lines); then
 * rebuilds the subtree. One row after the build, one after the rebuild.
 */
async function measure(s: Setup, corpus: readonly (readonly number[])[], cfg: Config): Promise<PlotStorageRow[]> {
  const parent = `storage-${cfg.domains}x${cfg.corpusLines}-b${cfg.budgetEntries}`;
  const ids = Array.from({ length: cfg.domains }, (_, k) => `${parent}-${k}`);
  await s.rt.domains.add({ id: parent, budgetEntries: STORAGE_PARENT_BUDGET });
  let distinct = 0;
  const parts = slices(corpus.slice(0, cfg.corpusLines), cfg.domains);
  for (const [k, id] of ids.entries()) {
    await s.rt.domains.add({ id, parent, budgetEntries: cfg.budgetEntries });
    distinct += (await s.rt.domains.build(id, parts[k])).distinct;
  }
  const row = async (stage: PlotStorageRow['stage']): Promise<PlotStorageRow> => {
    const nodes = (await s.rt.domains.list()).filter((n: DomainInfo) => n.id === parent || ids.includes(n.id));
    return {
      ...cfg,
      stage,
      distinct,
      entries: nodes.reduce((a, n) => a + n.entries, 0),
      bytes: nodes.reduce((a, n) => a + n.bytes, 0),
      storedBytes: nodes.reduce((a, n) => a + storedBytes(s.chunks, n.id), 0),
      nodes: nodes.map((n) => ({ id: n.id, entries: n.entries, budgetEntries: n.budgetEntries, bytes: n.bytes, storedBytes: storedBytes(s.chunks, n.id) })),
    };
  };
  const built = await row('build');
  await s.rt.domains.rebuild(parent);
  return [built, await row('rebuild')];
}

/**
 * Issue 5's storage growth: bytes of the domain tree vs number of domains and corpus size.
 * Sizes, not timings: runs once (first slice). `distinct` = distinct tri-grams summed over the
 * domains' builds; entries/bytes = the subtree's PLOT tables (DomainInfo), storedBytes = what
 * the PlotStore persisted for them.
 */
export const plotStorage: Scenario = {
  name: 'plotStorage',
  async run(c) {
    if (c.slice !== 0) return;
    const s = await setup(c);
    const { config } = await c.hostModel();
    const t0 = Date.now();
    const corpus = zipfCorpus(Math.max(...STORAGE_CORPUS_LINES), config.vocabSize, c.opts.seed + 5);
    const rows: PlotStorageRow[] = [];
    for (const corpusLines of STORAGE_CORPUS_LINES) {
      for (const domains of STORAGE_DOMAINS) rows.push(...(await measure(s, corpus, { domains, corpusLines, budgetEntries: STORAGE_NODE_BUDGET })));
    }
    rows.push(...(await measure(s, corpus, { domains: Math.max(...STORAGE_DOMAINS), corpusLines: Math.max(...STORAGE_CORPUS_LINES), budgetEntries: STORAGE_CAPPED_BUDGET })));
    c.results.plotStorage = rows;
    c.env.log(`plotStorage: ${rows.length / 2} grid points built and rebuilt in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  },
  async report() {
    // run() fills results.plotStorage: the rows are sizes, complete after the first slice.
  },
};
