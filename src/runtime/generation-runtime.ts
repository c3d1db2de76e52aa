import { DeviceLostError, HmiError } from '../errors.js';
import { matmulChoices } from '../gpu/autotune.js';
import type { LoadedModel, ModelSource } from '../formats/model-source.js';
import type { HmiTokenizer } from '../formats/tokenizer.js';
import type { Gpt2Config } from '../model/config.js';
import type { TenantStore } from '../knowledge/task/store.js';
import { MemoryTenantStore } from '../knowledge/task/store-memory.js';
import { IdbTenantStore } from '../knowledge/task/store-idb.js';
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
  ScoreResult,
} from './api.js';
import { createCompletions } from './completions.js';
import { RuntimeDomains, runtimePlotStore } from './domains.js';
import type { PlotSequence, PreparedBatch } from '../knowledge/domain/assembler.js';
import type { BatchSegment } from '../knowledge/task/multi-lora.js';
import type { StepEntry } from '../model/gpt2.js';
import { InvalidInputError, RequestFailedError, RuntimeDisposedError, UnknownTenantError } from './errors.js';
import { Channel } from './generation/channel.js';
import { ContinuousBatcher, type FinishReason, type StepSeq } from './generation/continuous-batch.js';
import { KvTooLargeError } from './generation/errors.js';
import { kvTokens } from './generation/kv-blocks.js';
import { createSampler, validateSamplerOptions, type SamplerOptions } from './generation/sampler.js';
import { StopStringMatcher } from './generation/stop.js';
import { TokenRate } from './generation/token-rate.js';
import { GenerationEngine, type GenerationEngineSpec } from './generation-engine.js';
import { Metrics } from './metrics.js';
import type { RuntimeOptions } from './runtime.js';
import { TenantRegistry } from './tenant-registry.js';
import { TenantBusyError } from './errors.js';
import { toTokenIds } from './input.js';

/** How long a request waits on a slow store before it fails with the store's error. */
const STORE_GIVE_UP_MS = 30_000;

export type GenerationRuntimeOptions = RuntimeOptions;

/** GenerateOptions.maxTokens when omitted (OpenAI's completions default). */
const DEFAULT_MAX_TOKENS = 16;

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

const unsupported = (what: string): HmiError => new HmiError('UNSUPPORTED', `${what} needs an hBERT model; this runtime serves hGPT (gpt2) generation`);

/** A generate() call, checked and tokenized before any GPU work. */
interface Prepared {
  readonly tenantId: string;
  readonly ids: readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplerOptions;
  readonly stop: readonly string[];
}

/** A request in flight: how the runtime ends it from outside (tenant removed, runtime disposed). */
interface Live {
  readonly tenantId: string;
  readonly controller: AbortController;
  /** Why the runtime aborted it; undefined = the caller's signal or an early return. */
  error?: unknown;
}

/** What a step needs to know of one of its sequences beyond its StepSeq. */
interface SeqState {
  /** The tenant's domain at the sequence's prefill; '' = all layers. Fixed for its life. */
  readonly domain: string;
  /** The last two ids fed so far: they complete the tri-gram keys of the next fed tokens. */
  readonly tail: readonly number[];
}

/** Rows of one tenant are adjacent in a step (the batcher groups them): one LoRA segment each. */
function segmentsOf(seqs: readonly StepSeq[]): BatchSegment[] {
  const segments: { tenantId: string; rowStart: number; rowCount: number }[] = [];
  let row = 0;
  for (const s of seqs) {
    const tenantId = s.group as string;
    const last = segments[segments.length - 1];
    if (last && last.tenantId === tenantId) last.rowCount += s.ids.length;
    else segments.push({ tenantId, rowStart: row, rowCount: s.ids.length });
    row += s.ids.length;
  }
  return segments;
}

/**
 * ln p(ids[t+1] | ids[..t]) from the logits of each position (row t predicts token t+1), as a
 * log-softmax in f64: max-shifted, so no row overflows.
 */
