/**
 * The GPU adapter pool: a fixed byte budget allocated up front as a few large storage
 * buffers, split into pages of H floats (S-LoRA unified paging, see page-table.ts). Each
 * resident tenant has a page table mapping its logical pages to physical pages of one pool
 * buffer, anywhere in it. When pages run out, unpinned tenants are evicted by LRFU (a
 * recency-decayed frequency: frequently used tenants survive a scan of one-off ones).
 * Tenants of a running batch are pinned and never evicted; the budget is never exceeded.
 *
 * A tenant lives inside one pool buffer so a kernel binds a single buffer; with the default
 * budget (at most half the binding limit) there is exactly one buffer.
 */
import type { LoraAdapter } from '../../formats/types.js';
import type { GpuContext } from '../../gpu/device.js';
import { allocBuffer, writeBuffer } from '../../gpu/buffers.js';
import { ShapeError } from '../../errors.js';
import { adapterShape, fillPages, tenantLayout, type AdapterShape, type TenantLayout } from './page-table.js';
import { PoolExhaustedError, TenantNotResidentError, TenantPinnedError, TenantTooLargeError } from './errors.js';

export interface AdapterPoolOptions {
  /** Floats per page: the model's hidden size H. */
  readonly pageFloats: number;
  /** GPU bytes for adapters; default min(256 MiB, maxStorageBufferBindingSize / 2). */
  readonly budgetBytes?: number;
  /** Largest single pool buffer; default (and at most) the device's binding and buffer limits. */
  readonly maxBufferBytes?: number;
  /**
   * LRFU decay per access (0 < lambda <= 1): an access `d` accesses ago weighs 2^(-lambda*d).
   * Near 1 behaves like LRU, near 0 like LFU. Default 0.01.
   */
  readonly lambda?: number;
}

export interface PoolStats {
  readonly bytesUsed: number;
  readonly bytesTotal: number;
  readonly bytesPinned: number;
  readonly residentTenants: number;
  readonly pinnedTenants: number;
  readonly hits: number;
  readonly misses: number;
  readonly bytesUploaded: number;
  readonly evictions: number;
}

/** What the kernels need about a resident tenant. Immutable while resident. */
export interface ResidentTenant {
  readonly id: string;
  /** Index of the pool buffer holding all its pages. */
  readonly shard: number;
  readonly layout: TenantLayout;
  /** Physical page (within its pool buffer) of each logical page. */
  readonly pages: Uint32Array;
  /** Changes every time the tenant is (re)loaded: a key for caches of its page table. */
  readonly generation: number;
  /**
   * The label names of the classifier these pages hold. Answers are named from here, not from
   * the registration, which a re-registration may already have replaced while they computed.
   */
  readonly labels?: readonly string[];
}

interface Entry extends ResidentTenant {
  readonly handle: number;
  pins: number;
  crf: number;
  last: number;
}

interface Shard {
  readonly buffer: GPUBuffer;
  readonly pages: number;
  /** Handle of the owning tenant per page, -1 when free. */
  readonly owner: Int32Array;
  free: number;
}

const DEFAULT_BUDGET = 256 * 1024 * 1024;

export class AdapterPool {
  private readonly entries = new Map<string, Entry>();
  private nextHandle = 0;
  private nextGeneration = 1;
  private tick = 0;
  private hits = 0;
  private misses = 0;
  private bytesUploaded = 0;
  private evictions = 0;
  private readonly lambda: number;

  private constructor(
    private readonly ctx: GpuContext,
    readonly pageFloats: number,
    private readonly shards: Shard[],
    lambda: number,
  ) {
    this.lambda = lambda;
  }

  /** The default budget for a device: min(256 MiB, maxStorageBufferBindingSize / 2). */
  static defaultBudget(limits: GPUSupportedLimits): number {
    return Math.min(DEFAULT_BUDGET, Math.floor(limits.maxStorageBufferBindingSize / 2));
  }

  /** Pool bytes an adapter would take with pages of H floats (check at registration). */
  static bytesNeeded(adapter: LoraAdapter | AdapterShape, pageFloats: number): number {
    const shape = adapter.modules instanceof Map ? adapterShape(adapter as LoraAdapter) : (adapter as AdapterShape);
    return tenantLayout(shape, pageFloats).numPages * pageFloats * 4;
  }

