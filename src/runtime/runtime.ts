import { DeviceLostError, HmiError } from '../errors.js';
import { createGpuContext, maxBindingBytes } from '../gpu/device.js';
import { loadAdapter, loadModel, type LoadedModel, type ModelSource } from '../formats/model-source.js';
import type { LoraAdapter } from '../formats/types.js';
import type { ModelConfig } from '../formats/model-config.js';
import type { HmiTokenizer } from '../formats/tokenizer.js';
import type { TenantMeta } from '../knowledge/task/pack.js';
import type { TenantStore } from '../knowledge/task/store.js';
import { MemoryTenantStore } from '../knowledge/task/store-memory.js';
import { IdbTenantStore } from '../knowledge/task/store-idb.js';
import { matmulChoices } from '../kernels/matmul-autotune.js';
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
  RuntimeInfo,
  RuntimeOptions,
  ScoreResult,
  TenantInput,
  TenantSpec,
  TrainProgressCallback,
  TrainResult,
  TrainSpec,
} from './api.js';
import { createCompletions } from './completions.js';
import { RuntimeDomains, runtimePlotStore } from './domains.js';
import { Engine, type EngineSpec } from './engine.js';
import { EngineResidency } from './engine-residency.js';
import { InvalidInputError, RuntimeDisposedError, UnknownTenantError } from './errors.js';
import { decoderHead } from './heads/decoder-head.js';
import { encoderHead } from './heads/encoder-head.js';
import { Metrics } from './metrics.js';
import { resolveModelSource } from './model-source.js';
import { Pipeline } from './pipeline.js';
import { TrainingHead } from './heads/training-head.js';
import type { AdmittedRequest, HeadFactory, HeadHost, TaskHead } from './task-head.js';
import { TenantRegistry, type RegistryHooks } from './tenant-registry.js';

/** Longest a training part defers to serving work before it takes its turn anyway. */
const TRAINING_MAX_WAIT_MS = 500;
/** How often a deferred slice looks again (a timer, so the serving loop's I/O and timers run). */
const TRAINING_POLL_MS = 4;

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** What a batch's stage produced, and on which engine (a device loss invalidates it). */
interface Staged {
  readonly engine: Engine;
  readonly value: unknown;
}

/**
 * Creates a runtime in this thread: loads the model, uploads the shared base weights once,
 * opens the tenant store and allocates the adapter pool up front. The model's family picks
 * the task head: hBERT the encoder (classify, embed), hGPT the decoder (generate, score).
 */
export async function createLocalRuntime(options: RuntimeOptions = {}): Promise<HmiRuntime> {
  const gpu = options.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu) await createGpuContext(gpu); // throws the plain "WebGPU is missing" error
  const source = resolveModelSource(options.model, options.onProgress);
  options.onProgress?.({ phase: 'model', done: 0, total: 2 });
  const loaded = await loadModel(source);
  return HmiRuntime.create(gpu!, loaded, source, options);
}

/**
 * The one runtime: the tenant registry, domains, store, metrics, device-loss recovery,
 * lifecycle and the public API, with one admission path (queue, fair batch formation, store
 * reads, pinning, retries) for both task heads. The head adds what its family does on the GPU.
 */
export class HmiRuntime implements HmiRuntimeApi {
  private readonly pipeline: Pipeline<unknown, Staged>;
  private readonly residency: EngineResidency;
  private readonly head: TaskHead;
  private engine!: Engine;
  private recovering: Promise<void> | null = null;
  private readonly training: TrainingHead;
  private disposed = false;
  readonly domains: HmiRuntimeApi['domains'];
  readonly tenants: HmiRuntimeApi['tenants'];
  readonly completions: CompletionsApi;