function scoreOf(tenantId: string, ids: readonly number[], logits: ArrayLike<number>, V: number): ScoreResult {
  const logprobs = new Float32Array(ids.length - 1);
  let total = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const o = t * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[o + v] > max) max = logits[o + v];
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[o + v] - max);
    const lp = logits[o + ids[t + 1]] - max - Math.log(sum);
    logprobs[t] = lp;
    total += lp;
  }
  const meanLogprob = total / logprobs.length;
  return { tenantId, tokens: ids.length, logprobs, meanLogprob, perplexity: Math.exp(-meanLogprob) };
}

/** One engine and the decode loop that feeds it; replaced together when the device is lost. */
interface Lane {
  readonly engine: GenerationEngine;
  readonly batcher: ContinuousBatcher;
}

/**
 * The hGPT runtime: many tenants' generation requests decoded together by continuous batching.
 * Each step is one forward pass over every active request of every tenant (rows grouped by
 * tenant into segments for the batched LoRA) — two when tenants naming a domain share it, whose
 * rows take their lower layers from PLOT (hPLM two-phase inference) —, requests join between steps with their prompt
 * prefilled in the same pass, and leave as soon as they finish, returning their KV blocks.
 * Admission is by KV budget: a request waits while the paged cache is short and is rejected
 * with KvTooLargeError only if it could never fit. A tenant's adapter is paged into the GPU pool
 * and pinned from before its request's first step until the request ends.
 */
export class GenerationRuntime implements HmiRuntimeApi {
  private readonly registry: TenantRegistry;
  private readonly rate = new TokenRate(now);
  private readonly live = new Set<Live>();
  /** Requests waiting for adapter-pool room, woken whenever a pin is released. */
  private pinWaiters: (() => void)[] = [];
  /** The pending adapter load of each tenant (see ensureOne). */
  private readonly loading = new Map<string, Promise<void>>();
  private recovering: Promise<void> | null = null;
  private disposed = false;
  readonly completions: CompletionsApi;

  private lane: Lane;

  private constructor(
    engine: GenerationEngine,
    private readonly spec: GenerationEngineSpec,
    private readonly tokenizer: HmiTokenizer,
    private readonly modelId: string,
    private readonly modelHash: string,
    private readonly metricsState: Metrics,
    readonly split: number,
    store: TenantStore,
    options: GenerationRuntimeOptions,
    private readonly maxStepTokens: number,
    private readonly domainState: RuntimeDomains,
  ) {
    this.registry = new TenantRegistry(
      store,
      { config: spec.config, split, modelId, modelHash, dtype: options.adapterDtype ?? 'f32' },
      {
        checkFits: (id, adapter) => this.lane.engine.pool.checkFits(id, adapter),
        checkDomain: (domain, adapter) => this.domainState.checkTenant(domain, adapter),
        invalidate: (id) => this.lane.engine.residency.invalidate(id),
        removed: (id) => {
          for (const l of this.live) if (l.tenantId === id) this.end(l, new UnknownTenantError(id));
        },
        isResident: (id) => this.lane.engine.pool.has(id),
      },
      metricsState,
    );
    this.tenants = this.registry.api(() => this.alive());
    this.domains = this.domainState.api(() => this.alive(), () => this.lane.engine.assembler);

    this.lane = this.makeLane(engine);
    this.completions = createCompletions({
      generate: (tenantId, prompt, o) => this.generate(tenantId, prompt, o),
      promptTokens: (text) => this.tokenizer.encode(text).length,
    });
  }

  get config(): Gpt2Config {
    return this.spec.config;
  }

