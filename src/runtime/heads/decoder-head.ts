import { allocBuffer } from '../../gpu/buffers.js';
import type { Gpt2Config } from '../../formats/model-config.js';
import type { PlotSequence, PreparedBatch } from '../../knowledge/domain/assembler.js';
import type { BatchSegment } from '../../knowledge/task/multi-lora.js';
import { Gpt2Model, type StepEntry } from '../../model/gpt2.js';
import { kvTokens } from '../../model/kv/kv-blocks.js';
import { KvTooLargeError } from '../../model/kv/errors.js';
import { KvPool } from '../../model/kv/kv-pool.js';
import { submitPass } from '../../model/pass.js';
import type { GenerateChunk, GenerateOptions, ModelInput, RuntimeOptions, ScoreResult } from '../api.js';
import type { Engine, EngineCore, EngineSpec, HeadBuilder, HeadParts } from '../engine.js';
import { InvalidInputError, RequestFailedError } from '../errors.js';
import { Channel } from '../generation/channel.js';
import { ContinuousBatcher, type FinishReason, type StepSeq } from '../generation/continuous-batch.js';
import { createSampler, validateSamplerOptions, type SamplerOptions } from '../generation/sampler.js';
import { StopStringMatcher } from '../generation/stop.js';
import { TokenRate } from '../generation/token-rate.js';
import { toTokenIds } from '../input.js';
import { WINDOW_CHUNK, type LowerModel } from '../lower-windows.js';
import type { AdmittedRequest, HeadHost, TaskHead } from '../task-head.js';

/** GenerateOptions.maxTokens when omitted (OpenAI's completions default). */
const DEFAULT_MAX_TOKENS = 16;

const DEFAULT_KV_BYTES = 64 * 1024 * 1024;

/** The KV budget a device gets when the runtime's options name none. */
function defaultKvBytes(limits: GPUSupportedLimits): number {
  return Math.min(DEFAULT_KV_BYTES, Math.floor(Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize) / 2));
}

/** The decoder's device-bound part: the serving GPT-2, its paged KV pool, and phase 2 of PLOT steps. */
export interface DecoderParts extends HeadParts {
  readonly model: Gpt2Model;
  readonly kv: KvPool;
  /**
   * Phase 2 of a step's PLOT rows: gathers their prepared entries into the split state, then
   * runs only the upper layers (appending their keys/values to the pool) and returns each
   * entry's next-token logits. Releases `prepared` in every case.
   */
  stepPlot(entries: readonly StepEntry[], prepared: PreparedBatch): Promise<Float32Array>;
}

interface DecoderSizes {
  readonly maxActive: number;
  readonly kvBytes?: number;
  readonly kvBlockTokens?: number;
}

