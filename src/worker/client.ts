/**
 * Main-thread side of the worker boundary: an HmiRuntimeApi whose every call runs in a module
 * Worker. Calls in flight when the worker dies are rejected with WorkerCrashedError and the
 * next call starts a fresh worker (tenants persist in IndexedDB, so it comes back whole).
 */
import * as Comlink from 'comlink';
import type {
  ClassifyOptions,
  ClassifyResult,
  Completion,
  CompletionChunk,
  CompletionCreateParams,
  CompletionRequestOptions,
  CompletionsApi,
  DomainInfo,
  DomainSpec,
  EmbedResult,
  GenerateChunk,
  GenerateOptions,
  HmiRuntimeApi,
  MetricsSnapshot,
  ModelInput,
  ProgressCallback,
  RuntimeInfo,
  ScoreResult,
  SyntheticTenantsOptions,
  TenantInfo,
  TenantInput,
  TrainProgressCallback,
  TrainResult,
  TrainSpec,
} from '../runtime/api.js';
import { InvalidInputError, RuntimeDisposedError, TrainingAbortedError } from '../runtime/errors.js';
import { WorkerCrashedError } from './errors.js';
import { fromWireError, isWireError, pickRemoteOptions, type PullStream, type RemoteRuntimeOptions, type WorkerHostApi } from './protocol.js';

export interface WorkerRuntimeOptions extends RemoteRuntimeOptions {
  /** Model loading progress; called again if the worker is restarted after a crash. */
  readonly onProgress?: ProgressCallback;
  /** How often the worker is pinged. Default 1000 ms. */
  readonly heartbeatMs?: number;
  /** A ping unanswered for this long means the worker is dead. Default 10000 ms. */
  readonly heartbeatTimeoutMs?: number;
  /** How long a new worker may take to load its code and answer its first ping. Default 60000 ms. */
  readonly startupTimeoutMs?: number;
  /** Makes the Worker; default the runtime worker bundled next to this module. */
  readonly createWorker?: () => Worker;
}

function defaultWorker(): Worker {
  return new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'hmi-runtime' });
}

/** Relative model URLs mean relative to the page, but the worker resolves against its own script. */
function absoluteModel(model: string | undefined): string | undefined {
  if (model === undefined || typeof document === 'undefined') return model;
  return new URL(model, document.baseURI).href;
}

/**
 * A tenant as it crosses to the worker: an adapter location relative to the page becomes
 * absolute (the worker would resolve it against its own script); a ModelSource holds functions
 * and cannot cross at all.
 */
function crossableTenant(t: TenantInput): TenantInput {
  if (typeof t.adapter === 'string') return { ...t, adapter: absoluteModel(t.adapter) ?? t.adapter };
  if (t.adapter !== null && typeof t.adapter === 'object' && typeof (t.adapter as { readBytes?: unknown }).readBytes === 'function') {
    throw new InvalidInputError(`tenant "${t.id}": a ModelSource adapter cannot cross to the worker; give its URL instead`);
  }
  return t;
}

function decode(e: unknown): unknown {
  return isWireError(e) ? fromWireError(e) : e;
}

/** One worker's lifetime: its calls in flight, its heartbeat, and how it ended. */
class Session {
  readonly worker: Worker;
  readonly api: Comlink.Remote<WorkerHostApi>;
  ready: Promise<Session> | null = null;
  crash: WorkerCrashedError | null = null;
  private closed = false;
  private readonly pending = new Set<(e: Error) => void>();
  private readonly timer: ReturnType<typeof setInterval>;
  private pingSentAt: number | null = null;
  private answered = false;

  constructor(
    create: () => Worker,
    heartbeatMs: number,
    timeoutMs: number,
    startupMs: number,
    private readonly onCrash: (s: Session) => void,
  ) {
    this.worker = create();
    this.worker.addEventListener('error', (ev) => {
      ev.preventDefault();
      this.fail(ev.message ? `uncaught error in the worker: ${ev.message}` : 'the worker script failed to load');
    });
    this.worker.addEventListener('messageerror', () => this.fail('a message from the worker could not be deserialized'));
    this.api = Comlink.wrap<WorkerHostApi>(this.worker);
    const born = Date.now();
    this.timer = setInterval(() => this.beat(born, timeoutMs, startupMs), heartbeatMs);
    this.beat(born, timeoutMs, startupMs);
  }

  private beat(born: number, timeoutMs: number, startupMs: number): void {
    const now = Date.now();
    // Only an outstanding ping counts, so throttled timers in a background tab cause no false alarm.
    if (this.pingSentAt !== null) {
      const limit = this.answered ? timeoutMs : Math.max(startupMs, timeoutMs);
      const since = this.answered ? this.pingSentAt : born;
      if (now - since > limit) this.fail(`no heartbeat for ${now - since} ms`);
      return;
    }
    this.pingSentAt = now;
    this.api.ping().then(
      () => {
        this.pingSentAt = null;
        this.answered = true;
      },
      () => undefined,
    );
  }

