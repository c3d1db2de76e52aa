import type { ModelConfig } from '../formats/model-config.js';
import type { LoraAdapter } from '../formats/types.js';
import { AdapterMismatchError } from '../formats/errors.js';
import { checkAdapter } from '../model/single-lora.js';
import { packTenant, type TenantMeta } from '../knowledge/task/pack.js';
import type { TenantStore } from '../knowledge/task/store.js';
import type { ProgressCallback, SyntheticTenantsOptions, TenantInfo, TenantSpec } from './api.js';
import { InvalidInputError, UnknownTenantError } from './errors.js';
import type { Metrics } from './metrics.js';
import { syntheticTenant } from './synthetic-tenants.js';

/** What registration needs from the serving side: checks before a write, and news after one. */
export interface RegistryHooks {
  /** Throws if the adapter can never fit the GPU pool (TenantTooLargeError). */
  checkFits(id: string, adapter: LoraAdapter): void;
  /** Throws if the tenant's domain is unknown or its adapter does not suit it. */
  checkDomain(domain: string, adapter: LoraAdapter): void;
  /** The stored adapter changed or is gone: drop any GPU copy. */
  changed(id: string): void;
}

/** The registrations as the engine reads them: a tenant's metadata, and its registration generation. */
export interface Registrations {
  get(id: string): TenantMeta | undefined;
  /** Changes each time the tenant is registered again or removed. */
  generation(id: string): number;
}

export interface RegistryOptions {
  readonly config: ModelConfig;
  readonly split: number;
  readonly modelId: string;
  readonly modelHash: string;
  readonly dtype: 'f32' | 'f16';
}

const SYNTHETIC_CHUNK = 256;

/** The head tensors a tenant may carry: what the adapter pool stores per tenant (page-table.ts). */
const SERVED_HEAD = new Set(['classifier.weight', 'classifier.bias']);

/**
 * Throws AdapterMismatchError for a head tensor the batched heads would silently ignore. A
 * batch runs ONE pooler (the base model's) for all its rows and then a classifier per tenant
 * (MultiTenantLora.encodeHeads), so a tenant's own pooler (PEFT modules_to_save
 * pooler.dense) would be stored and never run, and its answers would differ from the
 * adapter's. The single-adapter path (SingleAdapterLora, `hmi infer --adapter`) does run
 * it. `hint` ends the message (the CLI names its alternative).
 */
export function checkServedHead(adapter: LoraAdapter, hint?: string): void {
  const tail = hint ? `; ${hint}` : '';
  if (adapter.head.has('pooler.dense.weight') || adapter.head.has('pooler.dense.bias')) {
    throw new AdapterMismatchError(
      'pooler.dense',
      'the multi-tenant runtime serves one shared pooler (the base model\'s) plus a per-tenant classifier, so a tenant\'s own pooler cannot be served; ' +
        `retrain the adapter with the pooler frozen (modules_to_save: classifier only) or merge its pooler into a base model of its own${tail}`,
    );
  }
  for (const name of adapter.head.keys()) {
    if (!SERVED_HEAD.has(name)) throw new AdapterMismatchError(name, `the multi-tenant runtime serves only classifier.weight and classifier.bias as a tenant's head${tail}`);
  }
}

/** Longest TenantSpec.description: a sentence or two for a dashboard, not a document. */
export const MAX_DESCRIPTION = 500;

/**
 * The tenants of a runtime: validation, persistence in the store, and the in-memory index of
 * their metadata (requests check it without touching the store). Registration and removal of
 * the same id are serialized; a quota failure registers exactly what reached the store.
 */
