import type { Metrics } from './metrics.js';
import { QueueFullError } from './errors.js';
import { RequestQueue, type Queued } from './queue.js';
import { formBatch, type BatchPolicy } from './scheduler.js';

/** A queued request with its completion callbacks. */
export interface PendingRequest<R> extends Queued {
  readonly ids: readonly number[];
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** What the pipeline needs from task knowledge (the adapter pool behind it). */
export interface Residency {
  isResident(tenantId: string): boolean;
  /**
   * Makes tenants resident (store read + decode + upload) and pins each one as soon as it is,
   * so later loads of the same batch cannot evict it. Resolves with the tenants that could
   * not be loaded and why; the others are resident and pinned (once per call) when it resolves.
   */
  ensure(tenantIds: readonly string[]): Promise<Map<string, unknown>>;
  unpin(tenantIds: readonly string[]): void;
  /** A failure that may clear once the running batch unpins its tenants (pool full of pins): retried at once. */
  retryable(error: unknown): boolean;
  /** A failure that means "not yet" (a store slower than a batch): the requests wait for a later batch. */
  deferrable(error: unknown): boolean;
  /** Resolves at the next unpin: a tenant refused for want of room (or held by a request) may fit now. */
  released(): Promise<void>;
}

/** How long a request may wait on a slow store before it fails with the store's error. */
export const STORE_GIVE_UP_MS = 30_000;

/** The longest the loop sleeps waiting for an unpin before it tries its deferred requests again. */
const RELEASE_POLL_MS = 250;

/**
 * Optional per-batch preparation that does not depend on residency (PLOT lookups, chunk loads,
 * miss computation), run alongside the adapter loads while the previous batch computes.
 */
export type BatchStager<R, S> = (batch: readonly PendingRequest<R>[]) => Promise<S>;

/**
 * Runs one formed batch on the GPU and settles every request of it. `staged` was prepared for
 * `formed`; `batch` may be a subset of it when some tenants failed to load. `launched` says
 * the batch's GPU work is queued; the next batch's preparation waits for it (or for the end).
 */
export type BatchExecutor<R, S> = (
  batch: readonly PendingRequest<R>[],
  staged: S | undefined,
  formed: readonly PendingRequest<R>[],
  launched: () => void,
) => Promise<void>;

const noop = (): void => undefined;

const tenantsOf = (batch: readonly Queued[]): string[] => [...new Set(batch.map((r) => r.tenantId))];

/**
 * The one admission path of both task heads, and the encoder's serving loop, software-pipelined
 * as the HMI paper's fine-grained pipelining: while batch k runs on the GPU, batch k+1 is
 * formed and its adapters are read from the store, decoded and uploaded, so I/O and CPU work
 * hide behind GPU work. Time spent on that prefetch and the part of it that overlapped a
 * running batch are recorded in the metrics. For the decoder a "batch" is the requests admitted
 * together into its continuous batcher: the executor returns once they have joined it.
 */
export class Pipeline<R, S = undefined> {
  readonly queue: RequestQueue<PendingRequest<R>>;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    capacity: number,
    private readonly policy: BatchPolicy,
    private readonly residency: Residency,
    private readonly execute: BatchExecutor<R, S>,
    private readonly metrics: Metrics,
    private readonly now: () => number,
    private readonly stage?: BatchStager<R, S>,
    /** Requests admitted but still waiting elsewhere (the decoder's KV wait): they count against the capacity. */
    private readonly waitingElsewhere: () => number = () => 0,
  ) {
    this.queue = new RequestQueue(capacity);
  }

  submit(req: PendingRequest<R>): void {
    if (this.stopped) throw new Error('pipeline stopped');
    if (this.queue.size + this.waitingElsewhere() >= this.queue.capacity) throw new QueueFullError(this.queue.capacity);
    this.queue.push(req);
    this.kick();
  }

  /** Puts requests taken before back at the front of their queues (a re-run after a device loss) and wakes the loop. */
  requeue(items: readonly PendingRequest<R>[]): void {
    this.queue.requeue(items);
    if (!this.stopped) this.kick();
  }

  /** Requests are queued or a batch is being formed, loaded or run. */
  get busy(): boolean {
    return this.running !== null || this.queue.size > 0;
  }

