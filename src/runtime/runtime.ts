import { DeviceLostError, HmiError } from '../errors.js';
import { createGpuContext } from '../gpu/device.js';
import { loadModel, type LoadedModel, type ModelSource } from '../formats/model-source.js';
import type { HmiTokenizer } from '../formats/tokenizer.js';
import type { TenantStore } from '../knowledge/task/store.js';
import { MemoryTenantStore } from '../knowledge/task/store-memory.js';
import { IdbTenantStore } from '../knowledge/task/store-idb.js';
import { matmulChoices } from '../gpu/autotune.js';
import type {
  ClassifyOptions,
  ClassifyResult,
  CompletionsApi,
  EmbedResult,
  GenerateChunk,
  GenerateOptions,
  HmiRuntimeApi,
  MetricsSnapshot,
  ModelInput,
  ProgressCallback,
  RuntimeInfo,
  ScoreResult,
} from './api.js';
import type { EncoderRequest, EncoderResult } from './classify-executor.js';
import { Engine, type EngineSpec } from './engine.js';
import type { BertConfig, Gpt2Config } from '../model/config.js';
import { InvalidInputError, RuntimeDisposedError, UnknownTenantError } from './errors.js';
import { Metrics } from './metrics.js';
import { resolveModelSource } from './model-source.js';
import { Pipeline, type Residency } from './pipeline.js';
import { RuntimeDomains, runtimePlotStore } from './domains.js';
import { pickRemoteOptions } from '../worker/protocol.js';
import type { StagedPlot } from './classify-executor.js';
import type { MissPolicy } from '../knowledge/domain/assembler.js';
import type { PlotStore } from '../knowledge/domain/plot-store.js';
import { TenantRegistry } from './tenant-registry.js';
import { createCompletions } from './completions.js';
import { toTokenIds } from './input.js';

export interface RuntimeOptions {
  /** navigator.gpu in a page or worker (the default), or the `webgpu` package's GPU in Node. */
  readonly gpu?: GPU;
  /** Run the runtime in a module Worker and talk to it over comlink (browser only). */
  readonly worker?: boolean;
  /** URL or directory of an HF model, or a ModelSource. Default: the embedded hbert-mini. */
  readonly model?: string | ModelSource;
  /** GPU bytes for tenants' adapters. Default: min(256 MiB, half the storage binding limit). */
  readonly poolBytes?: number;
  /** Layers below run from PLOT when a domain has it; default half the layers. */
  readonly split?: number;
  /** Where tenants persist. Default: IndexedDB in a browser, memory in Node. */
  readonly store?: TenantStore;
  /** A batch waits this long for a tenant's store read, then runs without it; its requests wait for a later batch. Default 1000 ms. */
  readonly storeWaitMs?: number;
  /** IndexedDB database name for the default store. */
  readonly storeName?: string;
  /** Requests waiting at most; beyond, QueueFullError. Default 4096. */
  readonly maxQueue?: number;
  /** Tokens per batch. Default 512. */
  readonly tokenBudget?: number;
  /** A request waiting longer than this is served next whatever its residency. Default 250 ms. */
  readonly maxWaitMs?: number;
  /** Store adapters as f16 (half the bytes); compute stays f32. Default 'f32'. */
  readonly adapterDtype?: 'f32' | 'f16';
  /** PLOT misses of domains that set no policy: `exact` computes them with the node's lower layers, `inherit` takes an ancestor's entry. Default exact. */
  readonly plotPolicy?: MissPolicy;
  /** Where PLOT tables persist. Default: IndexedDB in a browser, memory in Node. */
  readonly plotStore?: PlotStore;
  /**
   * A PLOT shipped with the app, as `hmi plot build` writes it: a URL (relative to the page in
   * a browser) or, in Node, a directory. Read-only and read on demand, chunk by chunk, under
   * the writable store (`plotStore`; default IndexedDB in a browser, memory in Node), which
   * takes what the runtime saves and shadows it. A missing or corrupt record is a PLOT miss.
   */
  readonly plotSource?: string;
  /** GPU cache slots for PLOT entries. Default 4 x tokenBudget. */
  readonly plotCacheSlots?: number;
  /**
   * Time the matmul variants at start-up (the choice is kept in IndexedDB, in Node for the
   * process). Default true; a one-shot process (a CLI command) does not repay it.
   */
  readonly autotune?: boolean;
  /** hGPT: GPU bytes for the paged KV cache of all requests. Default min(64 MiB, half the largest buffer). */
  readonly kvBytes?: number;
  /** hGPT: tokens per KV block. Default 16. */
  readonly kvBlockTokens?: number;
  /** hGPT: requests decoding at once. Default 64. */
  readonly maxActive?: number;
  readonly onProgress?: ProgressCallback;
}