  static async create(gpu: GPU, loaded: LoadedModel & { readonly config: Gpt2Config }, source: ModelSource, options: GenerationRuntimeOptions = {}): Promise<GenerationRuntime> {
    options.onProgress?.({ phase: 'model', done: 1, total: 2 });
    const store = options.store ?? (typeof indexedDB !== 'undefined' ? new IdbTenantStore() : new MemoryTenantStore());
    const metrics = new Metrics(now);
    const tokenBudget = options.tokenBudget ?? 512;
    const maxActive = options.maxActive ?? 64;
    if (!Number.isInteger(maxActive) || maxActive < 1) throw new InvalidInputError(`maxActive must be an integer >= 1, got ${maxActive}`);
    const split = options.split ?? Math.floor(loaded.config.numLayers / 2);
    if (!Number.isInteger(split) || split < 0 || split > loaded.config.numLayers) {
      throw new InvalidInputError(`split must be an integer in 0..${loaded.config.numLayers}, got ${split}`);
    }
    const plotStore = runtimePlotStore(options, loaded.hash);
    let runtime: GenerationRuntime | undefined;
    const domains = new RuntimeDomains(loaded.config, split, loaded.hash, loaded.tokenizer, (node, windows) => runtime!.lane.engine.windows.compute(node, windows), plotStore, options.plotPolicy);
    const spec: GenerationEngineSpec = {
      gpu,
      config: loaded.config,
      weights: loaded.weights,
      store,
      registration: (id) => ({ exists: runtime?.registry.get(id) !== undefined, generation: runtime?.registry.generation(id) ?? 0 }),
      ...(options.storeWaitMs !== undefined ? { storeWaitMs: options.storeWaitMs } : {}),
      ...(options.poolBytes !== undefined ? { poolBytes: options.poolBytes } : {}),
      ...(options.kvBytes !== undefined ? { kvBytes: options.kvBytes } : {}),
      ...(options.kvBlockTokens !== undefined ? { kvBlockTokens: options.kvBlockTokens } : {}),
      ...(options.autotune !== undefined ? { autotune: options.autotune } : {}),
      tokenBudget,
      maxActive,
      metrics,
      split,
      domains: () => domains,
      plotCacheSlots: options.plotCacheSlots ?? 4 * tokenBudget,
    };
    const engine = await GenerationEngine.create(spec);
    try {
      runtime = new GenerationRuntime(
        engine,
        spec,
        loaded.tokenizer,
        source.describe(),
        loaded.hash,
        metrics,
        split,
        store,
        options,
        tokenBudget,
        domains,
      );
      await runtime.registry.load();
    } catch (e) {
      engine.destroy();
      throw e;
    }
    runtime.watch(engine);
    options.onProgress?.({ phase: 'ready', done: 1, total: 1 });
    return runtime;
  }

  /**
   * The engine's decode loop. A step's rows of tenants without a domain run all layers in one
   * pass; rows of domain tenants run a second pass: phase 1 gathers their split state from PLOT
   * (a prompt's keys over the prompt, a decode row's key over its last three ids), phase 2 only
   * the upper layers. The PLOT rows' prefetch (lookups, chunk loads, misses computed by the
   * window model) runs while the full pass computes; it cannot start during the previous step,
   * whose sampled tokens are the keys' last ids.
   */
  private makeLane(engine: GenerationEngine): Lane {
    const V = this.spec.config.vocabSize;
    let states = new Map<number, SeqState>();
    const step = async (batch: readonly StepSeq[]): Promise<Float32Array[]> => {
      // Every active sequence is in every step, so the states of this step's sequences are all that stay.
      const next = new Map<number, SeqState>();
      const full: number[] = [];
      const plot: number[] = [];
      const plotSeqs: PlotSequence[] = [];
      batch.forEach((s, i) => {
        const prior = s.past > 0 ? states.get(s.seqId) : undefined;
        const domain = prior?.domain ?? this.registry.get(s.group as string)?.domain ?? '';
        const tail = prior?.tail ?? [];
        next.set(s.seqId, { domain, tail: [...tail, ...s.ids].slice(-2) });
        if (domain === '') {
          full.push(i);
        } else {
          plot.push(i);
          plotSeqs.push({ ids: s.ids, domain, ...(tail.length ? { context: tail } : {}) });
        }
      });
      states = next;
      const prefetch: Promise<PreparedBatch> | undefined = plotSeqs.length ? engine.assembler.prefetch(plotSeqs) : undefined;
      // Awaited only after the full pass; until then a failure must not count as unhandled.
      prefetch?.catch(() => undefined);
      const entries = (idx: readonly number[]): StepEntry[] => idx.map((i) => ({ seqId: batch[i].seqId, ids: batch[i].ids, ...(batch[i].allLogits ? { allLogits: true } : {}) }));
      const out = new Array<Float32Array>(batch.length);
      // A scoring prefill gets the rows of all its tokens, every other sequence its last token's.
      const scatter = (idx: readonly number[], logits: Float32Array): void => {
        let row = 0;
        for (const i of idx) {
          const n = batch[i].allLogits ? batch[i].ids.length : 1;
          out[i] = logits.subarray(row * V, (row + n) * V);
          row += n;
        }
      };
      try {
        if (full.length) {
          engine.lora.setBatch(segmentsOf(full.map((i) => batch[i])));
          scatter(full, await engine.model.step(engine.kv, entries(full), engine.lora));
        }
      } catch (e) {
        void prefetch?.then((p) => engine.assembler.release(p), () => undefined);
        throw e;
      }
      if (prefetch) {
        const prepared = await prefetch;
        engine.lora.setBatch(segmentsOf(plot.map((i) => batch[i])));
        scatter(plot, await engine.stepPlot(entries(plot), prepared));
      }
      // Tokens generated: a scoring prefill samples none.
      this.rate.add(batch.filter((s) => !s.allLogits).length);
      return out;
    };
    const batcher = new ContinuousBatcher({ kv: engine.kv, step, maxActive: this.spec.maxActive, maxStepTokens: this.maxStepTokens });
    return { engine, batcher };
  }

