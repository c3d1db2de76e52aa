/**
 * The worker side: owns one runtime and exposes it over comlink. Kept apart from the entry
 * (worker.ts) so tests can host a fake runtime behind the very same boundary.
 */
import * as Comlink from 'comlink';
import type { HmiRuntimeApi, ProgressCallback, TrainProgress } from '../runtime/api.js';
import { HmiError } from '../errors.js';
import { toWireError, type Pulled, type PullStream, type RemoteRuntimeOptions, type WorkerHostApi } from './protocol.js';

export type RuntimeFactory = (options: RemoteRuntimeOptions, onProgress?: ProgressCallback) => Promise<HmiRuntimeApi>;

class NotInitializedError extends HmiError {
  constructor() {
    super('WORKER_NOT_INITIALIZED', 'the worker has no runtime yet: call init() first');
  }
}

/** Runs a stream eagerly and hands out whatever chunks have accumulated on each pull. */
class ChunkPump<T> implements PullStream<T> {
  private readonly buffered: T[] = [];
  private finished = false;
  private failure: unknown = null;
  private wake: (() => void) | null = null;
  private started = false;

  constructor(
    private readonly iterable: AsyncIterable<T>,
    private readonly controller: AbortController,
  ) {}

  private async run(): Promise<void> {
    try {
      for await (const chunk of this.iterable) {
        this.buffered.push(chunk);
        this.notify();
      }
    } catch (e) {
      this.failure = e;
    }
    this.finished = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async pull(): Promise<Pulled<T>> {
    if (!this.started) {
      this.started = true;
      void this.run();
    }
    while (this.buffered.length === 0 && !this.finished) await new Promise<void>((r) => (this.wake = r));
    if (this.buffered.length > 0) return { chunks: this.buffered.splice(0), done: false };
    if (this.failure !== null) throw toWireError(this.failure);
    return { chunks: [], done: true };
  }

  cancel(): void {
    this.controller.abort();
  }
}

function release(cb: unknown): void {
  const p = cb as { [Comlink.releaseProxy]?: () => void } | undefined;
  p?.[Comlink.releaseProxy]?.();
}

/** Wraps a call so that errors cross as WireError (keeping class name, code and fields). */
async function wire<T>(f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw toWireError(e);
  }
}

export function createHost(factory: RuntimeFactory, close: () => void): WorkerHostApi {
  let runtime: HmiRuntimeApi | null = null;
  // Completion requests still being created and trainings running, so a main-thread abort can reach them.
  const aborts = new Map<number, AbortController>();
  const rt = (): HmiRuntimeApi => {
    if (!runtime) throw new NotInitializedError();
    return runtime;
  };
  return {
    init: (options, onProgress) =>
      wire(async () => {
        try {
          // A retried init replaces a half-built runtime rather than leaking it.
          if (runtime) await runtime.dispose();
          runtime = null;
          runtime = await factory(options, onProgress ? (p) => void onProgress(p) : undefined);
        } finally {
          release(onProgress);
        }
      }),
    ping: () => Date.now(),
    info: () => wire(() => rt().info()),
    addDomain: (spec) => wire(() => rt().domains.add(spec)),
    listDomains: () => wire(() => rt().domains.list()),
    buildDomain: (id, corpus, onProgress) =>
      wire(async () => {
        try {
          return await rt().domains.build(id, corpus, onProgress ? (p) => void onProgress(p) : undefined);
        } finally {
          release(onProgress);
        }
      }),
    rebuildDomains: (id, onProgress) =>
      wire(async () => {
        try {
          await rt().domains.rebuild(id, onProgress ? (p) => void onProgress(p) : undefined);
        } finally {
          release(onProgress);
        }
      }),
    domainDeviation: (id, corpus, onProgress) =>
      wire(async () => {
        try {
          return await rt().domains.deviation(id, corpus, onProgress ? (p) => void onProgress(p) : undefined);
        } finally {
          release(onProgress);
        }
      }),
    addTenants: (spec, onProgress) =>
      wire(async () => {
        try {
          await rt().tenants.add(spec, onProgress ? (p) => void onProgress(p) : undefined);
        } finally {
          release(onProgress);
        }
      }),
    addSyntheticTenants: (options, onProgress) =>
      wire(async () => {
        try {
          return await rt().tenants.addSynthetic(options, onProgress ? (p) => void onProgress(p) : undefined);
        } finally {
          release(onProgress);
        }
      }),
    removeTenant: (id) => wire(() => rt().tenants.remove(id)),
    listTenants: () => wire(() => rt().tenants.list()),
    classify: (tenantId, input, options) => wire(() => rt().classify(tenantId, input, options)),
    embed: (tenantId, input) =>
      wire(async () => {
        const r = await rt().embed(tenantId, input);
        return Comlink.transfer(r, [r.hidden.buffer as ArrayBuffer]);
      }),
    score: (tenantId, input) =>
      wire(async () => {
        const r = await rt().score(tenantId, input);
        return Comlink.transfer(r, [r.logprobs.buffer as ArrayBuffer]);
      }),
    generate: (tenantId, prompt, options) => {
      const controller = new AbortController();
      try {
        const iterable = rt().generate(tenantId, prompt, { ...options, signal: controller.signal });
        return Comlink.proxy(new ChunkPump(iterable, controller));
      } catch (e) {
        throw toWireError(e);
      }
    },
    createCompletion: (params, callId) =>
      wire(async () => {
        const controller = new AbortController();
        aborts.set(callId, controller);
        try {
          const r = await rt().completions.create(params, { signal: controller.signal });
          return Symbol.asyncIterator in r ? Comlink.proxy(new ChunkPump(r, controller)) : r;
        } finally {
          aborts.delete(callId);
        }
      }),
    trainTenant: (spec, callId, onProgress) =>
      wire(async () => {
        const controller = new AbortController();
        aborts.set(callId, controller);
        // The progress proxy has a port of its own, so its calls could arrive after the result;
        // each call answers once the caller ran it, in order, so waiting for the last one keeps
        // every progress event ahead of the result (a chart's last point is the last step).
        let delivered: Promise<unknown> = Promise.resolve();
        const report = onProgress
          ? (p: TrainProgress): void => {
              delivered = Promise.resolve(onProgress(p)).catch(() => undefined);
            }
          : undefined;
        try {
          // Cloned back, not transferred: the runtime may still hold the adapter's arrays.
          return await rt().tenants.train({ ...spec, signal: controller.signal }, report);
        } finally {
          aborts.delete(callId);
          await delivered;
          release(onProgress);
        }
      }),
    abort: (callId) => aborts.get(callId)?.abort(),
    metrics: () => wire(() => rt().metrics()),
    dispose: () =>
      wire(async () => {
        const r = runtime;
        runtime = null;
        await r?.dispose();
      }),
    crashForTesting: close,
  };
}

/** Exposes a runtime made by `factory` on the worker's global scope. */
export function exposeRuntime(factory: RuntimeFactory): void {
  const scope = globalThis as unknown as Comlink.Endpoint & { close(): void };
  Comlink.expose(createHost(factory, () => scope.close()), scope);
}
