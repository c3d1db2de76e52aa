/**
 * Phase 1 of an hPLM batch: the hidden state after layer S-1 of every row, assembled from
 * PLOT entries. `prefetch` does the CPU and I/O part (keys, lookups walking the domain tree,
 * chunk loads, computing misses in one batched pass per lower-weights scope, uploads into
 * the GPU cache, pinning) so the runtime can overlap it with the previous batch's GPU work;
 * `encode` then adds one dispatch: plot_combine (hBERT) or a row gather (hGPT).
 *
 * Call `release(prepared)` after the submit that carries `encode`: queue writes made after
 * that submit are ordered after it, so unpinned slots may then be reused safely.
 */
import { allocBuffer, writeBuffer } from '../../gpu/buffers.js';
import { run, type BufferRef } from '../../gpu/dispatch.js';
import type { GpuContext } from '../../gpu/device.js';
import { ShapeError } from '../../errors.js';
import { encodeGatherRows } from '../../kernels/gather-rows.js';
import { encodePlotCombine, packCombineMeta } from '../../kernels/plot-combine.js';
import type { DomainKnowledge } from './domain-knowledge.js';
import type { LayerNormWeights, MissPolicy } from './domain-tree.js';
import { PlotCacheFullError, UnknownDomainError } from './errors.js';
import { PlotCache } from './plot-cache.js';
import { bertKeys, gptKeys, windowsOf, type TrigramKey } from './trigram.js';

export type { MissPolicy } from './domain-tree.js';

export interface PrefetchOptions {
  /** Overrides every node's policy for this batch (a deviation measurement compares both). */
  readonly policy?: MissPolicy;
  /**
   * false for a measurement rather than traffic: the lookups neither feed the nodes'
   * frequency counters (what rebuilds rank by) nor the hit statistics. Default true.
   */
  readonly record?: boolean;
}

export interface PlotSequence {
  readonly ids: readonly number[];
  /** The tenant's domain node. */
  readonly domain: string;
  /** hGPT: ids before `ids` (already in the KV cache); the last two complete the first keys. */
  readonly context?: readonly number[];
}

export type HitLevel = 'gpu' | 'table' | 'ancestor' | 'computed';

export interface AssemblerStats {
  lookups: number;
  gpu: number;
  table: number;
  ancestor: number;
  computed: number;
  /** Bytes written to the GPU: cache entries and per-batch row metadata. */
  bytesUploaded: number;
}

export interface BertAssembly {
  readonly family: 'bert';
  readonly padTokenId: number;
  readonly eps: number;
  /** position_embeddings [posRows, H]. */
  readonly positions: BufferRef;
  readonly posRows: number;
  /** token_type_embeddings; its first H floats (type 0) are read. */
  readonly typeRow: BufferRef;
  /** encoder.layer.{S-1}.output.LayerNorm (embeddings.LayerNorm when S = 0). */
  readonly defaultLn: LayerNormWeights;
}

export interface GptAssembly {
  readonly family: 'gpt2';
  readonly eosTokenId: number;
}

export interface AssemblerOptions {
  readonly domain: DomainKnowledge;
  readonly cache: PlotCache;
  readonly model: BertAssembly | GptAssembly;
}

/** A batch whose entries are resident and pinned in the GPU cache, ready to encode. */
export interface PreparedBatch {
  readonly rows: number;
  readonly lengths: readonly number[];
  /** Cache slot of each row's entry. */
  readonly slots: Uint32Array;
  /** Where each row's entry came from. */
  readonly levels: readonly HitLevel[];
  /** Rows served from another lower-weights scope than their node's (inherit only): approximate. */
  readonly foreignRows: number;
  /** hBERT: rowMeta [rows, 4] and the batch's LN sets; hGPT: slot per row. */
  readonly buffers: readonly GPUBuffer[];
  readonly numLn: number;
  /** Cache slots pinned for this batch (one per distinct entry). */
  readonly pins: readonly number[];
  released: boolean;
}

interface Source {
  readonly scope: string;
  readonly level: HitLevel;
  /** The node whose table holds the value (table / ancestor levels). */
  readonly node?: string;
}

