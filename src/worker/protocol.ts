/**
 * What crosses the worker boundary: the API the worker exposes over comlink and the wire form
 * of errors. Comlink keeps only message/name/stack of a thrown Error, so the worker throws a
 * plain WireError instead and the client rebuilds the project's error class from it.
 */
import type { ProxyMarked } from 'comlink';
import * as coreErrors from '../errors.js';
import { HmiError } from '../errors.js';
import * as formatErrors from '../formats/errors.js';
import * as domainErrors from '../knowledge/domain/errors.js';
import * as taskErrors from '../knowledge/task/errors.js';
import * as modelErrors from '../model/errors.js';
import * as runtimeErrors from '../runtime/errors.js';
import * as generationErrors from '../model/kv/errors.js';
import * as trainingErrors from '../training/errors.js';
import type {
  ClassifyOptions,
  ClassifyResult,
  Completion,
  CompletionChunk,
  CompletionCreateParams,
  DomainInfo,
  DomainSpec,
  EmbedResult,
  GenerateChunk,
  GenerateOptions,
  ModelInput,
  MetricsSnapshot,
  PlotBuildReport,
  PlotDeviation,
  ProgressCallback,
  RuntimeInfo,
  RuntimeOptions,
  ScoreResult,
  SyntheticTenantsOptions,
  TenantInfo,
  TenantInput,
  TrainProgressCallback,
  TrainResult,
  TrainSpec,
} from '../runtime/api.js';
import * as workerErrors from './errors.js';
import { RemoteHmiError } from './errors.js';

/** RuntimeOptions that hold objects or functions of the caller's thread: they cannot cross to a Worker. */
export const LOCAL_ONLY_OPTIONS = ['gpu', 'worker', 'store', 'plotStore', 'onProgress'] as const;
type LocalOnlyOption = (typeof LOCAL_ONLY_OPTIONS)[number];

/**
 * The runtime's options as they cross to the worker: every RuntimeOptions field but the
 * local-only ones, so a new option reaches the worker without being listed anywhere; the model
 * only as a location (a ModelSource object holds functions).
 */
export type RemoteRuntimeOptions = Omit<RuntimeOptions, LocalOnlyOption | 'model'> & { readonly model?: string };

type Cloneable = string | number | boolean | undefined | readonly Cloneable[];
// An option whose value cannot be structured-cloned must be listed in LOCAL_ONLY_OPTIONS: a type error otherwise.
const everyRemoteOptionCloneable: RemoteRuntimeOptions extends { readonly [K in keyof RemoteRuntimeOptions]?: Cloneable } ? true : never = true;
void everyRemoteOptionCloneable;

/** The options that cross to the worker: all set ones but the local-only (a ModelSource object stays behind too). */
export function pickRemoteOptions(options: RuntimeOptions): RemoteRuntimeOptions {
  const local = new Set<string>(LOCAL_ONLY_OPTIONS);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (local.has(k) || v === undefined) continue;
    if (k === 'model' && typeof v !== 'string') continue;
    out[k] = v;
  }
  return out as RemoteRuntimeOptions;
}

/** Generation options without the AbortSignal; aborting goes through PullStream.cancel(). */
export type WireGenerateOptions = Omit<GenerateOptions, 'signal'>;

/** A training's spec without its AbortSignal (a signal cannot be cloned); aborting goes through abort(callId). */
export type WireTrainSpec = Omit<TrainSpec, 'signal'>;

/** One pull returns every chunk produced since the last one, so a fast stream costs few messages. */
export interface Pulled<T> {
  readonly chunks: T[];
  readonly done: boolean;
}

/** A stream living in the worker, read from the main thread one pull at a time (a comlink proxy). */
export interface PullStream<T> {
  pull(): Promise<Pulled<T>>;
  cancel(): void;
}