  /** Recovers when the device is lost while no step runs (idle tab, driver reset). */
  private watch(engine: GenerationEngine): void {
    void engine.ctx.lost.then(() => {
      if (!this.disposed && engine === this.lane.engine && !engine.ctx.isDestroyed) void this.recover(engine).catch(() => undefined);
    });
  }

  /** Builds a new engine once per loss; concurrent callers share the same recovery. */
  private recover(lost: GenerationEngine): Promise<void> {
    if (lost !== this.lane.engine) return this.recovering ?? Promise.resolve();
    this.recovering ??= (async () => {
      try {
        const old = this.lane;
        // Sequences still in the old loop fail on its lost device; let them drain before its buffers go.
        await old.batcher.idle().catch(() => undefined);
        try {
          old.engine.destroy();
        } catch {
          // Already lost: destroying what is left is best effort.
        }
        const engine = await GenerationEngine.create(this.spec);
        this.lane = this.makeLane(engine);
        this.metricsState.deviceRecoveries++;
        this.watch(engine);
      } finally {
        this.recovering = null;
      }
    })();
    return this.recovering;
  }

  async info(): Promise<RuntimeInfo> {
    this.alive();
    const { engine } = this.lane;
    return {
      family: 'gpt2',
      modelId: this.modelId,
      modelHash: this.modelHash,
      hiddenSize: this.config.hiddenSize,
      numLayers: this.config.numLayers,
      splitLayer: this.split,
      adapter: `${engine.ctx.adapterInfo.vendor} ${engine.ctx.adapterInfo.architecture}`.trim() || 'unknown',
      matmulVariants: matmulChoices(engine.ctx),
    };
  }

  readonly domains: HmiRuntimeApi['domains'];
  readonly tenants: HmiRuntimeApi['tenants'];

  classify(_tenantId: string, _input: ModelInput, _options?: ClassifyOptions): Promise<ClassifyResult> {
    return Promise.reject(unsupported('classification'));
  }

  embed(_tenantId: string, _input: ModelInput): Promise<EmbedResult> {
    return Promise.reject(unsupported('embedding'));
  }

  /**
   * Streams the tenant's continuation of the prompt, one chunk per generated token; the last
   * chunk has done = true and the finish reason. A stop token ends generation with its chunk
   * (its text left out), a stop string with the text before it. Aborting the signal (or leaving
   * the loop early) ends the request at once and frees its KV blocks; an abort yields a last
   * chunk with tokenId -1. Bad input rejects on the first next(), before any GPU work.
   */
  generate(tenantId: string, prompt: ModelInput, options: GenerateOptions = {}): AsyncIterable<GenerateChunk> {
    return this.stream(tenantId, prompt, options);
  }

