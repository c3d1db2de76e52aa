/**
 * What the dashboard knows about each tenant: the runtime's TenantInfo, plus, for the tenants of
 * a trained bundle (models/index.json), what they were trained on, their label names and their
 * example inputs. Synthetic tenants (random weights, registered for load) are kept apart so every
 * list can mark them. DOM-free, so it is unit-tested in Node.
 */
import type { ClassifyResult, TenantInfo } from '../runtime/api.js';

/** A trained tenant as the bundle describes it (what the dashboard shows of a BundleTenant). */
export interface TrainedTenant {
  readonly id: string;
  readonly domain: string;
  readonly task: 'classify' | 'generate';
  /** Label names, index-aligned with the classifier's outputs; empty for generation. */
  readonly labels: readonly string[];
  readonly trainedOn: string;
  readonly examples: readonly string[];
}

export interface TenantEntry {
  readonly id: string;
  readonly domain: string;
  readonly synthetic: boolean;
  /** What the tenant knows, in a sentence: the bundle's trainedOn, else the tenant's description. */
  readonly about: string;
  readonly labels: readonly string[];
  readonly examples: readonly string[];
}

export const SYNTHETIC_ABOUT = 'Synthetic: random weights, registered for load only; its answers are random by construction.';

const byId = (a: { id: string }, b: { id: string }): number => a.id.localeCompare(b.id, 'en', { numeric: true });

export class TenantCatalog {
  private entries = new Map<string, TenantEntry>();
  private realList: TenantEntry[] = [];
  private syntheticList: string[] = [];
  private loadList: string[] = [];
  private key = '';

  /** Trained (or otherwise real) tenants, by id. */
  get real(): readonly TenantEntry[] {
    return this.realList;
  }

  /** Synthetic tenant ids, in numeric order. */
  get synthetic(): readonly string[] {
    return this.syntheticList;
  }

  /**
   * The load generator's population: the synthetic tenants first, so they are the Zipf head
   * the load is about, then the real ones in the tail (sent a request now and then).
   */
  get loadIds(): readonly string[] {
    return this.loadList;
  }

  get size(): number {
    return this.entries.size;
  }

  get(id: string): TenantEntry | undefined {
    return this.entries.get(id);
  }

  /**
   * Rebuilds the catalog from the runtime's list and the bundle's tenants; returns whether the
   * set of tenants changed (the per-tenant counters in `list` change every poll and do not count).
   * A runtime without `synthetic` on TenantInfo calls only the bundle's tenants real.
   */
  update(list: readonly TenantInfo[], trained: readonly TrainedTenant[]): boolean {
    const meta = new Map(trained.map((t) => [t.id, t]));
    const key = `${list.map((t) => `${t.id}\u0000${t.domain}`).join('\u0001')}|${trained.map((t) => t.id).join(',')}`;
    if (key === this.key) return false;
    this.key = key;
    this.entries = new Map();
    for (const t of list) {
      const m = meta.get(t.id);
      const synthetic = !m && (t.synthetic ?? true);
      this.entries.set(t.id, {
        id: t.id,
        domain: t.domain || 'general',
        synthetic,
        about: m?.trainedOn ?? t.description ?? (synthetic ? SYNTHETIC_ABOUT : ''),
        labels: m?.labels ?? [],
        examples: m?.examples ?? [],
      });
    }
    const all = [...this.entries.values()];
    this.realList = all.filter((e) => !e.synthetic).sort(byId);
    this.syntheticList = all.filter((e) => e.synthetic).sort(byId).map((e) => e.id);
    this.loadList = [...this.syntheticList, ...this.realList.map((e) => e.id)];
    return true;
  }

  /** Up to `n` tenants whose id contains `query`: real ones first, then synthetic. */
  suggest(query: string, n: number): TenantEntry[] {
    const q = query.trim().toLowerCase();
    const out: TenantEntry[] = [];
    const take = (e: TenantEntry | undefined): boolean => {
      if (e && e.id.toLowerCase().includes(q)) out.push(e);
      return out.length >= n;
    };
    for (const e of this.realList) if (take(e)) return out;
    for (const id of this.syntheticList) if (take(this.entries.get(id))) return out;
    return out;
  }
}

/**
 * The name of every score of a classification. The tenant's known label names when they fit;
 * otherwise a numbered family (`label_2`, `LABEL_2`) is continued from the one name the runtime
 * returned, and anything else falls back to Hugging Face's default `LABEL_i`, which is also what
 * the runtime answers for a label it has no name for.
 */
export function labelNames(result: Pick<ClassifyResult, 'label' | 'labelIndex' | 'scores'>, known: readonly string[]): string[] {
  const n = result.scores.length;
  if (known.length === n) return [...known];
  const numbered = /^(.*?)(\d+)$/.exec(result.label);
  const prefix = numbered && Number(numbered[2]) === result.labelIndex ? numbered[1] : null;
  return Array.from({ length: n }, (_, i) => (i === result.labelIndex ? result.label : `${prefix ?? 'LABEL_'}${i}`));
}