/** The object the worker exposes. Progress callbacks arrive as comlink proxies. */
export interface WorkerHostApi {
  init(options: RemoteRuntimeOptions, onProgress?: ProgressCallback): Promise<void>;
  ping(): number;
  info(): Promise<RuntimeInfo>;
  addDomain(spec: DomainSpec): Promise<void>;
  listDomains(): Promise<DomainInfo[]>;
  buildDomain(id: string, corpus: readonly string[] | readonly (readonly number[])[], onProgress?: ProgressCallback): Promise<PlotBuildReport>;
  rebuildDomains(id?: string, onProgress?: ProgressCallback): Promise<void>;
  domainDeviation(id: string, corpus: readonly string[] | readonly (readonly number[])[], onProgress?: ProgressCallback): Promise<PlotDeviation>;
  addTenants(spec: TenantInput | readonly TenantInput[], onProgress?: ProgressCallback): Promise<void>;
  addSyntheticTenants(options: SyntheticTenantsOptions, onProgress?: ProgressCallback): Promise<number>;
  removeTenant(id: string): Promise<void>;
  listTenants(): Promise<TenantInfo[]>;
  classify(tenantId: string, input: ModelInput, options?: ClassifyOptions): Promise<ClassifyResult>;
  embed(tenantId: string, input: ModelInput): Promise<EmbedResult>;
  score(tenantId: string, input: ModelInput): Promise<ScoreResult>;
  /** Returns a comlink proxy; the client pulls chunks and releases it when done. */
  generate(tenantId: string, prompt: ModelInput, options?: WireGenerateOptions): PullStream<GenerateChunk> & ProxyMarked;
  /** completions.create; a streaming request resolves to a PullStream proxy. `callId` names it for abort(). */
  createCompletion(params: CompletionCreateParams, callId: number): Promise<Completion | (PullStream<CompletionChunk> & ProxyMarked)>;
  /**
   * tenants.train; `callId` names it for abort(). Progress arrives through the comlink proxy; the
   * result (its adapter's Maps and Float32Arrays included) comes back by structured clone.
   */
  trainTenant(spec: WireTrainSpec, callId: number, onProgress?: TrainProgressCallback): Promise<TrainResult>;
  /** Aborts the completion request or training `callId` (its signal fired on the main thread). */
  abort(callId: number): void;
  metrics(): Promise<MetricsSnapshot>;
  dispose(): Promise<void>;
  /** Stops the worker without telling the client, as a crash would (for tests of recovery). */
  crashForTesting(): void;
}

const WIRE_TAG = '__hmiWireError';

export interface WireError {
  readonly [WIRE_TAG]: true;
  readonly name: string;
  /** The class, when the error renamed itself (`name` is then not the class's name). */
  readonly className?: string;
  readonly code?: string;
  readonly message: string;
  readonly stack?: string;
  /** Own fields of the error (capacity, tenantId, limit...), when they are cloneable. */
  readonly fields: Record<string, unknown>;
}

export function isWireError(value: unknown): value is WireError {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[WIRE_TAG] === true;
}

function cloneable(v: unknown): boolean {
  const t = typeof v;
  return v === null || t === 'string' || t === 'number' || t === 'boolean' || (Array.isArray(v) && v.every(cloneable));
}

export function toWireError(e: unknown): WireError {
  if (!(e instanceof Error)) return { [WIRE_TAG]: true, name: 'Error', message: String(e), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k !== 'code' && k !== 'name' && k !== 'message' && k !== 'cause' && cloneable(v)) fields[k] = v;
  }
  const code = e instanceof HmiError ? e.code : undefined;
  // An HmiError is named after its class unless it renamed itself (an AbortError-named error, say):
  // then the class travels too, so the main thread still rebuilds that class.
  const className = e instanceof HmiError && e.constructor.name !== e.name ? e.constructor.name : undefined;
  return { [WIRE_TAG]: true, name: e.name, ...(className !== undefined ? { className } : {}), code, message: e.message, stack: e.stack, fields };
}

type ErrorClass = abstract new (...args: never[]) => Error;
const classes = new Map<string, ErrorClass>();

/** Lets modules with their own HmiError subclasses have them rebuilt as such on the main thread. */
export function registerRemoteErrorClass(cls: ErrorClass): void {
  classes.set(cls.name, cls);
}

// Every module of named errors the runtime can throw; an error missing here still keeps name and code.
for (const mod of [coreErrors, runtimeErrors, generationErrors, formatErrors, modelErrors, domainErrors, taskErrors, trainingErrors, workerErrors] as const) {
  for (const value of Object.values(mod)) {
    if (typeof value === 'function' && value.prototype instanceof Error) registerRemoteErrorClass(value as ErrorClass);
  }
}
for (const cls of [TypeError, RangeError, SyntaxError, ReferenceError]) registerRemoteErrorClass(cls);

/** Rebuilds the thrown error with its class (so `instanceof` works), name, code, message and fields. */
export function fromWireError(w: WireError): Error {
  const cls = (w.className !== undefined ? classes.get(w.className) : undefined) ?? classes.get(w.name);
  let e: Error;
  if (cls) {
    // The constructors take varied arguments; the wire already carries the final message and fields.
    e = Object.create(cls.prototype) as Error;
    Object.defineProperty(e, 'message', { value: w.message, writable: true, configurable: true });
    Object.defineProperty(e, 'name', { value: w.name, writable: true, configurable: true });
    if (w.code !== undefined) Object.defineProperty(e, 'code', { value: w.code, enumerable: true });
  } else if (w.code !== undefined) {
    e = new RemoteHmiError(w.name, w.code, w.message);
  } else {
    e = new Error(w.message);
    e.name = w.name;
  }
  Object.assign(e, w.fields);
  if (w.stack) Object.defineProperty(e, 'stack', { value: w.stack, writable: true, configurable: true });
  return e;
}