/** What a batch's stage produced, and on which engine (a device loss invalidates it). */
interface Staged {
  readonly engine: Engine;
  readonly plot: StagedPlot | undefined;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * Creates a runtime: loads the model, uploads the shared base weights once, opens the tenant
 * store and allocates the adapter pool up front. With `worker: true` the same API is served
 * from a module Worker.
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<HmiRuntimeApi> {
  if (options.worker) {
    const { createWorkerRuntime } = await import('../worker/client.js');
    const model = typeof options.model === 'string' || options.model === undefined ? options.model : undefined;
    return createWorkerRuntime({ ...pickRemoteOptions({ ...options, model }), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
  }
  const gpu = options.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu) await createGpuContext(gpu); // throws the plain "WebGPU is missing" error
  const source = resolveModelSource(options.model);
  options.onProgress?.({ phase: 'model', done: 0, total: 2 });
  const loaded = await loadModel(source);
  if (loaded.config.family === 'gpt2') {
    const { GenerationRuntime } = await import('./generation-runtime.js');
    return GenerationRuntime.create(gpu!, loaded as LoadedModel & { config: Gpt2Config }, source, options);
  }
  return HmiRuntime.create(gpu!, loaded as LoadedModel & { config: BertConfig }, source, options);
}

/**
 * The pipeline's view of residency, forwarded to whichever engine is current. Pins are counted
 * per engine, so a batch that straddles a device loss is re-pinned on the new engine and
 * never unpins there what it pinned on the old one.
 */
class EngineResidency implements Residency {
  private readonly pinsByEngine = new WeakMap<Engine, Map<string, number>>();
  constructor(private readonly current: () => Engine) {}

  private pinsOf(engine: Engine): Map<string, number> {
    let m = this.pinsByEngine.get(engine);
    if (!m) {
      m = new Map();
      this.pinsByEngine.set(engine, m);
    }
    return m;
  }

  isResident(id: string): boolean {
    return this.current().residency.isResident(id);
  }

  async ensure(ids: readonly string[]): Promise<Map<string, unknown>> {
    const engine = this.current();
    const failures = await engine.residency.ensure(ids);
    const pins = this.pinsOf(engine);
    for (const id of ids) if (!failures.has(id)) pins.set(id, (pins.get(id) ?? 0) + 1);
    return failures;
  }

  /** Pins, on the current engine, those of `ids` this proxy holds no pin for (after a recovery). */
  async repin(ids: readonly string[]): Promise<Map<string, unknown>> {
    const pins = this.pinsOf(this.current());
    const missing = ids.filter((id) => !pins.get(id));
    return missing.length ? this.ensure(missing) : new Map();
  }

  unpin(ids: readonly string[]): void {
    const engine = this.current();
    const pins = this.pinsOf(engine);
    const mine = ids.filter((id) => (pins.get(id) ?? 0) > 0);
    for (const id of mine) {
      const n = pins.get(id)! - 1;
      if (n) pins.set(id, n);
      else pins.delete(id);
    }
    engine.residency.unpin(mine);
  }

  retryable(error: unknown): boolean {
    return this.current().residency.retryable(error);
  }

  deferrable(error: unknown): boolean {
    return this.current().residency.deferrable(error);
  }
}

export class HmiRuntime implements HmiRuntimeApi {
  private readonly registry: TenantRegistry;
  private readonly pipeline: Pipeline<EncoderResult, Staged>;
  private readonly residencyView: EngineResidency;
  private recovering: Promise<void> | null = null;
  private disposed = false;

  private constructor(
    private engine: Engine,
    private readonly spec: EngineSpec,
    private readonly tokenizer: HmiTokenizer,
    private readonly modelId: string,
    private readonly modelHash: string,
    store: TenantStore,
    private readonly metricsState: Metrics,
    readonly split: number,
    options: RuntimeOptions,
    private readonly domainState: RuntimeDomains,
  ) {
    this.residencyView = new EngineResidency(() => this.engine);
    this.registry = new TenantRegistry(
      store,
      { config: spec.config, split, modelId, modelHash, dtype: options.adapterDtype ?? 'f32' },
      {
        checkFits: (id, adapter) => this.engine.pool.checkFits(id, adapter),
        checkDomain: (domain, adapter) => this.domainState.checkTenant(domain, adapter),
        invalidate: (id) => this.engine.residency.invalidate(id),
        removed: (id) => {
          for (const r of this.pipeline.queue.removeWhere((q) => q.tenantId === id)) r.reject(new UnknownTenantError(id));
        },
        isResident: (id) => this.engine.pool.has(id),
      },
      metricsState,
    );    this.tenants = this.registry.api(() => this.alive());
    this.domains = this.domainState.api(() => this.alive(), () => this.engine.assembler);

    this.pipeline = new Pipeline<EncoderResult, Staged>(
      options.maxQueue ?? 4096,
      { tokenBudget: options.tokenBudget ?? 512, maxTenants: 64, maxWaitMs: options.maxWaitMs ?? 250 },
      this.residencyView,
      (batch, staged, _formed, launched) => this.execute(batch as readonly EncoderRequest[], staged, launched),
      this.metricsState,
      now,
      async (batch) => {
        const engine = this.engine;
        return { engine, plot: await engine.executor.stage(batch as readonly EncoderRequest[]) };
      },
    );
  }

  get config(): BertConfig {
    return this.spec.config;
  }

  static async create(gpu: GPU, loaded: LoadedModel & { readonly config: BertConfig }, source: ModelSource, options: RuntimeOptions): Promise<HmiRuntime> {
    const progress = options.onProgress;
    progress?.({ phase: 'model', done: 1, total: 2 });
    const store = options.store ?? (typeof indexedDB !== 'undefined' ? new IdbTenantStore() : new MemoryTenantStore());
    const metrics = new Metrics(now);
    let runtime: HmiRuntime | undefined;
    const split = options.split ?? Math.floor(loaded.config.numLayers / 2);
    const plotStore = runtimePlotStore(options, loaded.hash);
    const domains = new RuntimeDomains(loaded.config, split, loaded.hash, loaded.tokenizer, (node, windows) => runtime!.engine.windows.compute(node, windows), plotStore, options.plotPolicy);
    const tokenBudget = options.tokenBudget ?? 512;
    const spec: EngineSpec = {
      gpu,
      config: loaded.config,
      weights: loaded.weights,
      store,
      ...(options.poolBytes !== undefined ? { poolBytes: options.poolBytes } : {}),
      tokenBudget,
      metrics,
      meta: (id) => runtime?.registry.get(id),
      registration: (id) => ({ exists: runtime?.registry.get(id) !== undefined, generation: runtime?.registry.generation(id) ?? 0 }),
      ...(options.storeWaitMs !== undefined ? { storeWaitMs: options.storeWaitMs } : {}),
      now,
      split,
      domains: () => domains,
      plotCacheSlots: options.plotCacheSlots ?? 4 * tokenBudget,
      ...(options.autotune !== undefined ? { autotune: options.autotune } : {}),
    };
    const engine = await Engine.create(spec);
    progress?.({ phase: 'model', done: 2, total: 2 });
    runtime = new HmiRuntime(engine, spec, loaded.tokenizer, source.describe(), loaded.hash, store, metrics, split, options, domains);
    try {
      await runtime.registry.load();
    } catch (e) {
      engine.destroy();
      throw e;
    }
    runtime.watch(engine);
    progress?.({ phase: 'ready', done: 1, total: 1 });
    return runtime;
  }

  /** Recovers when the engine's device is lost outside any batch (idle tab, driver reset). */
  private watch(engine: Engine): void {
    void engine.ctx.lost.then(() => {
      if (!this.disposed && engine === this.engine && !engine.ctx.isDestroyed) void this.recover(engine);
    });
  }

  /** Builds a new engine once per loss; concurrent callers share the same recovery. */
  private recover(lost: Engine): Promise<void> {
    if (lost !== this.engine) return this.recovering ?? Promise.resolve();
    this.recovering ??= (async () => {
      try {
        try {
          lost.destroy();
        } catch {
          // Already lost: destroying what is left is best effort.
        }
        const engine = await Engine.create(this.spec);
        this.engine = engine;
        this.metricsState.deviceRecoveries++;
        this.watch(engine);
      } finally {
        this.recovering = null;
      }
    })();
    return this.recovering;
  }

  /**
   * Runs a batch on the current engine. If the device is lost under it, the runtime recovers
   * and puts the batch back at the front of the queue once; a second loss rejects it.
   */
  private async execute(batch: readonly EncoderRequest[], staged: Staged | undefined, launched: () => void): Promise<void> {
    if (this.recovering) await this.recovering;
    const engine = this.engine;
    // A preparation made on a device lost since is worthless: prepare again on this one.
    const plot = staged && staged.engine === engine ? staged.plot : undefined;
    try {
      const failures = await this.residencyView.repin([...new Set(batch.map((r) => r.tenantId))]);
      const runnable = batch.filter((r) => {
        const e = failures.get(r.tenantId);
        if (e !== undefined) r.reject(e);
        return e === undefined;
      });
      if (runnable.length === 0) {
        engine.executor.discard(plot);
        return;
      }
      await engine.executor.run(runnable, plot, launched);
    } catch (e) {
      if (!this.disposed && (await engine.failedByLoss())) {
        const again = batch.filter((r) => !r.retried);
        for (const r of batch) if (r.retried) r.reject(new DeviceLostError('lost twice', 'the GPU device was lost again while re-running this request'));
        try {
          await this.recover(engine);
        } catch (err) {
          for (const r of again) r.reject(err);
          return;
        }
        for (const r of again) r.retried = true;
        this.pipeline.queue.requeue(again);
        return;
      }
      for (const r of batch) r.reject(e);
    }
  }

  async info(): Promise<RuntimeInfo> {
    this.alive();
    return {
      family: this.config.family,
      modelId: this.modelId,
      modelHash: this.modelHash,
      hiddenSize: this.config.hiddenSize,
      numLayers: this.config.numLayers,
      splitLayer: this.split,
      adapter: `${this.engine.ctx.adapterInfo.vendor} ${this.engine.ctx.adapterInfo.architecture}`.trim() || 'unknown',
      matmulVariants: matmulChoices(this.engine.ctx),
    };
  }

  readonly domains: HmiRuntimeApi['domains'];
  readonly tenants: HmiRuntimeApi['tenants'];

  classify(tenantId: string, input: ModelInput, options?: ClassifyOptions): Promise<ClassifyResult> {
    return this.submit(tenantId, input, 'classify', options?.truncate) as Promise<ClassifyResult>;
  }

  embed(tenantId: string, input: ModelInput): Promise<EmbedResult> {
    return this.submit(tenantId, input, 'embed') as Promise<EmbedResult>;
  }

  /** OpenAI-style completions over generate(): on an hBERT runtime they reject as generate() does. */
  readonly completions: CompletionsApi = createCompletions({
    generate: (tenantId, prompt, options) => this.generate(tenantId, prompt, options),
    promptTokens: (text) => this.tokenizer.encode(text).length,
  });

  generate(_tenantId: string, _prompt: ModelInput, _options?: GenerateOptions): AsyncIterable<GenerateChunk> {
    const err = new HmiError('UNSUPPORTED', `generation needs an hGPT model; this runtime serves ${this.config.family}`);
    return {
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }),
    };
  }

