import type { LoraAdapter } from '../formats/types.js';
import type { HmiTokenizer } from '../formats/tokenizer.js';
import type { ModelConfig } from '../model/config.js';
import { DomainKnowledge, type ComputeWindows, type DomainNodeInfo } from '../knowledge/domain/domain-knowledge.js';
import { DomainTree } from '../knowledge/domain/domain-tree.js';
import { plotLayout } from '../knowledge/domain/plot-table.js';
import type { PlotStore } from '../knowledge/domain/plot-store.js';
import { buildPlot, type BuildReport } from '../knowledge/domain/builder.js';
import { UnknownDomainError } from '../knowledge/domain/errors.js';
import { AdapterMismatchError } from '../formats/errors.js';
import type { DomainSpec, HmiRuntimeApi, ProgressCallback } from './api.js';
import { InvalidInputError } from './errors.js';

/** The root of the domain tree: the general domain, served by the base model's lower layers. */
export const GENERAL_DOMAIN = 'general';

const DEFAULT_BUDGET = 20_000;

/** The layer a LoRA module path adapts: "encoder.layer.7.…" (BERT) or "h.3.…" (GPT-2); NaN if none. */
function layerOf(path: string): number {
  return Number(/(?:^|\.)(?:layer|h)\.(\d+)\./.exec(path)?.[1] ?? Number.NaN);
}

/**
 * Domain knowledge as the runtime owns it: the tree, every node's PLOT table and counters,
 * and the domains' own lower-layer adapters. It outlives GPU engines (a device loss keeps
 * every table); the engine supplies `computeWindows` for misses and builds.
 */
export class RuntimeDomains {
  readonly knowledge: DomainKnowledge;
  /** Lower-layer LoRA of each domain that has one, by its lowerWeightsId (= the domain id). */
  readonly lowerAdapters = new Map<string, LoraAdapter>();

  constructor(
    private readonly config: ModelConfig,
    readonly split: number,
    modelHash: string,
    private readonly tokenizer: HmiTokenizer,
    computeWindows: ComputeWindows,
    store: PlotStore | undefined,
  ) {
    const tree = new DomainTree({ id: GENERAL_DOMAIN, budgetEntries: DEFAULT_BUDGET });
    this.knowledge = new DomainKnowledge({
      tree,
      layout: plotLayout(config.family, config.hiddenSize, modelHash, split),
      computeWindows,
      ...(store ? { store } : {}),
    });
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
    this.knowledge.addNode({
      id: spec.id,
      parent,
      budgetEntries: spec.budgetEntries ?? DEFAULT_BUDGET,
      ...(spec.lowerAdapter ? { lowerWeightsId: spec.id } : {}),
    });
  }

  list(): DomainNodeInfo[] {
    return this.knowledge.describe();
  }

  /** Counts the corpus' tri-grams at the node and stores the most frequent ones' entries. */
  build(id: string, corpus: readonly string[] | readonly (readonly number[])[], onProgress?: ProgressCallback, maxEntries?: number): Promise<BuildReport> {
    if (!this.has(id)) throw new UnknownDomainError(id);
    return buildPlot(this.knowledge, id, corpus, (t) => this.tokenizer.encode(t), this.knowledge.computeWindows, {
      // The id standing in outside a sequence: BERT pads both edges, GPT-2 keys see eos before the start.
      boundaryId: this.config.family === 'bert' ? this.config.padTokenId : this.config.eosTokenId,
      ...(maxEntries !== undefined ? { maxEntries } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
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

  /** The runtime's `domains` API; `alive` throws once the runtime is disposed. */
  api(alive: () => void): HmiRuntimeApi['domains'] {
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
    };
  }
}