export class PlotAssembler {
  readonly domain: DomainKnowledge;
  readonly cache: PlotCache;
  readonly model: BertAssembly | GptAssembly;
  readonly stats: AssemblerStats = { lookups: 0, gpu: 0, table: 0, ancestor: 0, computed: 0, bytesUploaded: 0 };
  private readonly hidden: number;
  /** Unknown domains already reported. */
  private readonly unknown = new Set<string>();

  constructor(
    readonly ctx: GpuContext,
    o: AssemblerOptions,
  ) {
    this.domain = o.domain;
    this.cache = o.cache;
    this.model = o.model;
    const layout = o.domain.layout;
    this.hidden = layout.hidden;
    if (layout.family !== o.model.family) throw new ShapeError(`PLOT layout is ${layout.family}, the model ${o.model.family}`);
    if (o.cache.width !== layout.width) throw new ShapeError(`PLOT cache slots hold ${o.cache.width} floats, entries have ${layout.width}`);
    if (o.model.family === 'gpt2' && o.cache.dtype !== 'f32') throw new ShapeError('the hGPT gather reads an f32 PLOT cache');
    if (o.model.family === 'bert' && o.model.defaultLn.gamma.length !== this.hidden) {
      throw new ShapeError(`default LayerNorm has ${o.model.defaultLn.gamma.length} weights, H is ${this.hidden}`);
    }
  }

  /** Lookups that did not compute, over all lookups. */
  get hitRate(): number {
    return this.stats.lookups > 0 ? 1 - this.stats.computed / this.stats.lookups : 0;
  }

  /**
   * The tenant's node. An unknown domain (removed since the tenant registered) is recorded
   * once and served by the root's lower layers, the base model's, rather than failing.
   */
  private nodeOf(domain: string): string {
    if (this.domain.tree.has(domain)) return domain;
    if (!this.unknown.has(domain)) {
      this.unknown.add(domain);
      this.domain.record(new UnknownDomainError(domain));
    }
    return this.domain.tree.root;
  }

  private keysOf(seq: PlotSequence): TrigramKey[] {
    if (this.model.family === 'bert') {
      if (seq.context && seq.context.length > 0) throw new ShapeError('hBERT sequences take no context');
      return bertKeys(seq.ids, this.model.padTokenId);
    }
    return gptKeys(seq.ids, this.model.eosTokenId, seq.context);
  }

  /** Where the entry of `key` for `node` is served from under the policy, without I/O. */
  private resolve(node: string, key: TrigramKey, policy: MissPolicy): Source {
    const tree = this.domain.tree;
    const own = tree.scope(node);
    for (const m of tree.chain(node)) {
      const scope = tree.scope(m);
      // An ancestor with other lower weights holds other values: exact must not use them.
      if (policy === 'exact' && scope !== own) continue;
      if (this.cache.has(scope, key)) return { scope, level: 'gpu' };
      if (this.domain.table(m).has(key)) return { scope, level: m === node ? 'table' : 'ancestor', node: m };
    }
    return { scope: own, level: 'computed' };
  }