  /** Allocates every pool buffer now; nothing is allocated later. */
  static async create(ctx: GpuContext, options: AdapterPoolOptions): Promise<AdapterPool> {
    const H = options.pageFloats;
    if (!Number.isInteger(H) || H <= 0) throw new ShapeError(`pool pageFloats must be a positive integer, got ${H}`);
    const pageBytes = H * 4;
    const limit = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    const maxBuffer = Math.min(options.maxBufferBytes ?? limit, limit);
    const budget = options.budgetBytes ?? AdapterPool.defaultBudget(ctx.limits);
    const totalPages = Math.floor(budget / pageBytes);
    const pagesPerShard = Math.floor(maxBuffer / pageBytes);
    if (totalPages < 1 || pagesPerShard < 1) throw new ShapeError(`pool budget ${budget} B holds no page of ${pageBytes} B`);
    const shards: Shard[] = [];
    try {
      for (let left = totalPages, i = 0; left > 0; i++) {
        const pages = Math.min(left, pagesPerShard);
        const buffer = await allocBuffer(ctx, pages * pageBytes, `adapter-pool#${i}`);
        shards.push({ buffer, pages, owner: new Int32Array(pages).fill(-1), free: pages });
        left -= pages;
      }
    } catch (e) {
      for (const s of shards) s.buffer.destroy();
      throw e;
    }
    return new AdapterPool(ctx, H, shards, options.lambda ?? 0.01);
  }

  get pageBytes(): number {
    return this.pageFloats * 4;
  }

  get bytesTotal(): number {
    return this.shards.reduce((n, s) => n + s.pages, 0) * this.pageBytes;
  }

  /** The most one tenant can take: one pool buffer. */
  get bytesPerTenantMax(): number {
    return Math.max(...this.shards.map((s) => s.pages)) * this.pageBytes;
  }

  get numBuffers(): number {
    return this.shards.length;
  }

  buffer(shard: number): GPUBuffer {
    return this.shards[shard].buffer;
  }

  /** Throws TenantTooLargeError when a tenant can never fit, whatever is evicted. */
  checkFits(id: string, adapter: LoraAdapter | AdapterShape): void {
    const need = AdapterPool.bytesNeeded(adapter, this.pageFloats);
    if (need > this.bytesPerTenantMax) throw new TenantTooLargeError(id, need, this.bytesPerTenantMax);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The tenant's residency without counting an access. */
  resident(id: string): ResidentTenant | undefined {
    return this.entries.get(id);
  }

  /** Counts a hit (and an access) when resident, a miss otherwise. */
  lookup(id: string): ResidentTenant | undefined {
    const e = this.entries.get(id);
    if (e) {
      this.hits++;
      this.touch(e);
    } else {
      this.misses++;
    }
    return e;
  }

  isPinned(id: string): boolean {
    return (this.entries.get(id)?.pins ?? 0) > 0;
  }

  /** Pins resident tenants for a batch (counted: pin twice, unpin twice). All or none. */
  pin(ids: Iterable<string>): void {
    const list = [...ids];
    for (const id of list) if (!this.entries.has(id)) throw new TenantNotResidentError(id, 'cannot be pinned: it is not resident in the GPU adapter pool');
    for (const id of list) (this.entries.get(id) as Entry).pins++;
  }

  unpin(ids: Iterable<string>): void {
    for (const id of ids) {
      const e = this.entries.get(id);
      if (e && e.pins > 0) e.pins--;
    }
  }

  /**
   * Uploads a tenant's adapter into free pages, evicting unpinned tenants if needed. A
   * resident, unpinned tenant is replaced (a re-registered adapter). Throws
   * TenantTooLargeError if it can never fit, PoolExhaustedError if pinned tenants leave no
   * room (nothing is evicted then).
   */
  load(id: string, adapter: LoraAdapter): ResidentTenant {
    const layout = tenantLayout(adapterShape(adapter), this.pageFloats);
    const need = layout.numPages;
    const needBytes = need * this.pageBytes;
    if (needBytes > this.bytesPerTenantMax) throw new TenantTooLargeError(id, needBytes, this.bytesPerTenantMax);
    const old = this.entries.get(id);
    if (old && old.pins > 0) throw new TenantPinnedError(id, 'replace');
    const data = fillPages(adapter, layout);
    if (old) this.release(old);

    const shard = this.makeRoom(id, need);
    const s = this.shards[shard];
    const handle = this.nextHandle++;
    const pages = new Uint32Array(need);
    for (let p = 0, n = 0; n < need; p++) {
      if (s.owner[p] === -1) {
        s.owner[p] = handle;
        pages[n++] = p;
      }
    }
    s.free -= need;
    this.upload(s.buffer, pages, data);
    const entry: Entry = {
      id,
      shard,
      layout,
      pages,
      generation: this.nextGeneration++,
      ...(adapter.labels ? { labels: [...adapter.labels] } : {}),
      handle,
      pins: 0,
      crf: 0,
      last: this.tick,
    };
    this.entries.set(id, entry);
    this.touch(entry);
    return entry;
  }

  /** Drops a tenant's pages. Returns false if it was not resident. */
  evict(id: string): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    if (e.pins > 0) throw new TenantPinnedError(id, 'evict');
    this.release(e);
    this.evictions++;
    return true;
  }

