import type { ModelConfig } from '../formats/model-config.js';
import type { HmiTokenizer } from '../formats/tokenizer.js';
import type { ClassifyOptions, ClassifyResult, EmbedResult, GenerateChunk, GenerateOptions, MetricsSnapshot, ModelInput, RuntimeOptions, ScoreResult } from './api.js';
import type { Engine, HeadBuilder, HeadParts } from './engine.js';
import type { Metrics } from './metrics.js';
import type { PendingRequest } from './pipeline.js';
import type { BatchPolicy } from './scheduler.js';
import type { TenantRegistry } from './tenant-registry.js';

/** A request on the one admission path: queued, its tenant pinned, then run by its head. */
export interface AdmittedRequest<R = unknown> extends PendingRequest<R> {
  /** Set once the request was re-run after a device loss; a second loss rejects it. */
  retried: boolean;
}

/** What the runtime core gives its task head: shared state, and the one way in and out. */
export interface HeadHost<C extends ModelConfig> {
  readonly config: C;
  readonly tokenizer: HmiTokenizer;
  readonly registry: TenantRegistry;
  readonly metrics: Metrics;
  readonly now: () => number;
  /** Checks the runtime is alive and the tenant registered; returns its metadata. */
  tenant(tenantId: string): NonNullable<ReturnType<TenantRegistry['get']>>;
  /** Queues a request on the admission path (QueueFullError when full). */
  submit(request: AdmittedRequest): void;
  /** Takes a queued request back (its caller gave up before it ran); false if it already left the queue. */
  withdraw(request: AdmittedRequest): boolean;
  /** A pin held past its batch (a generation's whole life) is released here, on the engine it was taken on. */
  release(engine: Engine, tenantId: string): void;
  /** One more pin of a tenant its batch has pinned on `engine`. */
  hold(engine: Engine, tenantId: string): void;
  /**
   * A request failed on `engine`: if the device was lost, the runtime recovers and puts the
   * request back in the queue (once; a second loss rejects it). Resolves true if it did so.
   */
  retryAfterLoss(engine: Engine, requests: readonly AdmittedRequest[]): Promise<boolean>;
}

/**
 * What a model family adds to the one runtime: its device-bound part, how a batch admitted
 * together runs, and its public operations. Encoder (hBERT: batched classify/embed) and
 * decoder (hGPT: continuous batching over a paged KV cache) are the two heads.
 */
export interface TaskHead<P extends HeadParts = HeadParts> {
  readonly builder: HeadBuilder<ModelConfig, P>;
  /**
   * How admission forms this head's batches, where it differs from the runtime's options: the
   * decoder admits requests into a loop that budgets its own step tokens, so only pins bound it.
   */
  readonly admission?: Partial<Pick<BatchPolicy, 'tokenBudget' | 'maxTenants'>>;
  /** Called with every engine the runtime builds: the first, and each after a device loss. */
  attach(engine: Engine<P>): void;
  /** The batch's preparation that needs no adapter (PLOT lookups), run while the previous batch computes. */
  stage(engine: Engine<P>, batch: readonly AdmittedRequest[]): Promise<unknown>;
  /** Runs (encoder) or admits into the decode loop (decoder) a batch whose tenants are pinned. */
  execute(engine: Engine<P>, batch: readonly AdmittedRequest[], staged: unknown, launched: () => void): Promise<void>;
  /** Drops a preparation that will not run. */
  discard(engine: Engine<P>, staged: unknown): void;
  /** Requests past admission that still wait to run (they count against maxQueue). */
  waiting(): number;
  /** Whether requests are running or waiting in the head itself (past admission): serving work a training slice must not delay. */
  busy(): boolean;
  /** The tenant was removed: end its running requests with `error`. */
  removed(tenantId: string, error: unknown): void;
  /** The runtime is being disposed: end every running request with `error`. */
  stop(error: unknown): void;
  /** Resolves once nothing runs on `engine` (before it is destroyed). */
  idle(): Promise<void>;
  /** The head's part of the metrics. */
  metrics(engine: Engine<P>): Pick<MetricsSnapshot, 'kvBytesUsed' | 'kvBytesTotal'> & Partial<Pick<MetricsSnapshot, 'tokensPerSecond'>>;
  classify?(tenantId: string, input: ModelInput, options?: ClassifyOptions): Promise<ClassifyResult>;
  embed?(tenantId: string, input: ModelInput): Promise<EmbedResult>;
  generate?(tenantId: string, prompt: ModelInput, options?: GenerateOptions): AsyncIterable<GenerateChunk>;
  score?(tenantId: string, input: ModelInput): Promise<ScoreResult>;
}

/** Builds a family's head for a runtime core; checks the head's own options. */
export type HeadFactory<C extends ModelConfig> = (host: HeadHost<C>, options: RuntimeOptions) => TaskHead;
