import { measureMerged } from '../lib/baselines.js';
import type { Scenario } from '../lib/scenario.js';
import { measureOurs } from '../lib/serving.js';

/** Batched runtime / a merged full model per tenant, uploaded whenever the tenant changes. */
export const vsMergedSwap: Scenario = {
  name: 'vsMergedSwap',
  async run(c) {
    for (const n of c.opts.mergedTenants) {
      await measureOurs(c, n);
      await measureMerged(c, n);
    }
  },
  async report(c) {
    for (const n of c.opts.mergedTenants) {
      c.results.vsMergedSwap[String(n)] = c.m.ratio(`ours:${n}`, `merged:${n}`);
      const s = c.results.runtimes[`merged:${n}`];
      if (!s?.swaps) continue;
      const total = s.swapMs + s.forwardMs;
      c.results.notes.push(
        `vsMergedSwap ${n}: of the merged baseline's time, swapping (merged weights uploaded + model created, waited until the copies finished) took ${((100 * s.swapMs) / total).toFixed(0)}% (${(s.swapMs / s.swaps).toFixed(1)} ms per swap) and its forwards ${((100 * s.forwardMs) / total).toFixed(0)}% (${(s.forwardMs / s.swaps).toFixed(1)} ms per tenant's requests), over ${s.swaps} swaps.`,
      );
    }
  },
};
