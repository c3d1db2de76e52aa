import type { BenchContext } from '../lib/context.js';
import type { Scenario } from '../lib/scenario.js';
import { syntheticDomainAdapter } from '../../src/runtime/synthetic-tenants.js';
import { counted, plotRequests, rate, serveAs, TENANTS, WARM, warmPlot, warmUp, type Counts } from './plot-speedup.js';

/** Two children of plotSpeedup's warm domain, both running the same domain-adapted lower layers. */
const INHERIT = 'dapt-inherit';
const EXACT = 'dapt-exact';
/** Requests timed per slice and policy: exact computes every window, so a sample measures its rate. */
const SAMPLE = 40;
/** Texts of the deviation measurement (report time, once). */
const DEVIATION_TEXTS = 64;

interface Inherit {
  readonly counts: { readonly inherit: Counts; readonly exact: Counts };
}

/**
 * The nodes and tenants, in plotSpeedup's runtime: a domain with its own lower layers (a
 * rank-8 LoRA below the split, as domain-adaptive pre-training leaves) and no PLOT of its
 * own yet, once with policy inherit (its misses served from the parent's warm table) and once
 * exact (computed through its own lower layers).
 */
function inheritSetup(c: BenchContext): Promise<Inherit> {
  return c.shared(
    'plot-inherit',
    async () => {
      const p = await warmPlot(c);
      const lowerAdapter = syntheticDomainAdapter((await c.hostModel()).config, await c.split(), { seed: 7 });
      await p.rt.domains.add({ id: INHERIT, parent: WARM, lowerAdapter, policy: 'inherit' });
      await p.rt.domains.add({ id: EXACT, parent: WARM, lowerAdapter, policy: 'exact' });
      await p.rt.tenants.addSynthetic({ count: TENANTS, prefix: 'inh-', domains: [INHERIT] });
      await p.rt.tenants.addSynthetic({ count: TENANTS, prefix: 'exa-', domains: [EXACT] });
      await warmUp(c, p.rt, 'inh-', false);
      await warmUp(c, p.rt, 'exa-', false);
      return { counts: { inherit: { hits: 0, lookups: 0 }, exact: { hits: 0, lookups: 0 } } };
    },
    () => undefined,
  );
}

/**
 * What policy inherit buys and costs for a domain with its own lower layers whose PLOT is
 * not built yet: throughput inherit / exact on the same requests, and inherit's deviation
 * from exact in the split-layer states (runtime.domains.deviation).
 */
export const plotInherit: Scenario = {
  name: 'plotInherit',
  async run(c) {
    const p = await warmPlot(c);
    const s = await inheritSetup(c);
    const reqs = (await plotRequests(c, c.slice)).slice(0, SAMPLE);
    await counted(p.rt, INHERIT, s.counts.inherit, () => c.m.sample('plot:inherit', () => serveAs(p.rt, 'inh-', reqs)));
    await counted(p.rt, EXACT, s.counts.exact, () => c.m.sample('plot:exact', () => serveAs(p.rt, 'exa-', reqs)));
  },
  async report(c) {
    const p = await warmPlot(c);
    const s = await inheritSetup(c);
    const texts = (await plotRequests(c, 0)).slice(0, DEVIATION_TEXTS).map((r) => r.ids);
    const dev = await p.rt.domains.deviation(INHERIT, texts);
    c.results.plotInherit = {
      speedup: c.m.ratio('plot:inherit', 'plot:exact'),
      meanCosine: dev.meanCosine,
      maxAbsDiff: dev.maxAbsDiff,
      rows: dev.rows,
      inheritedRows: dev.inheritedRows,
      inheritHitRate: rate(s.counts.inherit),
      exactHitRate: rate(s.counts.exact),
    };
    c.results.notes.push(
      `plotInherit: two children of ${WARM} running the same own lower layers (a rank-8 LoRA on every target below S = ${await c.split()}, as domain-adaptive pre-training leaves), no PLOT of their own; ${TENANTS} tenants each (the plotSpeedup adapters), the first ${SAMPLE} requests of each slice. inherit takes ${WARM}'s entries (hit rate ${rate(s.counts.inherit)?.toFixed(3) ?? 'n/a'}), exact computes every window through the domain's layers (hit rate ${rate(s.counts.exact)?.toFixed(3) ?? 'n/a'}). Deviation: runtime.domains.deviation('${INHERIT}', ${texts.length} workload texts): ${dev.rows} split-layer rows, ${dev.inheritedRows} of them inherited, mean cosine ${dev.meanCosine.toFixed(4)}, max |diff| ${dev.maxAbsDiff.toExponential(2)}.`,
    );
  },
};