  private constructor(
    private readonly registry: TenantRegistry,
    private readonly spec: EngineSpec,
    private readonly tokenizer: HmiTokenizer,
    private readonly modelId: string,
    private readonly modelHash: string,
    private readonly metricsState: Metrics,
    private readonly domainState: RuntimeDomains,
    readonly split: number,
    options: RuntimeOptions,
    factory: HeadFactory<ModelConfig>,
  ) {
    this.residency = new EngineResidency(() => this.engine);
    const host: HeadHost<ModelConfig> = {
      config: spec.config,
      tokenizer,
      registry: this.registry,
      metrics: metricsState,
      now,
      tenant: (id) => this.tenantMeta(id),
      submit: (r) => this.submit(r),
      withdraw: (r) => this.pipeline.queue.removeWhere((q) => q === r).length > 0,
      release: (engine, id) => this.residency.unpinOn(engine, [id]),
      hold: (engine, id) => this.residency.hold(engine, id),
      retryAfterLoss: (engine, requests) => this.retryAfterLoss(engine, requests),
    };
    this.head = factory(host, options);
    this.pipeline = new Pipeline<unknown, Staged>(
      options.maxQueue ?? 4096,
      { tokenBudget: spec.tokenBudget, maxTenants: 64, maxWaitMs: options.maxWaitMs ?? 250, ...this.head.admission },
      this.residency,
      (batch, staged, _formed, launched) => this.execute(batch as readonly AdmittedRequest[], staged, launched),
      metricsState,
      now,
      async (batch) => {
        const engine = this.engine;
        return { engine, value: await this.head.stage(engine, batch as readonly AdmittedRequest[]) };
      },
      () => this.head.waiting(),
    );
    const hooks: RegistryHooks = {
      checkFits: (id, adapter) => this.engine.pool.checkFits(id, adapter),
      checkDomain: (domain, adapter) => this.domainState.checkTenant(domain, adapter),
      changed: (id) => this.engine.residency.invalidate(id),
    };
    this.tenants = {
      add: async (s, onProgress) => {
        this.alive();
        const specs: readonly TenantInput[] = Array.isArray(s) ? (s as readonly TenantInput[]) : [s as TenantInput];
        // Every adapter is read before any is stored: a bad location registers nothing.
        const parsed = await Promise.all(specs.map(async (spec): Promise<TenantSpec> => ({ ...spec, adapter: await this.readAdapter(spec.adapter) })));
        this.alive();
        await this.registry.add(parsed, hooks, onProgress);
      },
      addSynthetic: async (o, onProgress) => {
        this.alive();
        return this.registry.addSynthetic(o, hooks, onProgress);
      },
      remove: async (id) => {
        this.alive();
        await this.registry.remove(id, () => {
          const error = new UnknownTenantError(id);
          for (const r of this.pipeline.queue.removeWhere((q) => q.tenantId === id)) r.reject(error);
          this.head.removed(id, error);
          this.engine.residency.invalidate(id);
        });
      },
      list: async () => {
        this.alive();
        return this.registry.list((id) => this.engine.pool.has(id));
      },
      train: (spec, onProgress) => this.train(spec, onProgress),
    };
    this.domains = this.domainState.api(
      () => this.alive(),
      () => this.engine.assembler,
    );
    this.training = new TrainingHead({
      config: spec.config,
      tokenizer,
      split,
      tokenBudget: spec.tokenBudget,
      engine: () => this.engine,
      hasDomain: (id) => this.domainState.has(id),
      turn: () => this.trainingTurn(),
      alive: () => this.alive(),
      register: (t) => this.registry.add([t], hooks),
      now,
    });
    this.completions = createCompletions({
      generate: (tenantId, prompt, o) => this.generate(tenantId, prompt, o),
      promptTokens: (text) => this.tokenizer.encode(text).length,
    });
  }

  static async create(gpu: GPU, loaded: LoadedModel, source: ModelSource, options: RuntimeOptions): Promise<HmiRuntime> {
    const progress = options.onProgress;
    progress?.({ phase: 'model', done: 1, total: 2 });
    const config = loaded.config;
    const split = options.split ?? Math.floor(config.numLayers / 2);
    if (typeof split !== 'number' || !Number.isInteger(split) || split < 0 || split > config.numLayers) {
      throw new InvalidInputError(`split must be an integer in 0..${config.numLayers}, got ${String(split)}`);
    }
    const tokenBudget = options.tokenBudget ?? 512;
    if (!Number.isInteger(tokenBudget) || tokenBudget < 1) throw new InvalidInputError(`tokenBudget must be an integer >= 1, got ${tokenBudget}`);
    const store: TenantStore = options.store ?? (typeof indexedDB !== 'undefined' ? new IdbTenantStore() : new MemoryTenantStore());
    const metrics = new Metrics(now);
    const domains = new RuntimeDomains(config, split, loaded.hash, loaded.tokenizer, runtimePlotStore(options, loaded.hash), options.plotPolicy);
    const factory = (config.family === 'gpt2' ? decoderHead : encoderHead) as HeadFactory<ModelConfig>;
    // The engine reads registrations (store reads check them, heads name labels by them).
    const registry = new TenantRegistry(store, { config, split, modelId: source.describe(), modelHash: loaded.hash, dtype: options.adapterDtype ?? 'f32' }, metrics);
    const spec: EngineSpec = {
      gpu,
      config,
      weights: loaded.weights,
      store,
      registrations: registry,
      ...(options.poolBytes !== undefined ? { poolBytes: options.poolBytes } : {}),
      tokenBudget,
      metrics,
      ...(options.storeWaitMs !== undefined ? { storeWaitMs: options.storeWaitMs } : {}),
      now,
      split,
      domains,
      plotCacheSlots: options.plotCacheSlots ?? 4 * tokenBudget,
      ...(options.autotune !== undefined ? { autotune: options.autotune } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.maxBufferBytes !== undefined ? { maxBufferBytes: options.maxBufferBytes } : {}),
      ...(options.weightsDtype !== undefined ? { weightsDtype: options.weightsDtype } : {}),
    };
    const runtime = new HmiRuntime(registry, spec, loaded.tokenizer, source.describe(), loaded.hash, metrics, domains, split, options, factory);
    await runtime.start();
    progress?.({ phase: 'model', done: 2, total: 2 });
    try {
      await runtime.registry.load();
    } catch (e) {
      runtime.engine.destroy();
      throw e;
    }
    progress?.({ phase: 'ready', done: 1, total: 1 });
    return runtime;
  }