  /** Scoring is next-token log-probabilities: an hGPT operation, refused as generate() is. */
  score(_tenantId: string, _input: ModelInput): Promise<ScoreResult> {
    return Promise.reject(new HmiError('UNSUPPORTED', `scoring needs an hGPT model; this runtime serves ${this.config.family}`));
  }

  private async submit(tenantId: string, input: ModelInput, kind: EncoderRequest['kind'], truncate?: unknown): Promise<EncoderResult> {
    this.alive();
    const meta = this.registry.get(tenantId);
    if (!meta) throw new UnknownTenantError(tenantId);
    if (kind === 'classify' && meta.numLabels === 0) throw new InvalidInputError(`tenant ${tenantId} has no classifier head`);
    if (truncate !== undefined && typeof truncate !== 'boolean') throw new InvalidInputError(`truncate must be a boolean, got ${JSON.stringify(truncate)}`);
    const ids = this.tokenize(input, truncate === true);
    return new Promise<EncoderResult>((resolve, reject) => {
      try {
        const request: EncoderRequest = { tenantId, tokens: ids.length, enqueuedAt: now(), ids, kind, domain: meta.domain, retried: false, resolve, reject };
        this.pipeline.submit(request);
      } catch (e) {
        this.metricsState.requestsRejected++;
        reject(e);
      }
    });
  }