export class TenantRegistry implements Registrations {
  private readonly metas = new Map<string, TenantMeta>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Bumped whenever an id's registration changes, so a store read can tell it went stale. */
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly store: TenantStore,
    private readonly options: RegistryOptions,
    private readonly metrics: Metrics,
  ) {}

  /** Reads every stored tenant's metadata (at start-up). */
  async load(): Promise<void> {
    for (const m of await this.store.list()) this.metas.set(m.id, m);
  }

  get(id: string): TenantMeta | undefined {
    return this.metas.get(id);
  }

  /** Changes each time the tenant is registered again or removed. */
  generation(id: string): number {
    return this.generations.get(id) ?? 0;
  }

  private bump(id: string): void {
    this.generations.set(id, this.generation(id) + 1);
  }

  get size(): number {
    return this.metas.size;
  }

  /** Registers tenants; `synthetic` marks them as addSynthetic's (never settable through the API). */
  async add(specs: readonly TenantSpec[], hooks: RegistryHooks, onProgress?: ProgressCallback, synthetic = false): Promise<void> {
    const seen = new Set<string>();
    // Validate everything before writing anything: a bad tenant in a list stores nothing.
    const records = specs.map((spec) => {
      if (typeof spec.id !== 'string' || spec.id.length === 0 || spec.id.length > 256) throw new InvalidInputError('a tenant id must be a non-empty string of at most 256 characters');
      if (seen.has(spec.id)) throw new InvalidInputError(`tenant id "${spec.id}" appears twice in one registration`);
      seen.add(spec.id);
      const description: unknown = spec.description;
      if (description !== undefined && (typeof description !== 'string' || description.length > MAX_DESCRIPTION)) {
        throw new InvalidInputError(`tenant "${spec.id}": a description must be a string of at most ${MAX_DESCRIPTION} characters`);
      }
      checkAdapter(this.options.config, spec.adapter);
      checkServedHead(spec.adapter);
      if (spec.domain !== undefined) hooks.checkDomain(spec.domain, spec.adapter);
      hooks.checkFits(spec.id, spec.adapter);
      return packTenant(spec.id, spec.adapter, {
        baseModelId: this.options.modelId,
        baseModelHash: this.options.modelHash,
        domain: spec.domain ?? '',
        dtype: this.options.dtype,
        ...(spec.description ? { description: spec.description } : {}),
        ...(synthetic ? { synthetic } : {}),
      });
    });
    await this.withLocks([...seen], async () => {
      let stored = 0;
      try {
        await this.store.put(records, (p) => {
          stored = p.done;
          onProgress?.(p);
        });
      } finally {
        // Whatever reached the store is registered, even when a later chunk failed (quota).
        for (const r of records.slice(0, stored)) {
          this.metas.set(r.meta.id, r.meta);
          this.bump(r.meta.id);
          hooks.changed(r.meta.id);
        }
      }
    });
  }

  /** Registers `count` deterministic synthetic tenants, skipping ids already present. */
  async addSynthetic(options: SyntheticTenantsOptions, hooks: RegistryHooks, onProgress?: ProgressCallback): Promise<number> {
    const prefix = options.prefix ?? 'tenant-';
    const total = options.count;
    let added = 0;
    for (let start = 0; start < total; start += SYNTHETIC_CHUNK) {
      const specs: TenantSpec[] = [];
      for (let i = start; i < Math.min(total, start + SYNTHETIC_CHUNK); i++) {
        if (!this.metas.has(`${prefix}${i}`)) specs.push(syntheticTenant(this.options.config, this.options.split, i, options));
      }
      if (specs.length) await this.add(specs, hooks, undefined, true);
      added += specs.length;
      onProgress?.({ phase: 'tenants', done: Math.min(total, start + SYNTHETIC_CHUNK), total });
    }
    return added;
  }

  /** `removed` runs once the record is gone from the store and the index, under the id's lock. */
  async remove(id: string, removed: (id: string) => void): Promise<void> {
    await this.withLocks([id], async () => {
      if (!this.metas.has(id)) throw new UnknownTenantError(id);
      await this.store.delete(id);
      this.metas.delete(id);
      this.bump(id);
      this.metrics.forget(id);
      removed(id);
    });
  }

  list(isResident: (id: string) => boolean): TenantInfo[] {
    return [...this.metas.values()].map((m) => {
      const c = this.metrics.tenants.get(m.id);
      return {
        id: m.id,
        domain: m.domain || 'none (all layers)',
        rank: m.maxRank,
        numLabels: m.numLabels,
        bytes: m.bytes,
        residency: isResident(m.id) ? 'gpu' : 'store',
        requests: c?.requests ?? 0,
        p50Ms: c?.latency.percentile(50) ?? 0,
        p99Ms: c?.latency.percentile(99) ?? 0,
        description: m.description,
        synthetic: m.synthetic === true,
      };
    });
  }

  private async withLocks<T>(ids: readonly string[], f: () => Promise<T>): Promise<T> {
    const prior = Promise.all(ids.map((id) => this.locks.get(id)));
    const run = prior.then(f, f);
    const settled = run.catch(() => undefined);
    for (const id of ids) this.locks.set(id, settled);
    try {
      return await run;
    } finally {
      for (const id of ids) if (this.locks.get(id) === settled) this.locks.delete(id);
    }
  }
}