  get config(): ModelConfig {
    return this.spec.config;
  }

  /** Builds an engine and makes it current: at start and after each device loss. */
  private async start(): Promise<void> {
    const engine = await Engine.create(this.spec, this.head.builder);
    this.engine = engine;
    this.domainState.useWindows((node, windows) => engine.windows.compute(node, windows));
    this.head.attach(engine);
    void engine.ctx.lost.then(() => {
      // Lost outside any request (idle tab, driver reset): recover now, not on the next request.
      if (!this.disposed && engine === this.engine && !engine.ctx.isDestroyed) void this.recover(engine).catch(() => undefined);
    });
  }

  /** Builds a new engine once per loss; concurrent callers share the same recovery. */
  private recover(lost: Engine): Promise<void> {
    if (lost !== this.engine) return this.recovering ?? Promise.resolve();
    this.recovering ??= (async () => {
      try {
        // Requests still running on the lost device fail there; let them drain before its buffers go.
        await this.head.idle().catch(() => undefined);
        try {
          lost.destroy();
        } catch {
          // Already lost: destroying what is left is best effort.
        }
        await this.start();
        this.metricsState.deviceRecoveries++;
      } finally {
        this.recovering = null;
      }
    })();
    return this.recovering;
  }

  private async retryAfterLoss(engine: Engine, requests: readonly AdmittedRequest[]): Promise<boolean> {
    if (this.disposed || !(await engine.failedByLoss())) return false;
    const again = requests.filter((r) => !r.retried);
    for (const r of requests) if (r.retried) r.reject(new DeviceLostError('lost twice', 'the GPU device was lost again while re-running this request'));
    try {
      await this.recover(engine);
    } catch (err) {
      for (const r of again) r.reject(err);
      return true;
    }
    for (const r of again) r.retried = true;
    if (this.disposed) for (const r of again) r.reject(new RuntimeDisposedError());
    else this.pipeline.requeue(again);
    return true;
  }

  /**
   * Runs a batch whose tenants the pipeline pinned, on the current engine. If the device is
   * lost under it, the runtime recovers and puts the batch back at the front of the queue once.
   */
  private async execute(batch: readonly AdmittedRequest[], staged: Staged | undefined, launched: () => void): Promise<void> {
    if (this.recovering) await this.recovering;
    const engine = this.engine;
    // A preparation made on a device lost since is worthless: prepare again on this one.
    const value = staged && staged.engine === engine ? staged.value : undefined;
    try {
      const failures = await this.residency.repin([...new Set(batch.map((r) => r.tenantId))]);
      const runnable = batch.filter((r) => {
        const e = failures.get(r.tenantId);
        if (e !== undefined) r.reject(e);
        return e === undefined;
      });
      if (runnable.length === 0) {
        this.head.discard(engine, value);
        return;
      }
      await this.head.execute(engine, runnable, value, launched);
    } catch (e) {
      if (await this.retryAfterLoss(engine, batch)) return;
      for (const r of batch) r.reject(e);
    }
  }

  /** A tenant's adapter given by location, read against this runtime's base model (its config, not a second load). */
  private async readAdapter(adapter: TenantInput['adapter']): Promise<LoraAdapter> {
    if (typeof adapter === 'string') {
      if (adapter.length === 0) throw new InvalidInputError('an adapter location must be a non-empty URL or directory');
      return loadAdapter(resolveModelSource(adapter), this.config);
    }
    if (adapter !== null && typeof adapter === 'object' && typeof (adapter as ModelSource).readBytes === 'function') return loadAdapter(adapter as ModelSource, this.config);
    // Anything else is checked as a parsed adapter by the registry (named errors there).
    return adapter as LoraAdapter;
  }

  private tenantMeta(tenantId: string): TenantMeta {
    this.alive();
    const meta = this.registry.get(tenantId);
    if (!meta) throw new UnknownTenantError(tenantId);
    return meta;
  }

  private submit(request: AdmittedRequest): void {
    this.alive();
    this.pipeline.submit(request);
  }

