import type { LoraAdapter } from '../../src/formats/types.js';
import type { ModelConfig } from '../../src/formats/model-config.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';

/** LoRA multiply-adds per token of an adapter: r * (in + out) per adapted projection. */
export function loraMacsPerToken(adapter: LoraAdapter): number {
  let n = 0;
  for (const m of adapter.modules.values()) n += m.r * (m.inDim + m.outDim);
  return n;
}

/** Period of the synthetic rank/target/label mix (ranks cycle by 4, targets by 32 index bits, labels by 3). */
export const SYNTHETIC_PERIOD = 96;

/**
 * The synthetic tenant whose LoRA cost per token is closest to the mean of the population's
 * mix. The 1-tenant reference must be a typical tenant: tenant 0 has the cheapest adapter of
 * the mix (rank 2 on one target), which would charge every multi-tenant run for its tenants'
 * larger adapters as if that were a cost of serving many tenants.
 */
export function representativeTenant(config: ModelConfig, split: number): number {
  const macs = Array.from({ length: SYNTHETIC_PERIOD }, (_, i) => loraMacsPerToken(syntheticTenant(config, split, i, { count: SYNTHETIC_PERIOD }).adapter));
  const mean = macs.reduce((a, b) => a + b, 0) / macs.length;
  let best = 0;
  for (let i = 1; i < macs.length; i++) if (Math.abs(macs[i] - mean) < Math.abs(macs[best] - mean)) best = i;
  return best;
}
