import { InvalidInputError } from '../errors.js';
import { kvTokens } from '../../model/kv/kv-blocks.js';
import { createSampler, type Sampler, type SamplerOptions } from './sampler.js';

/** What the batcher needs of the KV cache: BlockAllocator and KvPool both fit. */
export interface KvAdmission {
  /** false = not now; throws (KvTooLargeError) = never. */
  admit(seqId: number, promptTokens: number, maxNewTokens: number): boolean;
  free(seqId: number): void;
}

/** One sequence's part of a step: feed `ids` after the `past` positions already cached. */
export interface StepSeq {
  readonly seqId: number;
  /** The whole prompt at its first step (prefill), then the one token sampled last step. */
  readonly ids: readonly number[];
  /** Positions already cached for the sequence. */
  readonly past: number;
  /** The request's group (e.g. its tenant), when it named one. */
  readonly group?: string;
  /** A scoring prefill (ContinuousBatcher.prefill): the step returns the logits of every fed token. */
  readonly allLogits?: boolean;
}

/**
 * Runs the model once over every active sequence and returns each one's next-token logits
 * (one entry per StepSeq, same order): a row [vocab], or for an `allLogits` sequence one row
 * per fed token, [ids.length, vocab]. It appends the fed tokens to each sequence's KV cache.
 */
export type StepFn = (batch: readonly StepSeq[]) => Promise<readonly ArrayLike<number>[]>;

export interface GenerationRequest {
  readonly promptIds: readonly number[];
  readonly maxNewTokens: number;
  /** Default: greedy. A seed makes sampled output reproducible, whatever else shares the batch. */
  readonly sampling?: SamplerOptions;
  /**
   * A sampler to draw with instead of one made from `sampling`: a request resumed from its
   * prompt + tokens so far (after a device loss) keeps drawing from where its stream stopped.
   */
  readonly sampler?: Sampler;
  /** Aborting ends the request at once (finishReason 'cancelled') and frees its KV blocks. */
  readonly signal?: AbortSignal;
  /**
   * Streams each generated token as it is sampled. Returning true ends the request here with
   * finishReason 'stop' (e.g. a StopStringMatcher saw a stop string complete in the decoded
   * text). A throw fails the request with that error.
   */
  readonly onToken?: (tokenId: number) => boolean | void;
  /**
   * Sequences of one group are adjacent in every step's batch (groups in sorted order), so a
   * per-group computation such as a tenant's LoRA sees one contiguous run of rows.
   */
  readonly group?: string;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

/** A prompt fed once and never continued: scoring a text. */
export interface PrefillRequest {
  readonly promptIds: readonly number[];
  /** Aborting ends the request at once (finishReason 'cancelled') and frees its KV blocks. */
  readonly signal?: AbortSignal;
  /** As GenerationRequest.group. */
  readonly group?: string;
}

export type PrefillResult =
  /** `logits`: every prompt position's next-token logits, [promptIds.length, vocab] row-major. */
  | { readonly finishReason: 'length'; readonly logits: ArrayLike<number> }
  | { readonly finishReason: 'cancelled' };

export interface GenerationResult {
  /** Generated ids; a stop token (or the token onToken stopped at) is the last of them. */
  readonly tokens: number[];
  readonly finishReason: FinishReason;
}

export interface ContinuousBatcherOptions {
  readonly kv: KvAdmission;
  readonly step: StepFn;
  /** Most sequences in one step (the model's batch capacity). Default unbounded. */
  readonly maxActive?: number;
  /**
   * Token budget of one step (decode tokens + prompts joining): a prompt joins only while the
   * step stays within it, except that one prompt larger than the whole budget may join a step
   * as its only prefill (it could never run otherwise). Default unbounded.
   */
  readonly maxStepTokens?: number;
}

interface Seq {
  readonly seqId: number;
  readonly req: GenerationRequest;
  readonly sampler: Sampler;
  readonly tokens: number[];
  /** Tokens to feed next step. */
  pending: readonly number[];
  /** A prefill request's: takes its step's rows of logits instead of sampling; it then leaves. */
  readonly onLogits: ((rows: ArrayLike<number>) => void) | undefined;
  past: number;
  admitted: boolean;
  cancelled: boolean;
  done: boolean;
  readonly resolve: (r: GenerationResult) => void;
  readonly reject: (e: unknown) => void;
  readonly unlisten: () => void;
}

/** Ungrouped sequences first, then groups in code-unit order. */
function compareGroups(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : 1;
}

/**
 * Continuous batching (Orca's iteration-level scheduling), independent of the model: each
 * step feeds every active sequence one token (or its whole prompt, in the same step, when
 * it just joined), new requests join between steps as the KV cache admits them (FIFO: the
 * head of the queue is never overtaken, so a large request cannot starve), and finished or
 * cancelled ones leave at once, freeing their blocks for the next step's admissions.
 * Each sequence's tokens depend only on its own logits and its own seeded sampler, so its
 * output does not depend on what else shares the batch.
 */
export class ContinuousBatcher {
  private readonly waiting: Seq[] = [];
  private readonly active: Seq[] = [];
  private nextId = 1;
  private loop: Promise<void> | undefined;
  private inStep = false;

