/**
 * The public runtime surface, identical in-process and across the worker boundary
 * (the worker client implements the same interface over comlink).
 */
import type { LoraAdapter } from '../formats/types.js';
import type { ModelSource } from '../formats/model-source.js';
import type { MissPolicy } from '../knowledge/domain/assembler.js';
import type { PlotStore } from '../knowledge/domain/plot-store.js';
import type { TenantStore } from '../knowledge/task/store.js';
import type { Progress, ProgressCallback } from '../util/progress.js';
import type { DomainInfo } from '../knowledge/domain/domain-knowledge.js';
import type { PlotDeviation } from '../knowledge/domain/deviation.js';

/** Text, or token ids already produced by the model's tokenizer. */
export type ModelInput = string | readonly number[];

/** A tenant to register. `tenants.add` also takes its adapter by location: see TenantInput. */
export interface TenantSpec<Adapter = LoraAdapter> {
  readonly id: string;
  /** Name of a node of the domain knowledge tree; omitted = the general domain (root). */
  readonly domain?: string;
  /**
   * The tenant's LoRA: parsed already, or (TenantInput) where a PEFT adapter directory is: a URL
   * (relative to the page in a browser), a directory in Node, or a ModelSource (in-process only).
   * A location is read against the runtime's loaded base model, never a second copy of it.
   */
  readonly adapter: Adapter;
  /** What the tenant is, for people (a dashboard shows it); at most 500 characters. Stored with the tenant. */
  readonly description?: string;
}

/** What `tenants.add` takes: a TenantSpec whose adapter may be given by location. */
export type TenantInput = TenantSpec<LoraAdapter | string | ModelSource>;

export interface TenantInfo {
  readonly id: string;
  readonly domain: string;
  /** Max LoRA rank over the tenant's modules. */
  readonly rank: number;
  readonly numLabels: number;
  readonly bytes: number;
  /** Where the adapter is now: paged into the GPU pool, or only in the store. */
  readonly residency: 'gpu' | 'store';
  readonly requests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The description it was registered with; undefined if none. */
  readonly description?: string;
  /** Registered by `tenants.addSynthetic` (random weights), not from a trained adapter. */
  readonly synthetic: boolean;
}

export type { Progress, ProgressCallback, DomainInfo, PlotDeviation };

export interface ClassifyResult {
  readonly tenantId: string;
  readonly label: string;
  readonly labelIndex: number;
  /** Softmax over the tenant's labels. */
  readonly scores: readonly number[];
  readonly tokens: number;
  readonly latencyMs: number;
}

export interface ClassifyOptions {
  /**
   * An input longer than the model's positions is cut rather than refused: its first max-1
   * tokens are kept and closed with [SEP] (as HF's truncation does for one sequence). Default
   * false: too long is an InvalidInputError.
   */
  readonly truncate?: boolean;
}

/** How likely a tenant's model finds a text: the log-probability of each token given those before it. */
export interface ScoreResult {
  readonly tenantId: string;
  /** Token ids of the input (all fed; every one but the first is scored). */
  readonly tokens: number;
  /** ln p(token i | tokens 0..i-1) for i = 1..tokens-1 (natural log), [tokens - 1]. */
  readonly logprobs: Float32Array;
  /** Mean of logprobs. */
  readonly meanLogprob: number;
  /** exp(-meanLogprob). */
  readonly perplexity: number;
}

export interface EmbedResult {
  readonly tenantId: string;
  /** last_hidden_state, [tokens, hidden] row-major. */
  readonly hidden: Float32Array;
  readonly shape: readonly [number, number];
}

export interface GenerateOptions {
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly seed?: number;
  readonly stop?: readonly string[];
  readonly stopTokenIds?: readonly number[];
  readonly signal?: AbortSignal;
}

export interface GenerateChunk {
  readonly tokenId: number;
  /** The text this token completes (may be empty inside a multi-byte character). */
  readonly text: string;
  readonly done: boolean;
  readonly finishReason?: 'stop' | 'length' | 'abort';
}