  async info(): Promise<RuntimeInfo> {
    this.alive();
    const { ctx } = this.engine;
    return {
      family: this.config.family,
      modelId: this.modelId,
      modelHash: this.modelHash,
      hiddenSize: this.config.hiddenSize,
      numLayers: this.config.numLayers,
      splitLayer: this.split,
      adapter: `${ctx.adapterInfo.vendor} ${ctx.adapterInfo.architecture}`.trim() || 'unknown',
      matmulVariants: matmulChoices(ctx),
      baseGpuBytes: this.engine.base.gpuBytes,
      maxBufferBytes: maxBindingBytes(ctx.limits),
    };
  }

  private unsupported(what: string, needs: string): HmiError {
    return new HmiError('UNSUPPORTED', `${what} needs an ${needs} model; this runtime serves ${this.config.family}`);
  }

  /** Counts a request refused before it was queued (bad input, unknown tenant, full queue). */
  private refused<T>(f: () => Promise<T>): Promise<T> {
    try {
      return f().catch((e: unknown) => {
        this.metricsState.requestsRejected++;
        throw e;
      });
    } catch (e) {
      this.metricsState.requestsRejected++;
      return Promise.reject(e);
    }
  }

  classify(tenantId: string, input: ModelInput, options?: ClassifyOptions): Promise<ClassifyResult> {
    const head = this.head;
    if (!head.classify) return Promise.reject(this.unsupported('classification', 'hBERT'));
    return this.refused(() => head.classify!(tenantId, input, options));
  }

  embed(tenantId: string, input: ModelInput): Promise<EmbedResult> {
    const head = this.head;
    if (!head.embed) return Promise.reject(this.unsupported('embedding', 'hBERT'));
    return this.refused(() => head.embed!(tenantId, input));
  }

  /**
   * Streams the tenant's continuation of the prompt, one chunk per generated token; the last
   * chunk has done = true and the finish reason. Bad input rejects on the first next(), before
   * any GPU work; so does a full queue (QueueFullError).
   */
  generate(tenantId: string, prompt: ModelInput, options?: GenerateOptions): AsyncIterable<GenerateChunk> {
    const head = this.head;
    if (!head.generate) {
      const err = this.unsupported('generation', 'hGPT');
      return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }) };
    }
    return head.generate(tenantId, prompt, options);
  }

  /** The tenant's log-probability of each token of the input given those before it (hGPT). */
  score(tenantId: string, input: ModelInput): Promise<ScoreResult> {
    const head = this.head;
    if (!head.score) return Promise.reject(this.unsupported('scoring', 'hGPT'));
    return this.refused(() => head.score!(tenantId, input));
  }

  /**
   * Serving first. A training part (the attention or the FFN half of one layer's forward or
   * backward of a slice) runs when no serving request is queued or running, so a request
   * arriving meanwhile waits for one part at most; a part that has waited TRAINING_MAX_WAIT_MS
   * runs anyway, so a saturated runtime still trains (a part per wait). Either way after the
   * GPU has finished what was submitted.
   */
  private async trainingTurn(): Promise<void> {
    const start = now();
    while ((this.pipeline.busy || this.head.busy()) && now() - start < TRAINING_MAX_WAIT_MS) {
      await new Promise((r) => setTimeout(r, TRAINING_POLL_MS));
    }
    await this.engine.ctx.device.queue.onSubmittedWorkDone();
  }

  private train(spec: TrainSpec, onProgress?: TrainProgressCallback): Promise<TrainResult> {
    return this.training.train(spec, onProgress);
  }

  async metrics(): Promise<MetricsSnapshot> {
    const m = this.metricsState;
    const engine = this.engine;
    const pool = engine.pool.stats();
    const lookups = m.poolHits + m.poolMisses;
    return {
      ...m.rates(),
      ...this.head.metrics(engine),
      tenantsRegistered: this.registry.size,
      tenantsResident: pool.residentTenants,
      queueDepth: this.pipeline.queue.size + this.head.waiting(),
      p50Ms: m.latency.percentile(50),
      p99Ms: m.latency.percentile(99),
      poolBytesUsed: pool.bytesUsed,
      poolBytesTotal: pool.bytesTotal,
      poolHitRate: lookups ? m.poolHits / lookups : 0,
      bytesUploaded: pool.bytesUploaded,
      requestsServed: m.requestsServed,
      requestsRejected: m.requestsRejected,
      plotHitRate: engine.assembler.hitRate,
      deviceRecoveries: m.deviceRecoveries,
      prefetchHidden: m.prefetchMs ? m.prefetchHiddenMs / m.prefetchMs : 0,
      trainingGpuBytes: this.training.gpuBytes,
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const error = new RuntimeDisposedError();
    this.pipeline.stop(error);
    this.head.stop(error);
    await this.pipeline.idle().catch(() => undefined);
    if (this.recovering) await this.recovering.catch(() => undefined);
    await this.head.idle().catch(() => undefined);
    this.engine.destroy();
  }

  private alive(): void {
    if (this.disposed) throw new RuntimeDisposedError();
  }
}