  async prefetch(seqs: readonly PlotSequence[], options: PrefetchOptions = {}): Promise<PreparedBatch> {
    const record = options.record ?? true;
    if (seqs.length === 0) throw new ShapeError('PLOT assembly of an empty batch');
    const nodes = seqs.map((s) => this.nodeOf(s.domain));
    const keys = seqs.map((s) => this.keysOf(s));
    if (keys.some((k) => k.length === 0)) throw new ShapeError('PLOT assembly of an empty sequence');
    const m = this.model;
    if (m.family === 'bert' && seqs.some((s) => s.ids.length > m.posRows)) {
      throw new ShapeError(`a sequence is longer than the ${m.posRows} position embeddings`);
    }
    await this.domain.ensureOpen(nodes.flatMap((n) => this.domain.tree.chain(n)));
    if (record) seqs.forEach((_, i) => this.domain.observe(nodes[i], keys[i]));
    const policies = new Map(nodes.map((n) => [n, options.policy ?? this.domain.policyOf(n)]));

    // Distinct (node, key) pairs, resolved; table loads that fail (corrupt chunk) drop
    // their keys, so resolving again walks on to the next source.
    const wanted = new Map<string, { node: string; key: TrigramKey }>();
    seqs.forEach((_, i) => keys[i].forEach((key) => wanted.set(`${nodes[i]}|${key}`, { node: nodes[i], key })));
    const sources = new Map<string, Source>();
    const slotOf = new Map<string, number>();
    const pinned: number[] = [];
    try {
      let pending = [...wanted.keys()];
      while (pending.length > 0) {
        const loads = new Map<string, TrigramKey[]>();
        for (const id of pending) {
          const { node, key } = wanted.get(id)!;
          const src = this.resolve(node, key, policies.get(node)!);
          sources.set(id, src);
          if (src.level === 'gpu') {
            // Pinned at once: the awaits below (and concurrent prefetches) cannot evict it.
            const slot = this.cache.lookup(src.scope, key)!;
            this.cache.pin(slot);
            pinned.push(slot);
            slotOf.set(id, slot);
          }
          if (src.node !== undefined) loads.set(src.node, [...(loads.get(src.node) ?? []), key]);
        }
        await Promise.all([...loads].map(([node, ks]) => this.domain.loadValues(node, ks)));
        pending = pending.filter((id) => {
          const src = sources.get(id)!;
          return src.node !== undefined && this.domain.table(src.node).get(wanted.get(id)!.key) === undefined;
        });
      }

      const needed = new Set([...sources].map(([id, src]) => `${src.scope}|${wanted.get(id)!.key}`)).size;
      if (needed > this.cache.slots) throw new PlotCacheFullError(needed, this.cache.slots);
      // Inserted and pinned together: no entry of the batch evicts another, adjacent slots go up in one write.
      const upload = (ids: readonly string[], value: (id: string) => Float32Array): void => {
        const slots = this.cache.insertMany(ids.map((id) => ({ scope: sources.get(id)!.scope, key: wanted.get(id)!.key, value: value(id) })));
        ids.forEach((id, i) => {
          this.cache.pin(slots[i]);
          pinned.push(slots[i]);
          slotOf.set(id, slots[i]);
        });
        this.stats.bytesUploaded += ids.length * PlotCache.slotBytes(this.cache.width, this.cache.dtype);
      };
      // Table values first, with no await since they were checked resident.
      const fromTables = [...sources].filter(([id, src]) => src.node !== undefined && !slotOf.has(id)).map(([id]) => id);
      upload(fromTables, (id) => this.domain.table(sources.get(id)!.node!).get(wanted.get(id)!.key)!);
      const computed = await this.computeMisses(wanted, sources);
      const misses = [...sources].filter(([, src]) => src.level === 'computed').map(([id]) => id);
      upload(misses, (id) => computed.get(`${sources.get(id)!.scope}|${wanted.get(id)!.key}`)!);

      const rows = keys.reduce((a, k) => a + k.length, 0);
      const slots = new Uint32Array(rows);
      const levels: HitLevel[] = [];
      let foreignRows = 0;
      let r = 0;
      seqs.forEach((_, i) => {
        let hits = 0;
        const own = this.domain.tree.scope(nodes[i]);
        for (const key of keys[i]) {
          const id = `${nodes[i]}|${key}`;
          slots[r++] = slotOf.get(id)!;
          const { level, scope } = sources.get(id)!;
          if (scope !== own) foreignRows++;
          levels.push(level);
          if (record) this.stats[level]++;
          if (level !== 'computed') hits++;
        }
        if (!record) return;
        this.stats.lookups += keys[i].length;
        this.domain.countLookups(nodes[i], keys[i].length, hits);
      });
      const lengths = keys.map((k) => k.length);
      const { buffers, numLn } = await this.rowBuffers(nodes, lengths, slots);
      return { rows, lengths, slots, levels, foreignRows, buffers, numLn, pins: pinned, released: false };
    } catch (e) {
      for (const slot of pinned) this.cache.unpin(slot);
      throw e;
    }
  }

  /** Every miss of one lower-weights scope goes through its lower layers in one batched pass. */
  private async computeMisses(
    wanted: Map<string, { node: string; key: TrigramKey }>,
    sources: Map<string, Source>,
  ): Promise<Map<string, Float32Array>> {
    const byScope = new Map<string, { node: string; keys: Set<TrigramKey> }>();
    for (const [id, src] of sources) {
      if (src.level !== 'computed') continue;
      const { node, key } = wanted.get(id)!;
      const group = byScope.get(src.scope) ?? { node, keys: new Set<TrigramKey>() };
      group.keys.add(key);
      byScope.set(src.scope, group);
    }
    const width = this.domain.layout.width;
    const computed = new Map<string, Float32Array>();
    await Promise.all(
      [...byScope].map(async ([scope, { node, keys }]) => {
        const list = [...keys];
        const out = await this.domain.computeWindows(node, windowsOf(list));
        if (out.length !== list.length * width) {
          throw new ShapeError(`computeWindows returned ${out.length} values for ${list.length} windows of ${width}`);
        }
        list.forEach((k, i) => computed.set(`${scope}|${k}`, out.subarray(i * width, (i + 1) * width)));
      }),
    );
    return computed;
  }