  /** True when every page of the tenant's table is owned by it (checked before kernels read it). */
  ownsPages(t: ResidentTenant): boolean {
    const e = this.entries.get(t.id);
    if (!e || e.generation !== t.generation || e.shard >= this.shards.length) return false;
    const owner = this.shards[e.shard].owner;
    for (const p of t.pages) if (p >= owner.length || owner[p] !== e.handle) return false;
    return true;
  }

  stats(): PoolStats {
    let pinnedPages = 0;
    let pinned = 0;
    for (const e of this.entries.values()) {
      if (e.pins > 0) {
        pinned++;
        pinnedPages += e.pages.length;
      }
    }
    const used = this.shards.reduce((n, s) => n + s.pages - s.free, 0);
    return {
      bytesUsed: used * this.pageBytes,
      bytesTotal: this.bytesTotal,
      bytesPinned: pinnedPages * this.pageBytes,
      residentTenants: this.entries.size,
      pinnedTenants: pinned,
      hits: this.hits,
      misses: this.misses,
      bytesUploaded: this.bytesUploaded,
      evictions: this.evictions,
    };
  }

  residentIds(): string[] {
    return [...this.entries.keys()];
  }

  destroy(): void {
    for (const s of this.shards) s.buffer.destroy();
    this.entries.clear();
  }

  private touch(e: Entry): void {
    const now = ++this.tick;
    e.crf = 1 + e.crf * 2 ** (-this.lambda * (now - e.last));
    e.last = now;
  }

  /** log2 of the decayed frequency, shifted by a constant common to all tenants. */
  private score(e: Entry): number {
    return Math.log2(e.crf) + this.lambda * e.last;
  }

  private release(e: Entry): void {
    const s = this.shards[e.shard];
    for (const p of e.pages) s.owner[p] = -1;
    s.free += e.pages.length;
    this.entries.delete(e.id);
  }

  /** Returns a pool buffer with `need` free pages, evicting by LRFU among unpinned tenants. */
  private makeRoom(id: string, need: number): number {
    const unpinned = this.shards.map(() => 0);
    for (const e of this.entries.values()) if (e.pins === 0) unpinned[e.shard] += e.pages.length;
    const feasible = this.shards.map((s, i) => s.free + unpinned[i] >= need);
    if (!feasible.some(Boolean)) {
      throw new PoolExhaustedError(id, need * this.pageBytes, this.stats().bytesPinned, this.bytesTotal);
    }
    const victims = [...this.entries.values()].filter((e) => e.pins === 0 && feasible[e.shard]).sort((a, b) => this.score(a) - this.score(b));
    let v = 0;
    for (;;) {
      // Best fit: the fullest buffer that has room keeps large free runs for large tenants.
      let best = -1;
      this.shards.forEach((s, i) => {
        if (s.free >= need && (best < 0 || s.free < this.shards[best].free)) best = i;
      });
      if (best >= 0) return best;
      const victim = victims[v++];
      this.release(victim);
      this.evictions++;
    }
  }

  /** One writeBuffer per run of consecutive physical pages. */
  private upload(buffer: GPUBuffer, pages: Uint32Array, data: Float32Array): void {
    const H = this.pageFloats;
    for (let i = 0; i < pages.length; ) {
      let j = i + 1;
      while (j < pages.length && pages[j] === pages[j - 1] + 1) j++;
      writeBuffer(this.ctx, buffer, data.subarray(i * H, j * H), pages[i] * this.pageBytes);
      i = j;
    }
    this.bytesUploaded += data.byteLength;
  }
}