  private async *stream(tenantId: string, prompt: ModelInput, options: GenerateOptions): AsyncGenerator<GenerateChunk, void, undefined> {
    let req: Prepared;
    try {
      req = this.prepare(tenantId, prompt, options);
    } catch (e) {
      this.metricsState.requestsRejected++;
      throw e;
    }
    const live: Live = { tenantId, controller: new AbortController() };
    const onAbort = (): void => live.controller.abort();
    options.signal?.addEventListener('abort', onAbort);
    if (options.signal?.aborted) live.controller.abort();
    this.live.add(live);
    const out = new Channel<GenerateChunk>();
    const task = this.run(req, live, out).then(
      () => out.close(),
      (e) => {
        this.metricsState.requestsRejected++;
        out.fail(e);
      },
    );
    try {
      yield* out;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      live.controller.abort();
      await task;
      this.live.delete(live);
    }
  }

  /** Every check that needs no GPU: tenant, prompt, options, and whether the KV pool could ever hold the request. */
  private prepare(tenantId: string, prompt: ModelInput, o: GenerateOptions): Prepared {
    this.alive();
    if (!this.registry.get(tenantId)) throw new UnknownTenantError(tenantId);
    const ids = this.tokenize(prompt);
    const maxTokens = o.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InvalidInputError(`maxTokens must be an integer >= 0, got ${maxTokens}`);
    const P = this.config.maxPositions;
    // The last generated token is never fed back, so it needs no position.
    if (ids.length + maxTokens - 1 > P) throw new InvalidInputError(`${ids.length} prompt tokens + ${maxTokens} new exceed the model's ${P} positions`);
    const V = this.config.vocabSize;
    for (const id of o.stopTokenIds ?? []) if (!Number.isInteger(id) || id < 0 || id >= V) throw new InvalidInputError(`stop token id ${id} is outside the vocabulary 0..${V - 1}`);
    const sampling: SamplerOptions = {
      ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
      ...(o.topK !== undefined ? { topK: o.topK } : {}),
      ...(o.topP !== undefined ? { topP: o.topP } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.stopTokenIds ? { stopTokenIds: o.stopTokenIds } : {}),
    };
    validateSamplerOptions(sampling);
    const stop = o.stop ?? [];
    if (!Array.isArray(stop)) throw new InvalidInputError('stop must be an array of strings');
    new StopStringMatcher(stop);
    const kv = this.lane.engine.kv;
    const tokens = kvTokens(ids.length, maxTokens);
    const blocks = kv.blocks.blocksFor(tokens);
    if (blocks > kv.numBlocks) throw new KvTooLargeError(tokens, blocks, kv.numBlocks);
    return { tenantId, ids, maxTokens, sampling, stop };
  }

  private tokenize(input: ModelInput): number[] {
    return toTokenIds(input, this.tokenizer, this.config, 'prompt', true);
  }