  private async rowBuffers(nodes: readonly string[], lengths: readonly number[], slots: Uint32Array): Promise<{ buffers: GPUBuffer[]; numLn: number }> {
    if (this.model.family === 'gpt2') {
      const idx = await allocBuffer(this.ctx, slots.byteLength, 'plot-rows');
      writeBuffer(this.ctx, idx, slots);
      this.stats.bytesUploaded += slots.byteLength;
      return { buffers: [idx], numLn: 1 };
    }
    // The batch's LayerNorm sets: the default first, then each distinct domain LN in use.
    const defaultLn = this.model.defaultLn;
    const sets: LayerNormWeights[] = [defaultLn];
    const lnOf = nodes.map((n) => {
      const ln = this.domain.tree.layerNorm(n) ?? defaultLn;
      if (ln.gamma.length !== this.hidden) throw new ShapeError(`LayerNorm of domain ${n} has ${ln.gamma.length} weights, H is ${this.hidden}`);
      let i = sets.indexOf(ln);
      if (i < 0) i = sets.push(ln) - 1;
      return i;
    });
    const H = this.hidden;
    const ln = new Float32Array(sets.length * 2 * H);
    sets.forEach((s, i) => {
      ln.set(s.gamma, i * 2 * H);
      ln.set(s.beta, i * 2 * H + H);
    });
    const meta = packCombineMeta(lengths, slots, lnOf);
    const [gm, gl] = await Promise.all([allocBuffer(this.ctx, meta.byteLength, 'plot-meta'), allocBuffer(this.ctx, ln.byteLength, 'plot-ln')]);
    writeBuffer(this.ctx, gm, meta);
    writeBuffer(this.ctx, gl, ln);
    this.stats.bytesUploaded += meta.byteLength + ln.byteLength;
    return { buffers: [gm, gl], numLn: sets.length };
  }

  /** Adds phase 1 of the prepared batch to a pass: out [rows, H]. */
  encode(pass: GPUComputePassEncoder, batch: PreparedBatch, out: BufferRef): void {
    if (batch.released) throw new ShapeError('this prepared PLOT batch was released');
    const H = this.hidden;
    if (this.model.family === 'gpt2') {
      encodeGatherRows(this.ctx, pass, { src: this.cache.buffer, rowIdx: batch.buffers[0], dst: out, rows: batch.rows, dim: H, srcRows: this.cache.slots });
      return;
    }
    const m = this.model;
    encodePlotCombine(this.ctx, pass, {
      values: this.cache.buffer,
      dtype: this.cache.dtype,
      slots: this.cache.slots,
      meta: batch.buffers[0],
      pos: m.positions,
      posRows: m.posRows,
      typeRow: m.typeRow,
      ln: batch.buffers[1],
      numLn: batch.numLn,
      out,
      rows: batch.rows,
      hidden: H,
      eps: m.eps,
    });
  }

  /** Unpins the batch's entries and frees its row buffers; call after the submit that read them. */
  release(batch: PreparedBatch): void {
    if (batch.released) return;
    batch.released = true;
    for (const slot of batch.pins) this.cache.unpin(slot);
    for (const b of batch.buffers) b.destroy();
  }

  /** prefetch + encode + submit + release: hidden [rows, H] in a new buffer the caller owns. */
  async assemble(seqs: readonly PlotSequence[], options: PrefetchOptions = {}): Promise<{ hidden: GPUBuffer; batch: PreparedBatch }> {
    const batch = await this.prefetch(seqs, options);
    try {
      const hidden = await allocBuffer(this.ctx, batch.rows * this.hidden * 4, 'plot-hidden');
      run(this.ctx, (pass) => this.encode(pass, batch, hidden));
      return { hidden, batch };
    } finally {
      this.release(batch);
    }
  }
}
