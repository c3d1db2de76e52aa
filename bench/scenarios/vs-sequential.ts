import { measureSequential } from '../lib/baselines.js';
import type { Scenario } from '../lib/scenario.js';
import { measureOurs } from '../lib/serving.js';

/** Batched runtime / one tenant at a time with the same kernels (SingleAdapterLora + BertModel.forward). */
export const vsSequential: Scenario = {
  name: 'vsSequential',
  async run(c) {
    for (const n of c.opts.sequentialTenants) {
      await measureOurs(c, n);
      await measureSequential(c, n);
    }
  },
  async report(c) {
    for (const n of c.opts.sequentialTenants) c.results.vsSequential[String(n)] = c.m.ratio(`ours:${n}`, `sequential:${n}`);
  },
};