  constructor(private readonly o: ContinuousBatcherOptions) {
    for (const [name, v] of [['maxActive', o.maxActive], ['maxStepTokens', o.maxStepTokens]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new InvalidInputError(`${name} must be an integer >= 1, got ${v}`);
    }
  }

  get activeCount(): number {
    return this.active.length;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Queues a request; it runs as soon as the KV cache admits it. */
  generate(req: GenerationRequest): Promise<GenerationResult> {
    return this.enqueue(req, undefined);
  }

  /**
   * Queues a prefill-only request: admitted (its prompt's KV blocks), budgeted and batched like
   * a generation's prompt, fed in one step with whatever else runs, then gone. Nothing is
   * sampled; the result holds the logits of every prompt position.
   */
  async prefill(req: PrefillRequest): Promise<PrefillResult> {
    let logits: ArrayLike<number> | undefined;
    const r = await this.enqueue(
      { promptIds: req.promptIds, maxNewTokens: 1, ...(req.signal ? { signal: req.signal } : {}), ...(req.group !== undefined ? { group: req.group } : {}) },
      (rows) => (logits = rows),
    );
    return r.finishReason === 'cancelled' || logits === undefined ? { finishReason: 'cancelled' } : { finishReason: 'length', logits };
  }

  private enqueue(req: GenerationRequest, onLogits: Seq['onLogits']): Promise<GenerationResult> {
    let sampler: Sampler;
    try {
      kvTokens(req.promptIds.length, req.maxNewTokens);
      sampler = req.sampler ?? createSampler(req.sampling);
    } catch (e) {
      return Promise.reject(e);
    }
    if (req.maxNewTokens === 0 || req.signal?.aborted) {
      return Promise.resolve({ tokens: [], finishReason: req.signal?.aborted ? 'cancelled' : 'length' });
    }
    return new Promise<GenerationResult>((resolve, reject) => {
      const onAbort = (): void => this.cancel(seq);
      req.signal?.addEventListener('abort', onAbort);
      const seq: Seq = {
        seqId: this.nextId++,
        req,
        sampler,
        tokens: [],
        pending: req.promptIds,
        onLogits,
        past: 0,
        admitted: false,
        cancelled: false,
        done: false,
        resolve,
        reject,
        unlisten: () => req.signal?.removeEventListener('abort', onAbort),
      };
      this.waiting.push(seq);
      // Started on a microtask so requests submitted together share the first step.
      this.loop ??= Promise.resolve().then(() => this.drive());
    });
  }

  /** Resolves once nothing is active or waiting. */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  private async drive(): Promise<void> {
    try {
      while (this.active.length > 0 || this.waiting.length > 0) {
        this.admit();
        if (this.active.length === 0) {
          // Nothing of ours holds memory, yet the cache refuses the head of the queue: waiting
          // would spin forever (a request that can never fit must throw KvTooLargeError).
          for (const s of this.waiting.splice(0)) this.finish(s, undefined, new InvalidInputError('the KV cache refused a request while this batcher held no sequence'));
          break;
        }
        await this.step();
      }
    } finally {
      this.loop = undefined;
    }
  }

  private admit(): void {
    const max = this.o.maxActive ?? Infinity;
    const budget = this.o.maxStepTokens ?? Infinity;
    // Every active sequence feeds one token this step.
    let tokens = this.active.length;
    let prefills = 0;
    while (this.waiting.length > 0 && this.active.length < max) {
      const s = this.waiting[0];
      const prompt = s.req.promptIds.length;
      if (tokens + prompt > budget && !(prompt > budget && prefills === 0)) return;
      let ok: boolean;
      try {
        ok = this.o.kv.admit(s.seqId, s.req.promptIds.length, s.req.maxNewTokens);
      } catch (e) {
        this.waiting.shift();
        this.finish(s, undefined, e);
        continue;
      }
      if (!ok) return;
      this.waiting.shift();
      s.admitted = true;
      this.active.push(s);
      tokens += prompt;
      prefills++;
    }
  }

  private async step(): Promise<void> {
    // Stable: within a group, sequences keep their order of arrival.
    const batch = this.active.slice().sort((a, b) => compareGroups(a.req.group, b.req.group));
    let rows: readonly ArrayLike<number>[];
    this.inStep = true;
    try {
      rows = await this.o.step(
        batch.map((s) => ({
          seqId: s.seqId,
          ids: s.pending,
          past: s.past,
          ...(s.req.group !== undefined ? { group: s.req.group } : {}),
          ...(s.onLogits ? { allLogits: true } : {}),
        })),
      );
      if (rows.length !== batch.length) throw new InvalidInputError(`the step returned ${rows.length} logits rows for ${batch.length} sequences`);
    } catch (e) {
      this.inStep = false;
      // A failed step leaves every cache in an unknown state: fail what was in it.
      for (const s of batch) this.finish(s, undefined, e);
      return;
    }
    this.inStep = false;
    batch.forEach((s, i) => {
      s.past += s.pending.length;
      if (s.cancelled) {
        this.finish(s, 'cancelled');
        return;
      }
      if (s.onLogits) {
        s.onLogits(rows[i]);
        this.finish(s, 'length');
        return;
      }
      let token: number;
      try {
        token = s.sampler.sample(rows[i]);
      } catch (e) {
        this.finish(s, undefined, e);
        return;
      }
      s.tokens.push(token);
      s.pending = [token];
      let stopHere: boolean | void;
      try {
        stopHere = s.req.onToken?.(token);
      } catch (e) {
        this.finish(s, undefined, e);
        return;
      }
      if (s.done) return;
      if (stopHere === true || s.sampler.isStop(token)) this.finish(s, 'stop');
      else if (s.tokens.length >= s.req.maxNewTokens) this.finish(s, 'length');
    });
  }

  private cancel(s: Seq): void {
    if (s.done) return;
    s.cancelled = true;
    const w = this.waiting.indexOf(s);
    if (w >= 0) {
      this.waiting.splice(w, 1);
      this.finish(s, 'cancelled');
    } else if (!this.inStep || !this.active.includes(s)) {
      this.finish(s, 'cancelled');
    }
    // Otherwise the running step still writes its cache rows: it leaves when the step returns.
  }

  /** Removes the sequence, frees its blocks, and settles its promise (once). */
  private finish(s: Seq, reason: FinishReason | undefined, error?: unknown): void {
    if (s.done) return;
    s.done = true;
    s.unlisten();
    const a = this.active.indexOf(s);
    if (a >= 0) this.active.splice(a, 1);
    if (s.admitted) this.o.kv.free(s.seqId);
    if (reason) s.resolve({ tokens: s.tokens, finishReason: reason });
    else s.reject(error);
  }
}
