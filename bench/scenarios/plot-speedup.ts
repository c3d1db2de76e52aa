import type { BenchContext } from '../lib/context.js';
import type { Scenario } from '../lib/scenario.js';
import { timed, type Sample } from '../lib/measure.js';
import { makeTexts, slices, type Request } from '../lib/workload.js';
import type { DomainInfo, HmiRuntimeApi } from '../../src/runtime/api.js';
import { createRuntime } from '../../src/create-runtime.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import { MemoryChunkStore } from '../../src/knowledge/domain/chunk-store.js';

/** Tenants of every contender: the same synthetic adapters (LoRA on layers >= split only) under three prefixes. */
export const TENANTS = 50;
export const WARM = 'plot-warm';
/**
 * Requests timed per slice and contender (of the common workload's 125): a rate needs no
 * more, and the warm PLOT is built from exactly these texts, which keeps its build short.
 */
const PER_SLICE = 96;

/** The requests plotSpeedup (and plotInherit) time in slice k. */
export async function plotRequests(c: BenchContext, k: number): Promise<Request[]> {
  return (slices(await c.workload(TENANTS), c.opts.slices)[k] ?? []).slice(0, PER_SLICE);
}
/** Requests of the warm-ups: real lengths, texts of another seed, so no contender sees its timed texts early. */
const WARMUP_TEXTS = 64;

export interface Plot {
  /** Tenants "flat-i" (no domain: all layers) and "warm-i" (domain WARM, its PLOT built from the workload's texts). */
  readonly rt: HmiRuntimeApi;
  /** A runtime of its own for the cold domains, so its GPU cache never holds what the warm pass loaded. */
  readonly cold: HmiRuntimeApi;
  /** Lookups and hits during the timed passes only. */
  readonly counts: { readonly warm: Counts; readonly cold: Counts };
}

/** Lookups and hits of a node, to attribute them to one timed pass. */
export type Counts = { hits: number; lookups: number };

async function countsOf(rt: HmiRuntimeApi, id: string): Promise<Counts> {
  const n = (await rt.domains.list()).find((d: DomainInfo) => d.id === id);
  return { hits: n?.hits ?? 0, lookups: n?.lookups ?? 0 };
}

async function newRuntime(c: BenchContext): Promise<HmiRuntimeApi> {
  return createRuntime({
    gpu: await c.env.gpu(),
    model: c.env.bertModel,
    split: await c.split(),
    tokenBudget: c.opts.tokenBudget,
    maxQueue: Math.max(4096, c.opts.requests),
    store: new MemoryTenantStore(),
    // In memory in both environments: a built table stays resident in this process either way.
    plotStore: new PlotStore(new MemoryChunkStore()),
  });
}

/** Pipelines compiled and adapters paged in: one short request per tenant, then real lengths on other texts. */
export async function warmUp(c: BenchContext, rt: HmiRuntimeApi, prefix: string, full: boolean): Promise<void> {
  await Promise.all(Array.from({ length: TENANTS }, (_, i) => rt.classify(`${prefix}${i}`, [1, 2, 3, 4])));
  if (!full) return;
  const { config } = await c.hostModel();
  const texts = makeTexts({ count: WARMUP_TEXTS, vocabSize: config.vocabSize, minTokens: c.opts.minTokens, maxTokens: c.opts.maxTokens, seed: c.opts.seed ^ 0x9107 });
  await Promise.all(texts.map((ids, k) => rt.classify(`${prefix}${k % TENANTS}`, ids)));
}