  /**
   * With `truncate`, an input past the model's positions keeps its first max-1 tokens and is
   * closed with [SEP] (HF's truncation of one sequence; the plain max tokens for a tokenizer
   * without [SEP]); every other check stays.
   */
  private tokenize(input: ModelInput, truncate = false): number[] {
    if (!truncate) return toTokenIds(input, this.tokenizer, this.config, 'input');
    const P = this.config.maxPositions;
    const ids = toTokenIds(input, this.tokenizer, { ...this.config, maxPositions: Number.POSITIVE_INFINITY }, 'input');
    if (ids.length <= P) return ids;
    const sep = this.tokenizer.tokenToId('[SEP]');
    return sep === undefined ? ids.slice(0, P) : [...ids.slice(0, P - 1), sep];
  }

  async metrics(): Promise<MetricsSnapshot> {
    const m = this.metricsState;
    const pool = this.engine.pool.stats();
    const lookups = m.poolHits + m.poolMisses;
    return {
      ...m.rates(),
      tenantsRegistered: this.registry.size,
      tenantsResident: pool.residentTenants,
      queueDepth: this.pipeline.queue.size,
      p50Ms: m.latency.percentile(50),
      p99Ms: m.latency.percentile(99),
      poolBytesUsed: pool.bytesUsed,
      poolBytesTotal: pool.bytesTotal,
      poolHitRate: lookups ? m.poolHits / lookups : 0,
      bytesUploaded: pool.bytesUploaded,
      requestsServed: m.requestsServed,
      requestsRejected: m.requestsRejected,
      plotHitRate: this.engine.assembler.hitRate,
      kvBytesUsed: 0,
      kvBytesTotal: 0,
      deviceRecoveries: m.deviceRecoveries,
      prefetchHidden: m.prefetchMs ? m.prefetchHiddenMs / m.prefetchMs : 0,
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.pipeline.stop(new RuntimeDisposedError());
    await this.pipeline.idle().catch(() => undefined);
    if (this.recovering) await this.recovering.catch(() => undefined);
    this.engine.destroy();
  }

  private alive(): void {
    if (this.disposed) throw new RuntimeDisposedError();
  }

}