export interface MetricsSnapshot {
  readonly requestsPerSecond: number;
  readonly tokensPerSecond: number;
  readonly tenantsRegistered: number;
  readonly tenantsResident: number;
  readonly queueDepth: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly poolBytesUsed: number;
  readonly poolBytesTotal: number;
  /** Fraction of requests whose adapter was already resident when their batch formed. */
  readonly poolHitRate: number;
  readonly bytesUploaded: number;
  readonly requestsServed: number;
  readonly requestsRejected: number;
  readonly plotHitRate: number;
  readonly kvBytesUsed: number;
  readonly kvBytesTotal: number;
  readonly deviceRecoveries: number;
  /** Fraction of store-read + upload time that overlapped GPU work. */
  readonly prefetchHidden: number;
  /** GPU bytes the running `tenants.train` job holds (parameters, gradients, AdamW moments, activations); 0 when none runs. */
  readonly trainingGpuBytes: number;
}

/** Random but deterministic tenants for demos and load tests, generated where the runtime runs. */
export interface SyntheticTenantsOptions {
  readonly count: number;
  readonly seed?: number;
  /** Id prefix; ids are `${prefix}${i}`. Default "tenant-". */
  readonly prefix?: string;
  /** LoRA ranks to cycle through. Default [2, 4, 8, 16]. */
  readonly ranks?: readonly number[];
  /** Domains to spread tenants over. Default: the root domain only. */
  readonly domains?: readonly string[];
  /** Labels of each synthetic classifier (hBERT). Default 2..4 labels. */
  readonly numLabels?: number;
}

export interface RuntimeInfo {
  readonly family: 'bert' | 'gpt2';
  readonly modelId: string;
  readonly modelHash: string;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly splitLayer: number;
  readonly adapter: string;
  readonly matmulVariants: Readonly<Record<string, string>>;
  /** GPU bytes of the shared base weights as uploaded (f16 matrices count half). */
  readonly baseGpuBytes: number;
  /** The largest buffer and storage binding the runtime uses on this device (after `maxBufferBytes`). */
  readonly maxBufferBytes: number;
}

/** A node of the domain knowledge tree (domain-adaptive knowledge shared by its tenants). */
export interface DomainSpec {
  readonly id: string;
  /** Default: "general", the root (the base model's lower layers). */
  readonly parent?: string;
  /** Most PLOT entries the node keeps (top-K by traffic frequency). Default 20,000. */
  readonly budgetEntries?: number;
  /** The domain's own lower layers, as a LoRA on layers below the split. */
  readonly lowerAdapter?: LoraAdapter;
  /**
   * What a PLOT miss costs the domain's tenants: 'exact' runs the window through the domain's
   * own lower layers; 'inherit' takes the nearest ancestor's entry first (cheaper, approximate
   * when the domain has its own lower layers: `domains.deviation` measures by how much).
   * Default: the parent's, else the runtime's `plotPolicy`.
   */
  readonly policy?: 'exact' | 'inherit';
}



export interface PlotBuildReport {
  readonly sequences: number;
  readonly tokens: number;
  readonly distinct: number;
  readonly entries: number;
  readonly bytes: number;
}

/** `runtime.completions.create` parameters: OpenAI's legacy completions, `model` = tenant id (as LoRAX and vLLM). */
export interface CompletionCreateParams {
  /** The tenant whose adapter generates. */
  readonly model: string;
  /** Text, or token ids of the model's tokenizer. */
  readonly prompt: string | readonly number[];
  /** Default 16, as OpenAI. */
  readonly max_tokens?: number;
  /** Default 1, as OpenAI (0 = greedy). */
  readonly temperature?: number;
  /** Default 1. */
  readonly top_p?: number;
  readonly stream?: boolean | null;
  /** Up to a few stop strings; the text ends before the first one to complete. */
  readonly stop?: string | readonly string[] | null;
  readonly seed?: number;
}

/** Per-call options, as the OpenAI SDK takes them. */
export interface CompletionRequestOptions {
  readonly signal?: AbortSignal;
}

export interface CompletionChoice {
  readonly index: number;
  readonly text: string;
  /** null on every streamed chunk but the last; 'abort' when the signal ended the request. */
  readonly finish_reason: 'stop' | 'length' | 'abort' | null;
}

export interface CompletionUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

export interface Completion {
  readonly id: string;
  readonly object: 'text_completion';
  /** Unix seconds. */
  readonly created: number;
  readonly model: string;
  readonly choices: readonly CompletionChoice[];
  readonly usage: CompletionUsage;
}

/** One streamed piece: choices[0].text is the text new since the previous chunk; the last chunk carries usage. */
export interface CompletionChunk {
  readonly id: string;
  readonly object: 'text_completion';
  readonly created: number;
  readonly model: string;
  readonly choices: readonly CompletionChoice[];
  readonly usage?: CompletionUsage;
}

