/**
 * The domain level of an hPLM: the domain tree, each node's PLOT table (persisted in chunks,
 * loaded lazily), traffic counters, and the rebuild that keeps every node within budget.
 *
 * Errors never stop serving: an unreadable or mismatched PLOT leaves its node with an empty
 * table and a corrupt chunk drops its keys, so the affected lookups become misses that the
 * assembler computes. Each such error is recorded (and passed to `onError`).
 */
import { HmiError } from '../../errors.js';
import type { ProgressCallback } from '../../util/progress.js';
import { DomainTree, type DomainNodeSpec, type MissPolicy } from './domain-tree.js';
import { PlotStoreError } from './errors.js';
import { FrequencyCounter, topK } from './frequency.js';
import { PlotTable, type PlotLayout } from './plot-table.js';
import type { PlotStore } from './plot-store.js';
import { windowsOf, type TrigramKey } from './trigram.js';

export interface DomainInfo {
  readonly id: string;
  readonly parent: string | null;
  /** Nodes with equal scopes share lower-layer weights, hence PLOT values. */
  readonly scope: string;
  readonly entries: number;
  readonly budgetEntries: number;
  readonly bytes: number;
  readonly hits: number;
  readonly lookups: number;
  readonly hitRate: number;
  /** The miss policy its tenants get (its own, an ancestor's or the runtime's). */
  readonly policy: 'exact' | 'inherit';
}

/**
 * Runs windows through a node's lower layers in one batched pass: `windows` holds 3 ids per
 * window; the result is [n, 3H] (hBERT, slots 0|1|2) or [n, H] (hGPT, last slot).
 */
export type ComputeWindows = (nodeId: string, windows: Uint32Array) => Promise<Float32Array>;

export interface DomainKnowledgeOptions {
  readonly tree: DomainTree;
  readonly layout: PlotLayout;
  readonly computeWindows: ComputeWindows;
  readonly store?: PlotStore;
  /** Miss policy of nodes that set none along their chain (default 'exact'). */
  readonly policy?: MissPolicy;
  /** Fraction of every traffic count kept after a rebuild (default 0.5). */
  readonly decay?: number;
  readonly onError?: (error: HmiError) => void;
}

/** What the UI and API show of a node (the public DomainInfo). */
export type DomainNodeInfo = DomainInfo;

export interface RebuildReport {
  readonly node: string;
  readonly kept: number;
  readonly promoted: number;
  readonly dropped: number;
  readonly computed: number;
}

const MAX_ERRORS = 32;

export class DomainKnowledge {
  readonly tree: DomainTree;
  readonly layout: PlotLayout;
  readonly computeWindows: ComputeWindows;
  readonly store: PlotStore | undefined;
  private readonly decay: number;
  private readonly defaultPolicy: MissPolicy;
  private readonly onError: ((error: HmiError) => void) | undefined;
  private readonly tables = new Map<string, PlotTable>();
  private readonly counters = new Map<string, FrequencyCounter>();
  private readonly opening = new Map<string, Promise<void>>();
  private readonly chunkLoads = new Map<string, Promise<void>>();
  private readonly openFailed = new Set<string>();
  private readonly stats = new Map<string, { hits: number; lookups: number }>();
  /** The most recent errors, oldest first. */
  readonly errors: HmiError[] = [];
  errorCount = 0;

  constructor(o: DomainKnowledgeOptions) {
    this.tree = o.tree;
    this.layout = o.layout;
    this.computeWindows = o.computeWindows;
    this.store = o.store;
    this.decay = o.decay ?? 0.5;
    this.defaultPolicy = o.policy ?? 'exact';
    this.onError = o.onError;
  }

  /** Adds or replaces a node of the tree (DomainCycleError / UnknownDomainError leave it unchanged). */
  addNode(spec: DomainNodeSpec): void {
    const before = this.tree.has(spec.id) ? this.tree.scope(spec.id) : undefined;
    this.tree.add(spec);
    // New lower weights make every value of the subtree stale, in memory and in the store
    // (whose index names the old scope, so it would be refused as a mismatch anyway).
    if (before !== undefined && before !== this.tree.scope(spec.id)) {
      for (const id of this.tree.subtree(spec.id)) {
        this.tables.set(id, new PlotTable(this.layout));
        this.opening.set(id, Promise.resolve());
        this.store?.remove(id).catch((e: unknown) => this.record(e));
      }
    }
  }