  /**
   * Drives one request to its end, pushing chunks as tokens come. If the device is lost under
   * it, the runtime recovers and the request continues once on the new engine from its prompt
   * plus the tokens it already streamed, with the same sampler (so a seeded request's output is
   * as if nothing happened); a second loss rejects it with DeviceLostError.
   */
  private async run(req: Prepared, live: Live, out: Channel<GenerateChunk>): Promise<void> {
    const start = now();
    const signal = live.controller.signal;
    const decoder = this.tokenizer.createStreamDecoder();
    const stopText = new StopStringMatcher(req.stop);
    const stopIds = new Set(req.sampling.stopTokenIds ?? []);
    // One sampler for the request's whole life: a restart continues its random stream.
    const sampler = createSampler(req.sampling);
    const generated: number[] = [];
    let ended = false;
    const emitEnd = (tokenId: number, text: string, reason: GenerateChunk['finishReason']): void => {
      ended = true;
      out.push({ tokenId, text: text + (stopText.stopped ? '' : stopText.flush()), done: true, finishReason: reason });
    };
    const onToken = (id: number): boolean => {
      generated.push(id);
      if (stopIds.has(id)) {
        // The stop token's own text is not part of the output.
        const rest = stopText.push(decoder.flush());
        emitEnd(id, rest.text, 'stop');
        return true;
      }
      const piece = stopText.push(decoder.push(id));
      if (piece.stopped) {
        emitEnd(id, piece.text, 'stop');
        return true;
      }
      if (generated.length >= req.maxTokens) {
        emitEnd(id, piece.text + stopText.push(decoder.flush()).text, stopText.stopped ? 'stop' : 'length');
        return true;
      }
      out.push({ tokenId: id, text: piece.text, done: false });
      return false;
    };

    // A request that already streamed its end cannot be re-run after a device loss.
    const reason: FinishReason =
      (await this.pinned(
        req.tenantId,
        signal,
        () => !ended,
        async (batcher) => {
          const remaining = req.maxTokens - generated.length;
          if (remaining === 0) return 'length';
          return (
            await batcher.generate({
              promptIds: [...req.ids, ...generated],
              maxNewTokens: remaining,
              sampler,
              signal,
              group: req.tenantId,
              onToken,
            })
          ).finishReason;
        },
      )) ?? 'cancelled';
    if (reason === 'cancelled') {
      if (live.error !== undefined) throw live.error;
      if (!ended) emitEnd(-1, decoder.flush(), 'abort');
    } else if (!ended) {
      emitEnd(generated[generated.length - 1] ?? -1, decoder.flush(), 'length');
    }
    this.metricsState.recordBatch([{ tenantId: req.tenantId, tokens: generated.length, latencyMs: now() - start }]);
  }