  /** Settles with `p`, or rejects with WorkerCrashedError if the worker dies first. */
  track<T>(p: Promise<T>): Promise<T> {
    if (this.crash) return Promise.reject(new WorkerCrashedError(this.crash.reason));
    return new Promise<T>((resolve, reject) => {
      const fail = (e: Error) => reject(e);
      this.pending.add(fail);
      p.then(
        (v) => {
          this.pending.delete(fail);
          resolve(v);
        },
        (e: unknown) => {
          this.pending.delete(fail);
          reject(decode(e));
        },
      );
    });
  }

  fail(reason: string): void {
    if (this.crash || this.closed) return;
    this.crash = new WorkerCrashedError(reason);
    this.close();
    for (const reject of this.pending) reject(new WorkerCrashedError(reason));
    this.pending.clear();
    this.onCrash(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.worker.terminate();
  }
}

/** The runtime behind a worker boundary, with the same API as the in-process one. */
export class WorkerRuntime implements HmiRuntimeApi {
  private current: Session | null = null;
  private disposed = false;
  private crashes = 0;
  private readonly remoteOptions: RemoteRuntimeOptions;

  readonly domains: HmiRuntimeApi['domains'] = {
    add: (spec: DomainSpec) => this.call((api) => api.addDomain(spec)),
    list: () => this.call((api) => api.listDomains()) as Promise<DomainInfo[]>,
    build: (id: string, corpus: readonly string[] | readonly (readonly number[])[], onProgress?: ProgressCallback) =>
      this.call((api) => api.buildDomain(id, corpus, onProgress && Comlink.proxy(onProgress))),
    rebuild: (id?: string, onProgress?: ProgressCallback) =>
      this.call((api) => api.rebuildDomains(id, onProgress && Comlink.proxy(onProgress))),
    deviation: (id: string, corpus: readonly string[] | readonly (readonly number[])[], onProgress?: ProgressCallback) =>
      this.call((api) => api.domainDeviation(id, corpus, onProgress && Comlink.proxy(onProgress))),
  };

  readonly tenants: HmiRuntimeApi['tenants'] = {
    add: (spec: TenantInput | readonly TenantInput[], onProgress?: ProgressCallback) => {
      let wire: TenantInput[];
      try {
        wire = (Array.isArray(spec) ? (spec as readonly TenantInput[]) : [spec as TenantInput]).map(crossableTenant);
      } catch (e) {
        return Promise.reject(e);
      }
      return this.call((api) => api.addTenants(wire, onProgress && Comlink.proxy(onProgress)));
    },
    addSynthetic: (options: SyntheticTenantsOptions, onProgress?: ProgressCallback) =>
      this.call((api) => api.addSyntheticTenants(options, onProgress && Comlink.proxy(onProgress))),
    remove: (id: string) => this.call((api) => api.removeTenant(id)),
    list: () => this.call((api) => api.listTenants()) as Promise<TenantInfo[]>,
    train: (spec: TrainSpec, onProgress?: TrainProgressCallback) => this.train(spec, onProgress),
  };

  constructor(private readonly options: WorkerRuntimeOptions = {}) {
    // plotSource is a location like model: relative to the page, not to the worker's script.
    const { onProgress: _p, heartbeatMs: _h, heartbeatTimeoutMs: _t, startupTimeoutMs: _s, createWorker: _c, ...runtimeOptions } = options;
    this.remoteOptions = pickRemoteOptions({ ...runtimeOptions, model: absoluteModel(options.model), plotSource: absoluteModel(options.plotSource) });
  }

  /** How many times the worker has died under this runtime. */
  get crashCount(): number {
    return this.crashes;
  }

  /** Starts the worker now (otherwise the first call does). */
  async start(): Promise<void> {
    await this.session();
  }

  private session(): Promise<Session> {
    if (this.disposed) return Promise.reject(new RuntimeDisposedError());
    if (this.current?.ready && !this.current.crash) return this.current.ready;
    const o = this.options;
    const s = new Session(
      o.createWorker ?? defaultWorker,
      o.heartbeatMs ?? 1000,
      o.heartbeatTimeoutMs ?? 10_000,
      o.startupTimeoutMs ?? 60_000,
      (dead) => {
        this.crashes++;
        if (this.current === dead) this.current = null;
      },
    );
    this.current = s;
    const progress = o.onProgress && Comlink.proxy(o.onProgress);
    s.ready = s.track(s.api.init(this.remoteOptions, progress)).then(() => s);
    s.ready.catch(() => {
      // A runtime that failed to build is useless: drop the worker so the next call retries afresh.
      s.close();
      if (this.current === s) this.current = null;
    });
    return s.ready;
  }

