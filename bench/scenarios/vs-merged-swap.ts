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
    for (const n of c.opts.mergedTenants) c.results.vsMergedSwap[String(n)] = c.m.ratio(`ours:${n}`, `merged:${n}`);
  },
};