  /**
   * Runs `body` on the current lane's batcher with the tenant's adapter pinned on its engine
   * for the whole call; null = the signal aborted before the pin. If the device is lost under
   * it (and `mayRetry()` still holds), the runtime recovers and runs `body` once more on the new
   * engine; a second loss rejects with DeviceLostError.
   */
  private async pinned<T>(tenantId: string, signal: AbortSignal, mayRetry: () => boolean, body: (batcher: ContinuousBatcher) => Promise<T>): Promise<T | null> {
    for (let attempt = 0; ; attempt++) {
      if (this.recovering) await this.recovering;
      this.alive();
      const { engine, batcher } = this.lane;
      try {
        if (!(await this.pin(engine, tenantId, signal))) return null;
        try {
          return await body(batcher);
        } finally {
          engine.residency.unpin([tenantId]);
          this.wakePinWaiters();
        }
      } catch (e) {
        if (!this.disposed && mayRetry() && (await engine.failedByLoss())) {
          if (attempt > 0) throw new DeviceLostError('lost twice', 'the GPU device was lost again while re-running this request');
          await this.recover(engine);
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * The tenant's log-probability of each token of the input given those before it. The input
   * goes through generate()'s admission (tenant, ids, positions, KV budget; then the queue, the
   * adapter pin, the step token budget) and rides in a decode step as a prefill whose every
   * row's logits are read back; log-softmax runs here in f64.
   */
  async score(tenantId: string, input: ModelInput): Promise<ScoreResult> {
    let ids: number[];
    try {
      ids = this.prepareScore(tenantId, input);
    } catch (e) {
      this.metricsState.requestsRejected++;
      throw e;
    }
    const start = now();
    const live: Live = { tenantId, controller: new AbortController() };
    this.live.add(live);
    try {
      const r = await this.pinned(tenantId, live.controller.signal, () => true, (batcher) => batcher.prefill({ promptIds: ids, signal: live.controller.signal, group: tenantId }));
      // Only the runtime aborts a score (tenant removed, runtime disposed), and it says why.
      if (r === null || r.finishReason === 'cancelled') throw live.error ?? new RequestFailedError(`the score request of tenant ${tenantId} was cancelled`);
      const result = scoreOf(tenantId, ids, r.logits, this.config.vocabSize);
      this.metricsState.recordBatch([{ tenantId, tokens: ids.length, latencyMs: now() - start }]);
      return result;
    } catch (e) {
      this.metricsState.requestsRejected++;
      throw e;
    } finally {
      this.live.delete(live);
    }
  }

  /** score()'s checks before any GPU work, as prepare()'s for generate(). */
  private prepareScore(tenantId: string, input: ModelInput): number[] {
    this.alive();
    if (!this.registry.get(tenantId)) throw new UnknownTenantError(tenantId);
    const ids = toTokenIds(input, this.tokenizer, this.config, 'input', true);
    if (ids.length < 2) throw new InvalidInputError('scoring needs at least 2 tokens: the first has no context to be predicted from');
    const kv = this.lane.engine.kv;
    const tokens = kvTokens(ids.length, 1);
    const blocks = kv.blocks.blocksFor(tokens);
    if (blocks > kv.numBlocks) throw new KvTooLargeError(tokens, blocks, kv.numBlocks);
    return ids;
  }

  /**
   * Pages the tenant's adapter in and pins it on `engine`. While the adapter pool is full of
   * other requests' pinned tenants, waits for one of them to end. false = aborted meanwhile.
   */
  private async pin(engine: GenerationEngine, tenantId: string, signal: AbortSignal): Promise<boolean> {
    const start = now();
    for (;;) {
      if (signal.aborted) return false;
      const e = (await this.ensureOne(engine, tenantId)).get(tenantId);
      if (e === undefined) {
        if (!signal.aborted) return true;
        engine.residency.unpin([tenantId]);
        this.wakePinWaiters();
        return false;
      }
      // A slow store (its read goes on) or a re-registration mid-read: ask again.
      if (engine.residency.deferrable(e) && now() - start < STORE_GIVE_UP_MS) continue;
      if (e instanceof TenantBusyError) continue;
      if (!engine.residency.retryable(e) || engine.pool.stats().pinnedTenants === 0) throw e;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        signal.addEventListener('abort', wake);
        this.pinWaiters.push(wake);
      });
    }
  }

  /**
   * TaskResidency.ensure, one call per tenant at a time: two concurrent misses of one tenant
   * would both load it, and the second load cannot replace the copy the first one pinned.
   */
  private ensureOne(engine: GenerationEngine, tenantId: string): Promise<Map<string, unknown>> {
    const prior = this.loading.get(tenantId) ?? Promise.resolve();
    const run = prior.then(() => engine.residency.ensure([tenantId]));
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.loading.set(tenantId, settled);
    void settled.then(() => {
      if (this.loading.get(tenantId) === settled) this.loading.delete(tenantId);
    });
    return run;
  }

  private wakePinWaiters(): void {
    const waiters = this.pinWaiters;
    this.pinWaiters = [];
    for (const w of waiters) w();
  }

  /** Ends a request from the runtime's side; its stream rejects with `error`. */
  private end(l: Live, error: unknown): void {
    l.error ??= error;
    l.controller.abort();
  }

  async metrics(): Promise<MetricsSnapshot> {
    const m = this.metricsState;
    const { engine, batcher } = this.lane;
    const pool = engine.pool.stats();
    const lookups = m.poolHits + m.poolMisses;
    return {
      requestsPerSecond: m.rates().requestsPerSecond,
      tokensPerSecond: this.rate.perSecond(),
      tenantsRegistered: this.registry.size,
      tenantsResident: pool.residentTenants,
      queueDepth: batcher.waitingCount + this.pinWaiters.length,
      p50Ms: m.latency.percentile(50),
      p99Ms: m.latency.percentile(99),
      poolBytesUsed: pool.bytesUsed,
      poolBytesTotal: pool.bytesTotal,
      poolHitRate: lookups ? m.poolHits / lookups : 0,
      bytesUploaded: pool.bytesUploaded,
      requestsServed: m.requestsServed,
      requestsRejected: m.requestsRejected,
      plotHitRate: engine.assembler.hitRate,
      kvBytesUsed: engine.kv.bytesUsed,
      kvBytesTotal: engine.kv.bytesTotal,
      deviceRecoveries: m.deviceRecoveries,
      prefetchHidden: 0,
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.live) this.end(l, new RuntimeDisposedError());
    this.wakePinWaiters();
    if (this.recovering) await this.recovering.catch(() => undefined);
    await this.lane.batcher.idle().catch(() => undefined);
    this.lane.engine.destroy();
  }

  private alive(): void {
    if (this.disposed) throw new RuntimeDisposedError();
  }
}