export interface CompletionsApi {
  create(params: CompletionCreateParams & { readonly stream: true }, options?: CompletionRequestOptions): Promise<AsyncIterable<CompletionChunk>>;
  create(params: CompletionCreateParams & { readonly stream?: false | null }, options?: CompletionRequestOptions): Promise<Completion>;
  create(params: CompletionCreateParams, options?: CompletionRequestOptions): Promise<Completion | AsyncIterable<CompletionChunk>>;
}

/** One labelled example of an hBERT tenant's task. */
export interface LabelledExample {
  readonly text: string;
  /** The class; labels are the distinct values of the data, in sorted order. */
  readonly label: string | number;
}

/** hBERT: labelled texts; hGPT: plain texts (the tenant learns to continue them). */
export type TrainData = readonly LabelledExample[] | readonly string[];

/**
 * `tenants.train`: a LoRA (plus, for hBERT, its classifier over the base pooler) trained on
 * this runtime's GPU, base frozen, on the path the tenant will be served by (its domain's PLOT
 * lower layers when it has a domain, every layer otherwise), then stored and served.
 */
export interface TrainSpec {
  readonly id: string;
  /** Domain node the tenant will belong to; omitted = none (its LoRA then adapts every layer). */
  readonly domain?: string;
  readonly data: TrainData;
  /** LoRA rank. Default 8. */
  readonly rank?: number;
  /** LoRA alpha (scale = alpha / rank). Default 2 x rank. */
  readonly alpha?: number;
  /** PEFT `target_modules` names (e.g. "query", "c_attn"). Default: every projection of the family. */
  readonly targets?: readonly string[];
  /** Passes over the data. Default 3. */
  readonly epochs?: number;
  /** Peak AdamW learning rate (linear warm-up, then cosine decay to 0). Default 2e-3. */
  readonly learningRate?: number;
  /** AdamW decoupled weight decay. Default 0.01. */
  readonly weightDecay?: number;
  /** Examples (hBERT) or windows (hGPT) per optimizer step. Default 32 (hBERT), 8 (hGPT). */
  readonly batchSize?: number;
  /**
   * Most tokens of one GPU slice of a step (a step is several slices, gradients accumulated):
   * what bounds how long a serving request arriving during a slice waits. hBERT: default 64,
   * raised to the longest example (every example fits a slice whole); hGPT: default the model's
   * positions (at most the tokenBudget), and texts are cut into windows of this many tokens.
   */
  readonly batchTokens?: number;
  /** Initialization and example order; the same seed and data give the same adapter bytes on one device. Default 0. */
  readonly seed?: number;
  /**
   * Held-out data (same kind as `data`), or the fraction of `data` to hold out (by seed). Each
   * epoch is measured on it (hBERT accuracy, hGPT perplexity) and the best epoch is kept.
   * Default 0.1 when there are at least 20 examples, else none (the last epoch is kept).
   */
  readonly validation?: TrainData | number;
  readonly description?: string;
  /** Aborts the training: it rejects with an AbortError-named TrainingAbortedError and stores nothing. */
  readonly signal?: AbortSignal;
}

export interface TrainMetric {
  readonly metric: 'accuracy' | 'perplexity';
  readonly value: number;
}

export interface TrainProgress {
  readonly phase: 'prepare' | 'train' | 'validate' | 'store';
  readonly epoch: number;
  readonly epochs: number;
  /** Optimizer steps done, of `steps`. */
  readonly step: number;
  readonly steps: number;
  /** Mean training loss of the last step (NaN before the first). */
  readonly loss: number;
  /** The latest epoch's validation measure, once there is one. */
  readonly validation?: TrainMetric;
  /** Training tokens (forward + backward) per second so far. */
  readonly tokensPerSecond: number;
  readonly elapsedMs: number;
}

export type TrainProgressCallback = (p: TrainProgress) => void;

export interface TrainEpoch {
  readonly epoch: number;
  /** Mean training loss over the epoch's steps. */
  readonly loss: number;
  readonly validation?: TrainMetric;
}