function builder(sizes: DecoderSizes): HeadBuilder<Gpt2Config, DecoderParts> {
  return {
    plotModel: (spec: EngineSpec<Gpt2Config>) => ({ width: spec.config.hiddenSize, model: { family: 'gpt2', eosTokenId: spec.config.eosTokenId } }),
    async build(core: EngineCore, spec: EngineSpec<Gpt2Config>): Promise<DecoderParts> {
      const c = spec.config;
      const { ctx } = core;
      const model = await Gpt2Model.create(ctx, c, core.base, { maxTokens: spec.tokenBudget, maxSeqs: sizes.maxActive, autotune: spec.autotune ?? true, ...(spec.onProgress ? { onProgress: spec.onProgress } : {}) });
      const windowModel = await Gpt2Model.create(ctx, c, core.base, { maxTokens: 3 * WINDOW_CHUNK, maxSeqs: WINDOW_CHUNK, autotune: false, lowerOnly: true });
      const lower: LowerModel = {
        pack: (seqs) => windowModel.pack(seqs),
        runLower: (batch, l) => windowModel.runLower(batch, spec.split, l ? { lora: l } : {}),
        dispose: () => windowModel.dispose(),
      };
      // Every layer: tenants without a domain share the pool; domain tenants' sequences leave layers below the split unwritten.
      const kv = await KvPool.create(ctx, {
        numLayers: c.numLayers,
        hiddenSize: c.hiddenSize,
        ...(sizes.kvBlockTokens !== undefined ? { blockTokens: sizes.kvBlockTokens } : {}),
        budgetBytes: sizes.kvBytes ?? defaultKvBytes(ctx.limits),
      });
      let plotHidden: GPUBuffer | null = null;
      return {
        model,
        kv,
        lower,
        async stepPlot(entries, prepared) {
          let hidden: GPUBuffer;
          try {
            const bytes = prepared.rows * c.hiddenSize * 4;
            if (!plotHidden || plotHidden.size < bytes) {
              plotHidden?.destroy();
              plotHidden = null;
              plotHidden = await allocBuffer(ctx, Math.max(bytes, 64 * 1024), 'plot-hidden');
            }
            hidden = plotHidden;
            submitPass(ctx, (pass) => core.assembler.encode(pass, prepared, hidden));
          } finally {
            core.assembler.release(prepared);
          }
          return model.stepUpper(kv, entries, spec.split, hidden, core.lora);
        },
        dispose() {
          plotHidden?.destroy();
          kv.dispose();
          model.dispose();
        },
      };
    },
  };
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

/** What a step needs to know of one of its sequences beyond its StepSeq. */
interface SeqState {
  /** The tenant's domain at the sequence's prefill; '' = all layers. Fixed for its life. */
  readonly domain: string;
  /** The last two ids fed so far: they complete the tri-gram keys of the next fed tokens. */
  readonly tail: readonly number[];
}

/** A request in flight: how the runtime ends it from outside (tenant removed, runtime disposed). */
interface Live {
  readonly tenantId: string;
  readonly controller: AbortController;
  /** Why the runtime aborted it; undefined = the caller's signal or an early return. */
  error?: unknown;
}

/** A generate() or score() request on the admission path; `run` drives it on an engine's decode loop. */
interface DecodeRequest extends AdmittedRequest<void> {
  readonly live: Live;
  /** false once it streamed its end: it cannot be re-run after a device loss. */
  mayRetry(): boolean;
  run(batcher: ContinuousBatcher): Promise<void>;
}

/** One engine and the decode loop that feeds it; replaced together when the device is lost. */
interface Lane {
  readonly engine: Engine<DecoderParts>;
  readonly batcher: ContinuousBatcher;
}

/**
 * hGPT's task head: many tenants' generation requests decoded together by continuous
 * batching. Each step is one forward pass over every active request of every tenant (rows
 * grouped by tenant into segments for the batched LoRA) — two when tenants naming a domain
 * share it, whose rows take their lower layers from PLOT (hPLM two-phase inference) —;
 * requests join between steps with their prompt prefilled in the same pass, and leave as soon
 * as they finish, returning their KV blocks. A request reaches the decode loop through the
 * runtime's admission path, with its tenant's adapter pinned, and holds that pin until it
 * ends; in the loop it waits while the paged cache is short, and is rejected with
 * KvTooLargeError up front if it could never fit.
 */
export function decoderHead(host: HeadHost<Gpt2Config>, options: RuntimeOptions): TaskHead<DecoderParts> {
  const config = host.config;
  const V = config.vocabSize;
  const maxActive = options.maxActive ?? 64;
  if (!Number.isInteger(maxActive) || maxActive < 1) throw new InvalidInputError(`maxActive must be an integer >= 1, got ${maxActive}`);
  const maxStepTokens = options.tokenBudget ?? 512;
  const rate = new TokenRate(host.now);
  const live = new Set<Live>();
  let lane: Lane | undefined;

  const current = (): Lane => {
    if (!lane) throw new Error('the decoder head has no engine yet');
    return lane;
  };

  /**
   * The engine's decode loop. A step's rows of tenants without a domain run all layers in one
   * pass; rows of domain tenants run a second pass: phase 1 gathers their split state from PLOT
   * (a prompt's keys over the prompt, a decode row's key over its last three ids), phase 2 only
   * the upper layers. The PLOT rows' prefetch (lookups, chunk loads, misses computed by the
   * window model) runs while the full pass computes; it cannot start during the previous step,
   * whose sampled tokens are the keys' last ids.
   */
  const makeLane = (engine: Engine<DecoderParts>): Lane => {
    const { model, kv } = engine.head;
    let states = new Map<number, SeqState>();
    const step = async (batch: readonly StepSeq[]): Promise<Float32Array[]> => {
      // Every active sequence is in every step, so the states of this step's sequences are all that stay.
      const next = new Map<number, SeqState>();
      const full: number[] = [];
      const plot: number[] = [];
      const plotSeqs: PlotSequence[] = [];
      batch.forEach((s, i) => {
        const prior = s.past > 0 ? states.get(s.seqId) : undefined;
        const domain = prior?.domain ?? host.registry.get(s.group as string)?.domain ?? '';
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
          scatter(full, await model.step(kv, entries(full), engine.lora));
        }
      } catch (e) {
        void prefetch?.then((p) => engine.assembler.release(p), () => undefined);
        throw e;
      }
      if (prefetch) {
        const prepared = await prefetch;
        engine.lora.setBatch(segmentsOf(plot.map((i) => batch[i])));
        scatter(plot, await engine.head.stepPlot(entries(plot), prepared));
      }
      // Tokens generated: a scoring prefill samples none.
      rate.add(batch.filter((s) => !s.allLogits).length);
      return out;
    };
    return { engine, batcher: new ContinuousBatcher({ kv, step, maxActive, maxStepTokens }) };
  };

  /** Whether the paged KV cache could ever hold `tokens` positions. */
  const checkKv = (tokens: number): void => {
    const kv = current().engine.head.kv;
    const blocks = kv.blocks.blocksFor(tokens);
    if (blocks > kv.numBlocks) throw new KvTooLargeError(tokens, blocks, kv.numBlocks);
  };

  /** Ends a request from the runtime's side; its stream rejects with `error`. */
  const end = (l: Live, error: unknown): void => {
    l.error ??= error;
    l.controller.abort();
  };

  /** Runs an admitted request on `engine`'s loop; its tenant's pin is held until it ends. */
  const runOn = async (engine: Engine<DecoderParts>, batcher: ContinuousBatcher, req: DecodeRequest): Promise<void> => {
    host.hold(engine, req.tenantId);
    try {
      await req.run(batcher);
      req.resolve(undefined);
    } catch (e) {
      if (req.mayRetry() && (await host.retryAfterLoss(engine, [req]))) return;
      req.reject(e);
    } finally {
      host.release(engine, req.tenantId);
    }
  };

  /**
   * Queues `req` on the admission path and resolves when it settles. A caller that gives up
   * while it still waits there takes it back at once.
   */
  const admit = (req: DecodeRequest, settled: Promise<void>): void => {
    host.submit(req);
    const signal = req.live.controller.signal;
    const withdraw = (): void => {
      if (host.withdraw(req)) req.resolve(undefined);
    };
    if (signal.aborted) withdraw();
    else signal.addEventListener('abort', withdraw, { once: true });
    void settled.finally(() => signal.removeEventListener('abort', withdraw));
  };

  /** Every check that needs no GPU: tenant, prompt, options, and whether the KV pool could ever hold the request. */
  const prepare = (tenantId: string, prompt: ModelInput, o: GenerateOptions) => {
    host.tenant(tenantId);
    const ids = toTokenIds(prompt, host.tokenizer, config, 'prompt', true);
    const maxTokens = o.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InvalidInputError(`maxTokens must be an integer >= 0, got ${maxTokens}`);
    const P = config.maxPositions;
    // The last generated token is never fed back, so it needs no position.
    if (ids.length + maxTokens - 1 > P) throw new InvalidInputError(`${ids.length} prompt tokens + ${maxTokens} new exceed the model's ${P} positions`);
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
    checkKv(kvTokens(ids.length, maxTokens));
    return { ids, maxTokens, sampling, stop };
  };

  /**
   * Streams the tenant's continuation of the prompt, one chunk per generated token. A stop
   * token ends generation with its chunk (its text left out), a stop string with the text
   * before it. Aborting the signal (or leaving the loop early) ends the request at once and
   * frees its KV blocks; an abort yields a last chunk with tokenId -1. If the device is lost
   * under it, the request continues once on the new engine from its prompt plus the tokens it
   * already streamed, with the same sampler (a seeded request's output is as if nothing happened).
   */
  async function* stream(tenantId: string, prompt: ModelInput, options: GenerateOptions): AsyncGenerator<GenerateChunk, void, undefined> {
    let p: ReturnType<typeof prepare>;
    try {
      p = prepare(tenantId, prompt, options);
    } catch (e) {
      host.metrics.requestsRejected++;
      throw e;
    }
    const l: Live = { tenantId, controller: new AbortController() };
    const onAbort = (): void => l.controller.abort();
    options.signal?.addEventListener('abort', onAbort);
    if (options.signal?.aborted) l.controller.abort();
    const out = new Channel<GenerateChunk>();
    const start = host.now();
    const decoder = host.tokenizer.createStreamDecoder();
    const stopText = new StopStringMatcher(p.stop);
    const stopIds = new Set(p.sampling.stopTokenIds ?? []);
    // One sampler for the request's whole life: a restart continues its random stream.
    const sampler = createSampler(p.sampling);
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
        emitEnd(id, stopText.push(decoder.flush()).text, 'stop');
        return true;
      }
      const piece = stopText.push(decoder.push(id));
      if (piece.stopped) {
        emitEnd(id, piece.text, 'stop');
        return true;
      }
      if (generated.length >= p.maxTokens) {
        emitEnd(id, piece.text + stopText.push(decoder.flush()).text, stopText.stopped ? 'stop' : 'length');
        return true;
      }
      out.push({ tokenId: id, text: piece.text, done: false });
      return false;
    };
    const finish = (reason: FinishReason): void => {
      if (reason === 'cancelled') {
        if (l.error !== undefined) throw l.error;
        if (!ended) emitEnd(-1, decoder.flush(), 'abort');
      } else if (!ended) {
        emitEnd(generated[generated.length - 1] ?? -1, decoder.flush(), 'length');
      }
      host.metrics.recordBatch([{ tenantId, tokens: generated.length, latencyMs: host.now() - start }]);
    };
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const req: DecodeRequest = {
      tenantId,
      tokens: p.ids.length,
      enqueuedAt: start,
      ids: p.ids,
      retried: false,
      live: l,
      mayRetry: () => !ended,
      async run(batcher) {
        const remaining = p.maxTokens - generated.length;
        if (remaining === 0) return finish('length');
        const r = await batcher.generate({ promptIds: [...p.ids, ...generated], maxNewTokens: remaining, sampler, signal: l.controller.signal, group: tenantId, onToken });
        finish(r.finishReason);
      },
      resolve: () => {
        // Withdrawn from the queue before it ran: the caller's abort, or the runtime's error.
        if (!ended && l.controller.signal.aborted) {
          try {
            finish('cancelled');
          } catch (e) {
            host.metrics.requestsRejected++;
            out.fail(e);
            settle();
            return;
          }
        }
        out.close();
        settle();
      },
      reject: (e) => {
        host.metrics.requestsRejected++;
        out.fail(e);
        settle();
      },
    };
    live.add(l);
    try {
      try {
        admit(req, settled);
      } catch (e) {
        // Never queued (a full queue): nothing will settle it.
        host.metrics.requestsRejected++;
        settle();
        throw e;
      }
      yield* out;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      l.controller.abort();
      await settled;
      live.delete(l);
    }
  }

  /**
   * The tenant's log-probability of each token of the input given those before it. The input
   * goes through generate()'s checks and admission, and rides in a decode step as a prefill
   * whose every row's logits are read back; log-softmax runs here in f64.
   */
  const score = (tenantId: string, input: ModelInput): Promise<ScoreResult> => {
    host.tenant(tenantId);
    const ids = toTokenIds(input, host.tokenizer, config, 'input', true);
    if (ids.length < 2) throw new InvalidInputError('scoring needs at least 2 tokens: the first has no context to be predicted from');
    checkKv(kvTokens(ids.length, 1));
    const start = host.now();
    const l: Live = { tenantId, controller: new AbortController() };
    let result: ScoreResult | undefined;
    let resolveScore!: (r: ScoreResult) => void;
    let rejectScore!: (e: unknown) => void;
    const answer = new Promise<ScoreResult>((resolve, reject) => {
      resolveScore = resolve;
      rejectScore = reject;
    });
    let settle!: () => void;
    const settled = new Promise<void>((done) => (settle = done));
    const req: DecodeRequest = {
      tenantId,
      tokens: ids.length,
      enqueuedAt: start,
      ids,
      retried: false,
      live: l,
      mayRetry: () => true,
      async run(batcher) {
        const r = await batcher.prefill({ promptIds: ids, signal: l.controller.signal, group: tenantId });
        // Only the runtime aborts a score (tenant removed, runtime disposed), and it says why.
        if (r.finishReason === 'cancelled') throw l.error ?? new RequestFailedError(`the score request of tenant ${tenantId} was cancelled`);
        result = scoreOf(tenantId, ids, r.logits, V);
        host.metrics.recordBatch([{ tenantId, tokens: ids.length, latencyMs: host.now() - start }]);
      },
      resolve: () => {
        if (result) resolveScore(result);
        else rejectScore(l.error ?? new RequestFailedError(`the score request of tenant ${tenantId} was cancelled`));
        settle();
      },
      reject: (e) => {
        rejectScore(e);
        settle();
      },
    };
    admit(req, settled);
    live.add(l);
    void settled.then(() => live.delete(l));
    return answer;
  };

  return {
    // A batch admits prompts into the decode loop, which budgets each step's tokens itself.
    admission: { tokenBudget: Number.POSITIVE_INFINITY, maxTenants: maxActive },
    builder: builder({ maxActive, ...(options.kvBytes !== undefined ? { kvBytes: options.kvBytes } : {}), ...(options.kvBlockTokens !== undefined ? { kvBlockTokens: options.kvBlockTokens } : {}) }),
    attach(engine) {
      lane = makeLane(engine);
    },
    // PLOT rows are prefetched per step, by the step itself: their keys need the last sampled ids.
    stage: () => Promise.resolve(undefined),
    async execute(engine, batch, _staged, launched) {
      const { batcher } = current();
      for (const r of batch) void runOn(engine, batcher, r as DecodeRequest);
      launched();
    },
    discard: () => undefined,
    waiting: () => lane?.batcher.waitingCount ?? 0,
    busy: () => (lane?.batcher.activeCount ?? 0) + (lane?.batcher.waitingCount ?? 0) > 0,
    removed(tenantId, error) {
      for (const l of live) if (l.tenantId === tenantId) end(l, error);
    },
    stop(error) {
      for (const l of live) end(l, error);
    },
    idle: () => lane?.batcher.idle() ?? Promise.resolve(),
    metrics(engine) {
      return { tokensPerSecond: rate.perSecond(), kvBytesUsed: engine.head.kv.bytesUsed, kvBytesTotal: engine.head.kv.bytesTotal };
    },
    generate: (tenantId, prompt, o = {}) => stream(tenantId, prompt, o),
    score,
  };
}