  /** Removes a leaf node and what is stored for it. */
  async removeNode(id: string): Promise<void> {
    this.tree.remove(id);
    this.tables.delete(id);
    this.counters.delete(id);
    this.stats.delete(id);
    this.opening.delete(id);
    this.openFailed.delete(id);
    await this.store?.remove(id);
  }

  /** The node's table as loaded so far (empty until `open`). */
  table(id: string): PlotTable {
    this.tree.node(id);
    let t = this.tables.get(id);
    if (!t) {
      t = new PlotTable(this.layout);
      this.tables.set(id, t);
    }
    return t;
  }

  /** Swaps in a whole new table for the node (a build): lookups see the old or the new one. */
  replaceTable(id: string, table: PlotTable): void {
    this.tree.node(id);
    this.tables.set(id, table);
  }

  counter(id: string): FrequencyCounter {
    this.tree.node(id);
    let c = this.counters.get(id);
    if (!c) {
      c = new FrequencyCounter();
      this.counters.set(id, c);
    }
    return c;
  }

  /**
   * Loads the node's stored index (once). Throws PlotMismatchError / CorruptChunkError, and
   * the node then serves from an empty table; `ensureOpen` records instead of throwing.
   */
  open(id: string): Promise<void> {
    this.tree.node(id);
    let p = this.opening.get(id);
    if (!p) {
      p = this.loadIndex(id);
      this.opening.set(id, p);
    }
    return p;
  }

  private async loadIndex(id: string): Promise<void> {
    if (!this.store) return;
    const stored = await this.store.loadIndex(id, this.layout, this.tree.scope(id));
    if (stored) this.tables.set(id, stored);
  }

  /** Opens the nodes; a node that cannot be opened is recorded once and serves from an empty table. */
  async ensureOpen(ids: Iterable<string>): Promise<void> {
    await Promise.all(
      [...new Set(ids)].map((id) =>
        this.open(id).catch((e: unknown) => {
          if (this.openFailed.has(id)) return;
          this.openFailed.add(id);
          this.record(e);
        }),
      ),
    );
  }

  /** Records an error that serving works around; foreign ones (I/O, quota) become PlotStoreError. */
  record(e: unknown): void {
    const err = e instanceof HmiError ? e : new PlotStoreError(`PLOT store: ${String(e)}`, { cause: e });
    this.errorCount++;
    this.errors.push(err);
    if (this.errors.length > MAX_ERRORS) this.errors.shift();
    this.onError?.(err);
  }

  /** Makes the values of `keys` in node `id`'s table resident, loading their chunks in parallel. */
  async loadValues(id: string, keys: Iterable<TrigramKey>): Promise<void> {
    const table = this.table(id);
    const chunks = new Set<number>();
    for (const k of keys) {
      const c = table.pendingChunk(k);
      if (c !== undefined) chunks.add(c);
    }
    await Promise.all([...chunks].map((c) => this.loadChunk(id, table, c)));
  }

  private loadChunk(id: string, table: PlotTable, chunk: number): Promise<void> {
    const store = this.store;
    if (!store) return Promise.resolve();
    const name = `${id}#${table.generation}#${chunk}`;
    let p = this.chunkLoads.get(name);
    if (!p) {
      p = store.loadChunk(id, table, chunk).catch((e: unknown) => this.record(e));
      p.finally(() => this.chunkLoads.delete(name)).catch(() => undefined);
      this.chunkLoads.set(name, p);
    }
    return p;
  }

  /** Counts looked-up keys at the tenant's node: what rebuilds rank by. */
  observe(id: string, keys: Iterable<TrigramKey>): void {
    this.counter(id).observe(keys);
  }

  /** Per-node lookup statistics (a hit is any lookup not computed on the fly). */
  countLookups(id: string, lookups: number, hits: number): void {
    const s = this.stats.get(id) ?? { hits: 0, lookups: 0 };
    s.hits += hits;
    s.lookups += lookups;
    this.stats.set(id, s);
  }

  /** The miss policy the node's tenants get: its own or its nearest ancestor's, else the default. */
  policyOf(id: string): MissPolicy {
    return this.tree.policy(id) ?? this.defaultPolicy;
  }

