import type { Scenario } from '../lib/scenario.js';
import { measureOurs } from '../lib/serving.js';

/**
 * Throughput with N distinct tenants / with 1 tenant: the same requests (same texts, same
 * token counts) through the batched runtime. From smallPoolFrom tenants on, the pool holds
 * only a fraction (10%) of them and traffic is uniform, so most requests page an adapter in.
 */
export const multiTenantOverhead: Scenario = {
  name: 'multiTenantOverhead',
  async run(c) {
    for (const n of c.opts.tenantCounts) await measureOurs(c, n);
  },
  async report(c) {
    for (const n of c.opts.tenantCounts) if (n !== 1) c.results.multiTenantOverhead.classify[String(n)] = c.m.ratio(`ours:${n}`, 'ours:1');
  },
};
