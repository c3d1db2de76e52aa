import type { Scenario } from '../lib/scenario.js';
import { measureOurs, serve, serving, type ServingSpec } from '../lib/serving.js';

const coldSpec = (tenants: number, fraction: number): ServingSpec => ({ key: `cold-${tenants}`, tenants, poolFraction: fraction, store: 'scratch' });

/**
 * Throughput with adapters cold in the platform's store (fs directory / IndexedDB, the pool
 * holding 10% of the tenants, uniform traffic) / the same requests with every adapter
 * resident; plus the runtime's own measure of how much load time overlapped GPU work.
 */
export const prefetchHidden: Scenario = {
  name: 'prefetchHidden',
  async run(c) {
    const n = c.opts.coldTenants;
    await measureOurs(c, n);
    const s = await serving(c, coldSpec(n, c.opts.smallPoolFraction));
    const reqs = c.current(await c.workload(n));
    await c.m.sample(`cold:${n}`, () => serve(s, reqs));
  },
  async report(c) {
    const n = c.opts.coldTenants;
    c.results.prefetchHidden = c.m.ratio(`cold:${n}`, `ours:${n}`);
    const s = await serving(c, coldSpec(n, c.opts.smallPoolFraction));
    c.results.prefetchHiddenFraction = (await s.rt.metrics()).prefetchHidden;
  },
};