  /** Resolves once the loop has nothing left to do. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  stop(reason: unknown): void {
    this.stopped = true;
    for (const r of this.queue.drain()) r.reject(reason);
  }

  private kick(): void {
    if (this.running) return;
    // Start on a microtask so requests submitted in the same tick share the first batch.
    this.running = Promise.resolve()
      .then(() => this.loop())
      .finally(() => {
        this.running = null;
        if (this.queue.size > 0 && !this.stopped) this.kick();
      });
  }

  private form(): PendingRequest<R>[] {
    return formBatch(this.queue, this.policy, (id) => this.residency.isResident(id), this.now());
  }

  private prefetch(batch: PendingRequest<R>[]): { done: Promise<Map<string, unknown>>; staged: Promise<S | undefined>; start: number; end: () => number } {
    const start = this.now();
    let end = Number.POSITIVE_INFINITY;
    // A failed stage is not fatal: the executor prepares what it needs itself then.
    const staged = this.stage ? this.stage(batch).catch(() => undefined) : Promise.resolve(undefined);
    const done = Promise.all([this.residency.ensure(tenantsOf(batch)), staged]).then(([f]) => f);
    const mark = (): void => {
      end = this.now();
    };
    done.then(mark, mark);
    return { done, staged, start, end: () => end };
  }

  private releasedOrPoll(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, RELEASE_POLL_MS);
    });
    return Promise.race([this.residency.released(), poll]).finally(() => clearTimeout(timer));
  }

  private async loop(): Promise<void> {
    let next = this.form();
    let load = next.length ? this.prefetch(next) : null;
    while (next.length && !this.stopped) {
      const batch = next;
      const failures = await load!.done;
      const staged = await load!.staged;
      // Loads refused only because the previous batch held the pool get one more try now.
      const retry = [...failures].filter(([, e]) => this.residency.retryable(e)).map(([id]) => id);
      if (retry.length) {
        for (const id of retry) failures.delete(id);
        for (const [id, e] of await this.residency.ensure(retry)) failures.set(id, e);
      }
      const deferred: PendingRequest<R>[] = [];
      const now = this.now();
      const ready = batch.filter((r) => {
        const err = failures.get(r.tenantId);
        if (err === undefined) return true;
        // Still no room (the batch outgrew the pool), or the store has not answered yet: those
        // requests wait for a later batch, unless they have waited past the limit.
        const wait = this.residency.retryable(err) || this.residency.deferrable(err);
        if (wait && (!this.residency.deferrable(err) || now - r.enqueuedAt < STORE_GIVE_UP_MS)) deferred.push(r);
        else r.reject(err);
        return false;
      });
      if (deferred.length) this.queue.requeue(deferred);
      if (!ready.length && deferred.length && !this.stopped) {
        // Nothing can run until something unpins: forming the same batch again at once would
        // spin without ever yielding to the timers and I/O that end the wait.
        load = null;
        await this.releasedOrPoll();
        next = this.form();
        load = next.length ? this.prefetch(next) : null;
        continue;
      }
      const tenants = tenantsOf(ready);
      const gpuStart = this.now();
      let launched = (): void => undefined;
      const launch = new Promise<void>((resolve) => (launched = resolve));
      const running = ready.length ? this.execute(ready, staged, batch, launched) : Promise.resolve();
      // Form and load the next batch while this one computes, but only once it is queued on
      // the GPU: the next batch's CPU work (PLOT lookups, uploads) would otherwise run in the
      // await gaps before this batch's submit and leave the GPU idle.
      await Promise.race([launch, running.then(noop, noop)]);
      next = this.form();
      load = next.length ? this.prefetch(next) : null;
      try {
        await running;
      } finally {
        this.residency.unpin(tenants);
      }
      const gpuEnd = this.now();
      if (load) {
        // Whatever of the prefetch finished before the GPU went idle was hidden behind it.
        const loaded = await load.done.then(
          () => true,
          () => false,
        );
        if (loaded) {
          const total = load.end() - load.start;
          const hidden = Math.max(0, Math.min(load.end(), gpuEnd) - Math.max(load.start, gpuStart));
          this.metrics.prefetchMs += total;
          this.metrics.prefetchHiddenMs += Math.min(total, hidden);
        }
      }
    }
  }
}
