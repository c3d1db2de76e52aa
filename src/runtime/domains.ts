import type { LoraAdapter } from '../formats/types.js';
import type { HmiTokenizer } from '../formats/tokenizer.js';
import type { ModelConfig } from '../formats/model-config.js';
import { DomainKnowledge, type ComputeWindows, type DomainNodeInfo } from '../knowledge/domain/domain-knowledge.js';
import { DomainTree, isMissPolicy, type MissPolicy } from '../knowledge/domain/domain-tree.js';
import type { PlotAssembler } from '../knowledge/domain/assembler.js';
import { combineDeviations, measureInheritDeviation, type InheritDeviation } from '../knowledge/domain/deviation.js';
import { plotLayout } from '../knowledge/domain/plot-table.js';
import { DEFAULT_PLOT_NAMESPACE, PlotStore } from '../knowledge/domain/plot-store.js';
import { DirChunkStore, IdbChunkStore, MemoryChunkStore } from '../knowledge/domain/chunk-store.js';
import { UrlChunkStore } from '../knowledge/domain/chunk-store-url.js';
import { LayeredChunkStore } from '../knowledge/domain/chunk-store-layered.js';
import { buildPlot, type BuildReport } from '../knowledge/domain/builder.js';
import { UnknownDomainError } from '../knowledge/domain/errors.js';
import { AdapterMismatchError } from '../formats/errors.js';
import type { DomainSpec, HmiRuntimeApi, PlotDeviation, ProgressCallback } from './api.js';
import { InvalidInputError } from './errors.js';
import { checkIds } from './input.js';
import { resolveLocation } from './model-source.js';

/** The root of the domain tree: the general domain, served by the base model's lower layers. */
export const GENERAL_DOMAIN = 'general';

const DEFAULT_BUDGET = 20_000;

/** The layer a LoRA module path adapts: "encoder.layer.7.…" (BERT) or "h.3.…" (GPT-2); NaN if none. */
function layerOf(path: string): number {
  return Number(/(?:^|\.)(?:layer|h)\.(\d+)\./.exec(path)?.[1] ?? Number.NaN);
}

/**
 * The runtime's PLOT store. Without `plotSource`: `plotStore`, else IndexedDB in a page and
 * none in Node. With `plotSource` (a PLOT as `hmi plot build` writes it: a URL, or in Node a
 * directory): that PLOT, read-only, under a writable store (`plotStore`'s backend, else
 * IndexedDB in a page, memory in Node) that takes whatever the runtime saves and shadows the
 * shipped records. The default IndexedDB database is then one per model hash, so a retrained
 * model never reads tables its predecessor saved (they would fail the index's model check
 * and hide the shipped PLOT).
 */
export function runtimePlotStore(options: { readonly plotStore?: PlotStore; readonly plotSource?: string }, modelHash: string): PlotStore | undefined {
  const { plotStore, plotSource } = options;
  if (plotSource === undefined) return plotStore ?? (typeof indexedDB !== 'undefined' ? new PlotStore(new IdbChunkStore()) : undefined);
  if (typeof plotSource !== 'string' || plotSource.length === 0) throw new InvalidInputError(`plotSource must be a URL or a directory, got ${JSON.stringify(plotSource)}`);
  // Records of one store are read under the other's names: they must share the namespace.
  if (plotStore && plotStore.namespace !== DEFAULT_PLOT_NAMESPACE) {
    throw new InvalidInputError(`plotSource holds PLOTs under the namespace "${DEFAULT_PLOT_NAMESPACE}" (as hmi plot build writes them); a plotStore with namespace "${plotStore.namespace}" cannot sit over it`);
  }
  const where = resolveLocation(plotSource);
  const shipped = 'url' in where ? new UrlChunkStore(where.url) : new DirChunkStore(where.dir, { readOnly: true });
  const own = plotStore?.backend ?? (typeof indexedDB !== 'undefined' ? new IdbChunkStore(`hmi-plot-${modelHash}`) : new MemoryChunkStore());
  return new PlotStore(new LayeredChunkStore(own, shipped), DEFAULT_PLOT_NAMESPACE, plotStore?.entriesPerChunk);
}

/**
 * Domain knowledge as the runtime owns it: the tree, every node's PLOT table and counters,
 * and the domains' own lower-layer adapters. It outlives GPU engines (a device loss keeps
 * every table); the current engine's lower windows compute misses and builds (`useWindows`,
 * called by the runtime for each engine it builds).
 */
export class RuntimeDomains {
  readonly knowledge: DomainKnowledge;
  /** Lower-layer LoRA of each domain that has one, by its lowerWeightsId (= the domain id). */
  readonly lowerAdapters = new Map<string, LoraAdapter>();
  private windows: ComputeWindows | undefined;

  constructor(
    private readonly config: ModelConfig,
    readonly split: number,
    modelHash: string,
    private readonly tokenizer: HmiTokenizer,
    store: PlotStore | undefined,
    /** Miss policy of domains that set none. Default 'exact'. */
    policy: MissPolicy | undefined,
  ) {
    const tree = new DomainTree({ id: GENERAL_DOMAIN, budgetEntries: DEFAULT_BUDGET });
    if (policy !== undefined && !isMissPolicy(policy)) {
      throw new InvalidInputError(`plotPolicy must be "exact" or "inherit", got ${JSON.stringify(policy)}`);
    }
    this.knowledge = new DomainKnowledge({
      tree,
      layout: plotLayout(config.family, config.hiddenSize, modelHash, split),
      computeWindows: (node, windows) => {
        if (!this.windows) throw new Error('no engine computes PLOT windows yet');
        return this.windows(node, windows);
      },
      ...(store ? { store } : {}),
      ...(policy ? { policy } : {}),
    });
  }