export interface TrainResult {
  readonly tenantId: string;
  readonly family: 'bert' | 'gpt2';
  /** hBERT: the classifier's labels, index order. */
  readonly labels?: readonly string[];
  readonly examples: number;
  readonly validationExamples: number;
  readonly steps: number;
  readonly epochs: number;
  /** The epoch whose parameters were stored (best validation, else the last). */
  readonly bestEpoch: number;
  readonly history: readonly TrainEpoch[];
  readonly validation?: TrainMetric;
  readonly tokens: number;
  readonly seconds: number;
  readonly tokensPerSecond: number;
  /** What was stored and is now served (LoRA with scale alpha / rank, and the hBERT classifier). */
  readonly adapter: LoraAdapter;
}

export interface HmiRuntimeApi {
  info(): Promise<RuntimeInfo>;
  readonly domains: {
    add(spec: DomainSpec): Promise<void>;
    list(): Promise<DomainInfo[]>;
    /** Builds the node's PLOT from a corpus (texts or token ids): counts tri-grams, stores the top ones. */
    build(id: string, corpus: readonly string[] | readonly (readonly number[])[], onProgress?: ProgressCallback): Promise<PlotBuildReport>;
    /** Re-ranks every node's entries by traffic within its budget: promotes hot tri-grams, drops rare ones. */
    rebuild(id?: string, onProgress?: ProgressCallback): Promise<void>;
    /**
     * Measures policy 'inherit' against 'exact' for the domain's tenants on these texts (or
     * token ids), whatever the domain's own policy. A measurement, not traffic: no frequency
     * counter or hit rate moves. Exact computes what the domain's PLOT lacks, so it costs a
     * cold pass over the texts.
     */
    deviation(id: string, corpus: readonly string[] | readonly (readonly number[])[], onProgress?: ProgressCallback): Promise<PlotDeviation>;
  };
  readonly tenants: {
    add(spec: TenantInput | readonly TenantInput[], onProgress?: ProgressCallback): Promise<void>;
    /** Registers `count` synthetic tenants unless ids already exist (they persist in the store). */
    addSynthetic(options: SyntheticTenantsOptions, onProgress?: ProgressCallback): Promise<number>;
    remove(id: string): Promise<void>;
    list(): Promise<TenantInfo[]>;
    /**
     * Trains a new tenant on this GPU while serving goes on (training steps interleave with
     * serving batches), then stores and registers it. Nothing is stored until it ends; an
     * abort or a failure leaves the store as it was.
     */
    train(spec: TrainSpec, onProgress?: TrainProgressCallback): Promise<TrainResult>;
  };
  classify(tenantId: string, input: ModelInput, options?: ClassifyOptions): Promise<ClassifyResult>;
  embed(tenantId: string, input: ModelInput): Promise<EmbedResult>;
  /**
   * hGPT: the tenant's log-probability of each token of the input given the ones before it
   * (its model: its domain's PLOT lower layers when it has a domain, else every layer, plus its
   * LoRA). Queued and batched with generate() requests as a prefill that samples nothing.
   * At least 2 tokens. On an hBERT runtime it rejects as generate() does.
   */
  score(tenantId: string, input: ModelInput): Promise<ScoreResult>;
  generate(tenantId: string, prompt: ModelInput, options?: GenerateOptions): AsyncIterable<GenerateChunk>;
  /** OpenAI-style completions over generate(). */
  readonly completions: CompletionsApi;
  metrics(): Promise<MetricsSnapshot>;
  dispose(): Promise<void>;
}

/** What createRuntime takes. Every option but the local-only ones (see worker/protocol.ts) also crosses to a Worker. */
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
  /**
   * How the base model's matrices are held on the GPU (compute is f32 either way): 'auto'
   * (default) keeps an F16 checkpoint's in f16, half the memory, and F32 or BF16 ones (BF16
   * loads as exact f32) in f32; 'f32' widens all; 'f16' rounds all to f16 (nearest even).
   */
  readonly weightsDtype?: 'auto' | 'f32' | 'f16';
  /**
   * Use at most this many bytes per GPU buffer and storage binding, below what the device gives:
   * to run as a device with smaller limits would (many phones and laptops give 128 MiB). Larger
   * tensors are split into row shards. Default: the device's limits.
   */
  readonly maxBufferBytes?: number;
  /** hGPT: GPU bytes for the paged KV cache of all requests. Default min(64 MiB, half the largest buffer). */
  readonly kvBytes?: number;
  /** hGPT: tokens per KV block. Default 16. */
  readonly kvBlockTokens?: number;
  /** hGPT: requests decoding at once. Default 64. */
  readonly maxActive?: number;
  readonly onProgress?: ProgressCallback;
}