  private async call<T>(f: (api: Comlink.Remote<WorkerHostApi>) => Promise<T>): Promise<T> {
    const s = await this.session();
    return s.track(f(s.api));
  }

  info(): Promise<RuntimeInfo> {
    return this.call((api) => api.info());
  }

  classify(tenantId: string, input: ModelInput, options?: ClassifyOptions): Promise<ClassifyResult> {
    return this.call((api) => api.classify(tenantId, input, options));
  }

  score(tenantId: string, input: ModelInput): Promise<ScoreResult> {
    return this.call((api) => api.score(tenantId, input));
  }

  embed(tenantId: string, input: ModelInput): Promise<EmbedResult> {
    return this.call((api) => api.embed(tenantId, input));
  }

  metrics(): Promise<MetricsSnapshot> {
    return this.call((api) => api.metrics());
  }

  async *generate(tenantId: string, prompt: ModelInput, options: GenerateOptions = {}): AsyncGenerator<GenerateChunk> {
    const { signal, ...wireOptions } = options;
    const s = await this.session();
    const stream = await s.track(s.api.generate(tenantId, prompt, wireOptions));
    yield* this.read(s, stream, signal);
  }

  /** OpenAI-style completions, run by the worker's runtime; streams arrive pull by pull. */
  readonly completions: CompletionsApi = {
    create: ((params: CompletionCreateParams, options?: CompletionRequestOptions) => this.createCompletion(params, options)) as CompletionsApi['create'],
  };

  private nextCallId = 0;

  private async createCompletion(params: CompletionCreateParams, options?: CompletionRequestOptions): Promise<Completion | AsyncIterable<CompletionChunk>> {
    const signal = options?.signal;
    const s = await this.session();
    const callId = ++this.nextCallId;
    type Remote = Comlink.Remote<PullStream<CompletionChunk>>;
    // Posted before any abort(callId): an abort sent first would find nothing to stop and be lost.
    const call = s.api.createCompletion(params, callId) as Promise<Completion | Remote>;
    const abort = (): void => void s.api.abort(callId).catch(() => undefined);
    signal?.addEventListener('abort', abort, { once: true });
    if (signal?.aborted) abort();
    try {
      const r = await s.track(call);
      // A comlink proxy is a function; a whole completion arrives as a plain object.
      return typeof r === 'function' ? this.read(s, r, signal) : (r as Completion);
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  /**
   * tenants.train in the worker. The signal stays here: its abort reaches the worker's training
   * as abort(callId), which the worker's runtime answers with TrainingAbortedError.
   */
  private async train(spec: TrainSpec, onProgress?: TrainProgressCallback): Promise<TrainResult> {
    const { signal, ...wire } = spec;
    // Aborted before it started: nothing to stop in the worker, and nothing is stored.
    if (signal?.aborted) throw new TrainingAbortedError(spec.id);
    const s = await this.session();
    const callId = ++this.nextCallId;
    // comlink posts the call at once, so an abort sent after this line finds it registered there.
    const call = s.api.trainTenant(wire, callId, onProgress && Comlink.proxy(onProgress));
    const abort = (): void => void s.api.abort(callId).catch(() => undefined);
    signal?.addEventListener('abort', abort, { once: true });
    // Aborted while the worker was starting.
    if (signal?.aborted) abort();
    try {
      return await s.track(call);
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  /** Pulls a worker-side stream to its end; an abort or an early exit cancels it in the worker. */
  private async *read<T>(s: Session, stream: Comlink.Remote<PullStream<T>>, signal: AbortSignal | undefined): AsyncGenerator<T> {
    const cancel = (): void => void stream.cancel().catch(() => undefined);
    signal?.addEventListener('abort', cancel, { once: true });
    if (signal?.aborted) cancel();
    let finished = false;
    try {
      for (;;) {
        const { chunks, done } = await s.track(stream.pull());
        for (const c of chunks) yield c;
        if (done) {
          finished = true;
          return;
        }
      }
    } finally {
      signal?.removeEventListener('abort', cancel);
      if (!s.crash) {
        // The consumer stopped early (break/throw): stop the generation in the worker too.
        if (!finished) cancel();
        stream[Comlink.releaseProxy]();
      }
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const s = this.current;
    this.current = null;
    if (!s) return;
    try {
      await s.ready;
      await s.track(s.api.dispose());
    } catch {
      // Disposing a runtime that failed or crashed has nothing left to release but the worker.
    } finally {
      s.close();
    }
  }

  /** Makes the worker stop without a word, as a crash would: the heartbeat must notice. */
  crashWorkerForTesting(): void {
    void this.current?.api.crashForTesting();
  }
}

/** Starts a runtime in a module Worker and resolves once its model is loaded. */
export async function createWorkerRuntime(options: WorkerRuntimeOptions = {}): Promise<WorkerRuntime> {
  const runtime = new WorkerRuntime(options);
  await runtime.start();
  return runtime;
}