  /** Misses and builds from now on run on this engine's lower layers. */
  useWindows(compute: ComputeWindows): void {
    this.windows = compute;
  }

  has(id: string): boolean {
    return this.knowledge.tree.has(id);
  }

  add(spec: DomainSpec): void {
    if (typeof spec.id !== 'string' || spec.id.length === 0) throw new InvalidInputError('a domain id must be a non-empty string');
    const parent = spec.parent ?? GENERAL_DOMAIN;
    if (!this.has(parent)) throw new UnknownDomainError(parent);
    if (spec.lowerAdapter) {
      for (const [path] of spec.lowerAdapter.modules) {
        if (!(layerOf(path) < this.split)) throw new AdapterMismatchError(path, `a domain's own lower layers must adapt layers below the split ${this.split}`);
      }
      this.lowerAdapters.set(spec.id, spec.lowerAdapter);
    }
    if (spec.policy !== undefined && !isMissPolicy(spec.policy)) {
      throw new InvalidInputError(`domain "${spec.id}": policy must be "exact" or "inherit", got ${JSON.stringify(spec.policy)}`);
    }
    this.knowledge.addNode({
      id: spec.id,
      parent,
      budgetEntries: spec.budgetEntries ?? DEFAULT_BUDGET,
      ...(spec.lowerAdapter ? { lowerWeightsId: spec.id } : {}),
      ...(spec.policy ? { policy: spec.policy } : {}),
    });
  }

  /**
   * A corpus as token ids: texts through the tokenizer (blank lines give none), id lists
   * checked against the vocabulary so a bad id never reaches the lower layers.
   */
  private corpusIds(corpus: readonly string[] | readonly (readonly number[])[]): number[][] {
    if (!Array.isArray(corpus)) throw new InvalidInputError('a corpus must be an array of texts or of token id arrays');
    return corpus.map((item: unknown, line) => {
      if (typeof item === 'string') return item.trim().length === 0 ? [] : this.tokenizer.encode(item);
      if (!Array.isArray(item)) throw new InvalidInputError(`corpus line ${line} is neither a text nor an array of token ids`);
      return checkIds(item, this.config.vocabSize, `corpus line ${line}: `);
    });
  }

  list(): DomainNodeInfo[] {
    return this.knowledge.describe();
  }

  /** Counts the corpus' tri-grams at the node and stores the most frequent ones' entries. */
  build(id: string, corpus: readonly string[] | readonly (readonly number[])[], onProgress?: ProgressCallback, maxEntries?: number): Promise<BuildReport> {
    if (!this.has(id)) throw new UnknownDomainError(id);
    return buildPlot(this.knowledge, id, this.corpusIds(corpus), undefined, this.knowledge.computeWindows, {
      // The id standing in outside a sequence: BERT pads both edges, GPT-2 keys see eos before the start.
      boundaryId: this.config.family === 'bert' ? this.config.padTokenId : this.config.eosTokenId,
      ...(maxEntries !== undefined ? { maxEntries } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
  }

  /**
   * Inherit against exact for the domain's tenants on a corpus, in batches small enough to
   * leave the GPU cache to serving. Lines longer than the position table are cut, as a
   * request would be refused: the tri-grams of their start are what is measured.
   */
  async deviation(id: string, corpus: readonly string[] | readonly (readonly number[])[], assembler: PlotAssembler, onProgress?: ProgressCallback): Promise<PlotDeviation> {
    if (!this.has(id)) throw new UnknownDomainError(id);
    const seqs = this.corpusIds(corpus)
      .filter((ids) => ids.length > 0)
      .map((ids) => ({ ids: ids.slice(0, this.config.maxPositions), domain: id }));
    if (seqs.length === 0) throw new InvalidInputError('the corpus has no tokens to measure');
    const maxTokens = Math.max(this.config.maxPositions, Math.floor(assembler.cache.slots / 4));
    const parts: InheritDeviation[] = [];
    for (let i = 0; i < seqs.length; ) {
      let tokens = 0;
      let j = i;
      while (j < seqs.length && (j === i || tokens + seqs[j].ids.length <= maxTokens)) tokens += seqs[j++].ids.length;
      parts.push(await measureInheritDeviation(assembler, seqs.slice(i, j)));
      onProgress?.({ phase: 'deviation', done: j, total: seqs.length });
      i = j;
    }
    return combineDeviations(parts);
  }

  /** Hands a tenant's adapter the domain check: hPLM tenants adapt only the upper layers. */
  checkTenant(domain: string, adapter: LoraAdapter): void {
    if (!this.has(domain)) throw new UnknownDomainError(domain);
    for (const [path] of adapter.modules) {
      if (layerOf(path) < this.split) {
        throw new AdapterMismatchError(path, `tenants of domain "${domain}" run layers below ${this.split} from PLOT, so their LoRA may adapt only layers ${this.split} and above`);
      }
    }
  }

  /** The runtime's `domains` API; `alive` throws once the runtime is disposed; `assembler` is the current engine's. */
  api(alive: () => void, assembler: () => PlotAssembler): HmiRuntimeApi['domains'] {
    return {
      add: async (spec) => {
        alive();
        this.add(spec);
      },
      list: async () => this.list(),
      build: async (id, corpus, onProgress) => {
        alive();
        return this.build(id, corpus, onProgress);
      },
      rebuild: async (id, onProgress) => {
        alive();
        await this.knowledge.rebuild(id, onProgress);
      },
      deviation: async (id, corpus, onProgress) => {
        alive();
        return this.deviation(id, corpus, assembler(), onProgress);
      },
    };
  }
}