  describe(): DomainNodeInfo[] {
    return this.tree.ids().map((id) => {
      const n = this.tree.node(id);
      const t = this.tables.get(id);
      const s = this.stats.get(id) ?? { hits: 0, lookups: 0 };
      return {
        id,
        parent: n.parent,
        scope: this.tree.scope(id),
        entries: t?.size ?? 0,
        budgetEntries: n.budgetEntries,
        bytes: t?.bytes ?? 0,
        hits: s.hits,
        lookups: s.lookups,
        hitRate: s.lookups > 0 ? s.hits / s.lookups : 0,
        policy: this.policyOf(id),
      };
    });
  }

  /**
   * Re-selects the entries of `nodeId`'s subtree (the whole tree when omitted), parents
   * first. A node's score for a key is its own traffic plus that of descendants sharing its
   * lower weights (their exact lookups end at it); it keeps its top `budgetEntries` keys among
   * those no same-weights ancestor holds, computes the hot ones it lacks in one batch, drops
   * the rest, and persists. Values are computed before the table changes, so lookups during
   * a rebuild see either the old or the new table, and a dropped key is just a miss.
   */
  async rebuild(nodeId?: string, onProgress?: ProgressCallback): Promise<RebuildReport[]> {
    const ids = nodeId === undefined ? this.tree.ids() : this.tree.subtree(nodeId);
    await this.ensureOpen(this.tree.ids());
    const reports: RebuildReport[] = [];
    for (const [i, id] of ids.entries()) {
      onProgress?.({ phase: `rebuild ${id}`, done: i, total: ids.length });
      reports.push(await this.rebuildNode(id));
    }
    for (const id of ids) this.counters.get(id)?.decay(this.decay);
    onProgress?.({ phase: 'rebuild', done: ids.length, total: ids.length });
    return reports;
  }

  private scores(id: string): Map<TrigramKey, number> {
    const scope = this.tree.scope(id);
    const out = new Map<TrigramKey, number>();
    for (const d of this.tree.subtree(id)) {
      if (this.tree.scope(d) !== scope) continue;
      const c = this.counters.get(d);
      if (!c) continue;
      for (const [k, n] of c.entries()) out.set(k, (out.get(k) ?? 0) + n);
    }
    return out;
  }

  /** Keys a same-weights ancestor of `id` holds: storing them again at `id` would duplicate them. */
  private heldAbove(id: string): (key: TrigramKey) => boolean {
    const scope = this.tree.scope(id);
    const above = this.tree
      .chain(id)
      .slice(1)
      .filter((a) => this.tree.scope(a) === scope)
      .map((a) => this.table(a));
    return (key) => above.some((t) => t.has(key));
  }

  private async rebuildNode(id: string): Promise<RebuildReport> {
    const table = this.table(id);
    const held = this.heldAbove(id);
    const scores = this.scores(id);
    for (const k of [...scores.keys()]) if (held(k)) scores.delete(k);
    const wanted = new Set(topK(scores, this.tree.node(id).budgetEntries));
    const dropped = [...table.keys()].filter((k) => !wanted.has(k));
    const missing = [...wanted].filter((k) => !table.has(k));

    // Promote: reuse a resident value of a node with the same weights, else compute.
    const scope = this.tree.scope(id);
    const peers = this.tree.ids().filter((p) => p !== id && this.tree.scope(p) === scope);
    const values = new Map<TrigramKey, Float32Array>();
    const toCompute: TrigramKey[] = [];
    for (const k of missing) {
      let v: Float32Array | undefined;
      for (const p of peers) {
        v = this.tables.get(p)?.get(k);
        if (v) break;
      }
      if (v) values.set(k, v);
      else toCompute.push(k);
    }
    if (toCompute.length > 0) {
      const out = await this.computeWindows(id, windowsOf(toCompute));
      const w = this.layout.width;
      toCompute.forEach((k, i) => values.set(k, out.subarray(i * w, (i + 1) * w)));
    }

    for (const k of dropped) table.delete(k);
    for (const [k, v] of values) table.set(k, v);
    if (this.store && (dropped.length > 0 || values.size > 0)) {
      try {
        for (const e of await this.store.save(id, table, this.tree.scope(id))) this.record(e);
      } catch (e) {
        this.record(e);
      }
    }
    return { node: id, kept: table.size - values.size, promoted: values.size, dropped: dropped.length, computed: toCompute.length };
  }
}