/** The runtime of plotSpeedup (and plotInherit): domain WARM's PLOT built from the workload's texts. */
export function warmPlot(c: BenchContext): Promise<Plot> {
  return c.shared(
    'plot-speedup',
    async () => {
      const t0 = Date.now();
      const rt = await newRuntime(c);
      const cold = await newRuntime(c);
      const corpus = (await Promise.all(Array.from({ length: c.opts.slices }, (_, k) => plotRequests(c, k)))).flat().map((r) => r.ids);
      // A budget of one entry per corpus token holds every distinct tri-gram: the table is complete.
      await rt.domains.add({ id: WARM, budgetEntries: corpus.reduce((n, ids) => n + ids.length, 0) });
      const report = await rt.domains.build(WARM, corpus);
      await rt.tenants.addSynthetic({ count: TENANTS, prefix: 'flat-' });
      await rt.tenants.addSynthetic({ count: TENANTS, prefix: 'warm-', domains: [WARM] });
      await warmUp(c, rt, 'flat-', true);
      await warmUp(c, rt, 'warm-', true);
      await cold.domains.add({ id: 'cold-warmup' });
      await cold.tenants.addSynthetic({ count: TENANTS, prefix: 'coldwarm-', domains: ['cold-warmup'] });
      await warmUp(c, cold, 'coldwarm-', true);
      c.env.log(
        `plotSpeedup: PLOT of ${WARM} built from ${report.sequences} texts (${report.distinct} distinct tri-grams, ${report.entries} entries, ${(report.bytes / 2 ** 20).toFixed(1)} MiB); ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      return { rt, cold, counts: { warm: { hits: 0, lookups: 0 }, cold: { hits: 0, lookups: 0 } } };
    },
    async (p) => {
      await p.rt.dispose();
      await p.cold.dispose();
    },
  );
}

export function serveAs(rt: HmiRuntimeApi, prefix: string, reqs: readonly Request[]): Promise<Sample> {
  return timed(async () => {
    await Promise.all(reqs.map((r) => rt.classify(`${prefix}${r.tenant}`, r.ids)));
    return { requests: reqs.length, tokens: reqs.reduce((n, r) => n + r.ids.length, 0) };
  });
}

/** Times `pass` and adds the node's lookups and hits during it to `into`. */
export async function counted(rt: HmiRuntimeApi, node: string, into: Counts, pass: () => Promise<void>): Promise<void> {
  const before = await countsOf(rt, node);
  await pass();
  const after = await countsOf(rt, node);
  into.hits += after.hits - before.hits;
  into.lookups += after.lookups - before.lookups;
}

export const rate = (k: Counts): number | null => (k.lookups > 0 ? k.hits / k.lookups : null);

/**
 * hBERT with S = half the layers: the same requests of the same tenants served (a) without a
 * domain (every layer computed), (b) as tenants of a domain whose PLOT was built from the
 * workload's texts (warm: only the upper layers run) and (c) as tenants of a fresh domain with
 * an empty PLOT, on its first pass (cold: every tri-gram window computed through the lower
 * layers and inserted). One fresh cold domain (and its 50 tenants, adapters paged in before
 * the clock) per slice.
 */
export const plotSpeedup: Scenario = {
  name: 'plotSpeedup',
  async run(c) {
    const p = await warmPlot(c);
    const reqs = await plotRequests(c, c.slice);
    await c.m.sample('plot:flat', () => serveAs(p.rt, 'flat-', reqs));
    await counted(p.rt, WARM, p.counts.warm, () => c.m.sample('plot:warm', () => serveAs(p.rt, 'warm-', reqs)));
    const domain = `cold-${c.slice}`;
    const prefix = `cold${c.slice}-`;
    await p.cold.domains.add({ id: domain });
    await p.cold.tenants.addSynthetic({ count: TENANTS, prefix, domains: [domain] });
    await warmUp(c, p.cold, prefix, false);
    // Cold is the slowest pass and reports no target: half the slice measures its rate.
    const coldReqs = reqs.slice(0, Math.ceil(reqs.length / 2));
    await counted(p.cold, domain, p.counts.cold, () => c.m.sample('plot:cold', () => serveAs(p.cold, prefix, coldReqs)));
  },
  async report(c) {
    c.results.plotSpeedup.warm = c.m.ratio('plot:warm', 'plot:flat');
    c.results.plotSpeedup.cold = c.m.ratio('plot:cold', 'plot:flat');
    const { counts } = await warmPlot(c);
    const warm = rate(counts.warm);
    const cold = rate(counts.cold);
    c.results.runtimes.plotSpeedup = {
      tenants: TENANTS,
      split: await c.split(),
      warmHitRate: warm ?? Number.NaN,
      coldHitRate: cold ?? Number.NaN,
      warmLookups: counts.warm.lookups,
      coldLookups: counts.cold.lookups,
    };
    c.results.notes.push(
      `plotSpeedup: hBERT, S = ${await c.split()} of ${(await c.hostModel()).config.numLayers} layers, ${TENANTS} tenants (the same synthetic adapters, LoRA on layers >= S) with the common workload's texts (the first ${PER_SLICE} requests of each slice), balanced; flat = no domain (all layers), warm = a domain whose PLOT was built from the same texts (hit rate ${warm?.toFixed(3) ?? 'n/a'}), cold = a fresh empty domain per slice on its first pass over the first half of the slice's requests (hit rate ${cold?.toFixed(3) ?? 'n/a'}; misses computed as 3-token windows through the lower layers and inserted), in a runtime of its own so its GPU cache holds nothing the warm pass loaded. PLOT tables in memory (MemoryChunkStore), default plotCacheSlots.`,
    );
  },
};
