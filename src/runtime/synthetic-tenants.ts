import type { LoraAdapter, LoraModule, TensorMap } from '../formats/types.js';
import type { ModelConfig } from '../formats/model-config.js';
import { loraModuleShapes } from '../model/modules.js';
import type { SyntheticTenantsOptions, TenantSpec } from './api.js';
import { Rng } from '../util/rng.js';


function fill(n: number, std: number, rnd: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rnd() * std;
  return a;
}

/** A LoRA of rank `r` on the chosen targets of layers [from, to), drawn from `rnd`. */
function syntheticModules(config: ModelConfig, from: number, to: number, r: number, pick: (target: number) => boolean, rnd: () => number): Map<string, LoraModule> {
  const shapes = loraModuleShapes(config, from, to);
  const targets = [...new Set(shapes.map((s) => s.target))];
  const chosen = new Set(targets.filter((_, t) => pick(t)));
  const modules = new Map<string, LoraModule>();
  for (const s of shapes) {
    if (!chosen.has(s.target)) continue;
    modules.set(s.path, {
      r,
      inDim: s.inDim,
      outDim: s.outDim,
      scale: 2,
      A: fill(r * s.inDim, 1 / Math.sqrt(s.inDim), rnd),
      B: fill(s.outDim * r, 0.05, rnd),
    });
  }
  return modules;
}

/**
 * Tenant i of a synthetic population: a LoRA of rank ranks[i % len] on a target subset that
 * varies with i, over the upper layers [split, L), plus (hBERT) its own classifier head.
 * B is not zero (unlike a fresh PEFT init) so tenants really compute different outputs.
 */
export function syntheticTenant(config: ModelConfig, split: number, index: number, options: SyntheticTenantsOptions): TenantSpec {
  const seed = (options.seed ?? 1) * 1_000_003 + index;
  const rng = new Rng(seed);
  const rnd = (): number => rng.normal();
  const ranks = options.ranks ?? [2, 4, 8, 16];
  const r = ranks[index % ranks.length];
  // Every tenant adapts the first target (query / c_attn); others by the bits of its index.
  const modules = syntheticModules(config, split, config.numLayers, r, (t) => t === 0 || ((index >> (t - 1)) & 1) === 1, rnd);
  const head: TensorMap = new Map();
  let labels: string[] | undefined;
  if (config.family === 'bert') {
    const n = options.numLabels ?? 2 + (index % 3);
    labels = Array.from({ length: n }, (_, k) => `label_${k}`);
    head.set('classifier.weight', { shape: [n, config.hiddenSize], data: fill(n * config.hiddenSize, 0.2, rnd) });
    head.set('classifier.bias', { shape: [n], data: fill(n, 0.1, rnd) });
  }
  const domains = options.domains;
  const adapter: LoraAdapter = labels ? { modules, head, labels } : { modules, head };
  return {
    id: `${options.prefix ?? 'tenant-'}${index}`,
    ...(domains && domains.length ? { domain: domains[index % domains.length] } : {}),
    adapter,
  };
}

/**
 * A synthetic domain's own lower layers: a LoRA of rank `r` on every target of layers
 * [0, split), as domain-adaptive pre-training would leave (DomainSpec.lowerAdapter).
 */
export function syntheticDomainAdapter(config: ModelConfig, split: number, options: { readonly seed?: number; readonly r?: number } = {}): LoraAdapter {
  const rng = new Rng(0x5eed_d0 + (options.seed ?? 1));
  return { modules: syntheticModules(config, 0, split, options.r ?? 8, () => true, () => rng.normal()), head: new Map() };
}
