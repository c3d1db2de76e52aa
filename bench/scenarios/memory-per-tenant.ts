import { fullModelBytes } from '../lib/baselines.js';
import type { Scenario } from '../lib/scenario.js';
import { serving, specFor } from '../lib/serving.js';

/**
 * GPU bytes per resident tenant (pool pages in use / resident tenants, for the synthetic rank
 * mix 2/4/8/16 over a varying subset of targets of the upper layers, plus the head) and its
 * ratio to one full copy of the model, which is what every tenant costs a merged-model server.
 */
export const memoryPerTenant: Scenario = {
  name: 'memoryPerTenant',
  async run(c) {
    // The all-resident runtime is warmed with one request per tenant: every tenant is resident.
    await serving(c, specFor(c, c.opts.coldTenants));
  },
  async report(c) {
    const s = await serving(c, specFor(c, c.opts.coldTenants));
    const m = await s.rt.metrics();
    const full = await fullModelBytes(c);
    const bytes = m.tenantsResident ? m.poolBytesUsed / m.tenantsResident : null;
    c.results.memoryPerTenant = { bytes, ratioToFullModel: bytes === null ? null : bytes / full, fullModelBytes: full, residentTenants: m.tenantsResident };
  },
};
