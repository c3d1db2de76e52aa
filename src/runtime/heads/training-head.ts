import { DeviceLostError } from '../../errors.js';
import { maxBindingBytes } from '../../gpu/device.js';
import { LORA_TARGETS } from '../../formats/peft.js';
import type { ModelConfig } from '../../formats/model-config.js';
import type { HmiTokenizer } from '../../formats/tokenizer.js';
import { BertModel } from '../../model/bert.js';
import { Gpt2Model } from '../../model/gpt2.js';
import type { PackedBatch } from '../../model/batch.js';
import { BertTrainGraph } from '../../training/bert-graph.js';
import { GptTrainGraph } from '../../training/gpt-graph.js';
import type { FamilyGraph, TrainSlice } from '../../training/graph.js';
import { TrainableLora } from '../../training/trainable-lora.js';
import { Trainer, type SliceInput, type TokenizedExample } from '../../training/trainer.js';
import { allocBuffer, writeBuffer } from '../../gpu/buffers.js';
import { Rng } from '../../util/rng.js';
import type { LabelledExample, TenantSpec, TrainData, TrainMetric, TrainProgress, TrainProgressCallback, TrainResult, TrainSpec } from '../api.js';
import type { Engine } from '../engine.js';
import { InvalidInputError, TrainingAbortedError } from '../errors.js';
import { toTokenIds, truncatedIds } from '../input.js';

/** What training needs of the runtime core. */
export interface TrainingHost {
  readonly config: ModelConfig;
  readonly tokenizer: HmiTokenizer;
  readonly split: number;
  readonly tokenBudget: number;
  /** The current engine (replaced after a device loss). */
  engine(): Engine;
  hasDomain(id: string): boolean;
  /** Resolves when serving work already submitted has drained: a training slice goes after it. */
  turn(): Promise<void>;
  /** Throws RuntimeDisposedError once the runtime is disposed. */
  alive(): void;
  /** Stores and registers the trained tenant (the tenants.add path). */
  register(spec: TenantSpec): Promise<void>;
  now(): number;
}

/** Host memory a job may keep its domain tenant's split states in (f32, per example). */
export const SPLIT_STATE_CACHE_BYTES = 256 << 20;

/**
 * Default tokens of an hBERT slice (raised to the longest example): a serving request arriving
 * while one of its parts runs waits for that part, so parts should cost about a small serving
 * batch. hGPT slices default to a window of the model's positions (what the LM learns from).
 */
export const DEFAULT_SLICE_TOKENS = 64;

/** Most examples one job takes; more is a dataset for the offline trainer. */
export const MAX_TRAIN_EXAMPLES = 100_000;

const DEFAULTS = { rank: 8, epochs: 3, learningRate: 2e-3, weightDecay: 0.01, seed: 0 } as const;

function positiveInt(name: string, v: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw new InvalidInputError(`${name} must be an integer in 1..${max}, got ${String(v)}`);
  return v;
}

function positiveNumber(name: string, v: unknown, fallback: number, allowZero = false): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw new InvalidInputError(`${name} must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${String(v)}`);
  return v;
}

/** Seeded shuffle of indices, then the first `k` held out. */
function holdOut(n: number, fraction: number, seed: number): { train: number[]; held: number[] } {
  const rng = new Rng((seed ^ 0x7a11d) >>> 0);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const k = Math.min(n - 1, Math.floor(n * fraction));
  return { held: idx.slice(0, k).sort((a, b) => a - b), train: idx.slice(k).sort((a, b) => a - b) };
}

/**
 * The training head: `tenants.train`. It prepares the data on the CPU (tokens, labels, the
 * held-out split), trains the tenant's LoRA (and hBERT classifier) on the current engine's GPU
 * with the base frozen, on the path the tenant will be served by (PLOT lower layers for a
 * domain tenant, every layer otherwise), a slice at a time after whatever serving work is
 * queued, and registers the best epoch through the tenants.add path. Jobs run one at a time.
 */
export class TrainingHead {
  private tail: Promise<unknown> = Promise.resolve();
  /** GPU bytes of the running job (jobs run one at a time); 0 between jobs. */
  gpuBytes = 0;

  constructor(private readonly host: TrainingHost) {}

  train(spec: TrainSpec, onProgress?: TrainProgressCallback): Promise<TrainResult> {
    // Bad input is refused before the job waits for another to finish.
    let prepared: Prepared;
    try {
      this.host.alive();
      prepared = this.prepare(spec);
    } catch (e) {
      return Promise.reject(e);
    }
    const job = this.tail.then(() => this.run(prepared, onProgress));
    this.tail = job.catch(() => undefined);
    return job;
  }

  /** `window`: hGPT texts are cut into windows of at most this many tokens (a slice's rows). */
  private tokenize(data: TrainData, what: string, window: number, labels?: readonly string[]): { examples: TokenizedExample[]; labels?: readonly string[] } {
    const { config, tokenizer } = this.host;
    if (!Array.isArray(data)) throw new InvalidInputError(`${what} must be an array`);
    if (config.family === 'bert') {
      const items = data as readonly LabelledExample[];
      items.forEach((e, i) => {
        if (e === null || typeof e !== 'object' || typeof e.text !== 'string') throw new InvalidInputError(`${what}[${i}] must be an object with a text string and a label`);
        if (typeof e.label !== 'string' && !(typeof e.label === 'number' && Number.isFinite(e.label))) throw new InvalidInputError(`${what}[${i}].label must be a string or a number`);
        if (String(e.label).length === 0) throw new InvalidInputError(`${what}[${i}].label is empty`);
      });
      const names = labels ?? [...new Set(items.map((e) => String(e.label)))].sort();
      const index = new Map(names.map((n, i) => [n, i]));
      const examples = items.map((e, i): TokenizedExample => {
        const label = index.get(String(e.label));
        if (label === undefined) throw new InvalidInputError(`${what}[${i}] has label "${String(e.label)}", which the training data does not have (${names.join(', ')})`);
        return { ids: truncatedIds(e.text, tokenizer, config, `${what}[${i}]`), label };
      });
      return { examples, labels: names };
    }
    const W = Math.min(config.maxPositions, window);
    const examples: TokenizedExample[] = [];
    (data as readonly string[]).forEach((text, i) => {
      if (typeof text !== 'string') throw new InvalidInputError(`${what}[${i}] must be a string (an hGPT tenant trains on plain texts)`);
      const eos = config.family === 'gpt2' ? config.eosTokenId : undefined;
      const ids = [...toTokenIds(text, tokenizer, { ...config, maxPositions: Number.POSITIVE_INFINITY }, `${what}[${i}]`), ...(eos !== undefined ? [eos] : [])];
      for (let s = 0; s + 1 < ids.length; s += W) examples.push({ ids: ids.slice(s, s + W), label: 0 });
    });
    return { examples: examples.filter((e) => e.ids.length >= 2) };
  }

  /** hGPT: rows of one GPU slice, the batchTokens budget with the LM head's logits in one binding (a window fills a slice at most). */
  private gptRows(config: ModelConfig, batchTokens: number): number {
    return Math.max(2, Math.min(batchTokens, Math.floor(maxBindingBytes(this.host.engine().ctx.limits) / (config.vocabSize * 4))));
  }

  private prepare(spec: TrainSpec): Prepared {
    const { config, split } = this.host;
    if (spec === null || typeof spec !== 'object') throw new InvalidInputError('train takes a TrainSpec object');
    if (typeof spec.id !== 'string' || spec.id.length === 0 || spec.id.length > 256) throw new InvalidInputError('a tenant id must be a non-empty string of at most 256 characters');
    if (spec.domain !== undefined && (typeof spec.domain !== 'string' || !this.host.hasDomain(spec.domain))) throw new InvalidInputError(`unknown domain "${String(spec.domain)}": add it with domains.add first`);
    if (!Array.isArray(spec.data) || spec.data.length === 0) throw new InvalidInputError('data must be a non-empty array of training examples');
    if (spec.data.length > MAX_TRAIN_EXAMPLES) throw new InvalidInputError(`data has ${spec.data.length} examples; a job takes at most ${MAX_TRAIN_EXAMPLES}`);
    const rank = positiveInt('rank', spec.rank, DEFAULTS.rank, 256);
    const alpha = positiveNumber('alpha', spec.alpha, 2 * rank);
    const epochs = positiveInt('epochs', spec.epochs, DEFAULTS.epochs, 1000);
    const learningRate = positiveNumber('learningRate', spec.learningRate, DEFAULTS.learningRate);
    const weightDecay = positiveNumber('weightDecay', spec.weightDecay, DEFAULTS.weightDecay, true);
    const batchSize = positiveInt('batchSize', spec.batchSize, config.family === 'bert' ? 32 : 8, 4096);
    const defaultSlice = config.family === 'bert' ? DEFAULT_SLICE_TOKENS : Math.min(this.host.tokenBudget, config.maxPositions);
    const batchTokens = positiveInt('batchTokens', spec.batchTokens, defaultSlice, 1 << 20);
    const window = config.family === 'gpt2' ? this.gptRows(config, batchTokens) : batchTokens;
    if (spec.seed !== undefined && (!Number.isInteger(spec.seed) || spec.seed < 0 || spec.seed > 0xffffffff)) throw new InvalidInputError(`seed must be an integer in 0..2^32-1, got ${String(spec.seed)}`);
    const seed = spec.seed ?? DEFAULTS.seed;
    const targets = spec.targets ?? LORA_TARGETS[config.family];
    if (!Array.isArray(targets) || targets.length === 0) throw new InvalidInputError('targets must be a non-empty array of module names');
    if (spec.signal !== undefined && !(typeof spec.signal === 'object' && spec.signal !== null && 'aborted' in spec.signal)) throw new InvalidInputError('signal must be an AbortSignal');
    const from = spec.domain !== undefined ? split : 0;
    if (from >= config.numLayers) throw new InvalidInputError(`a tenant of a domain trains layers ${split} and above, and the model has ${config.numLayers}`);
    const all = this.tokenize(spec.data, 'data', window);
    let examples = all.examples;
    let validation: TokenizedExample[] = [];
    const v = spec.validation;
    if (Array.isArray(v)) {
      validation = this.tokenize(v as TrainData, 'validation', window, all.labels).examples;
    } else {
      const fraction = v === undefined ? (examples.length >= 20 ? 0.1 : 0) : (v as unknown);
      if (typeof fraction !== 'number' || !(fraction >= 0 && fraction < 1)) throw new InvalidInputError(`validation must be held-out data or a fraction in [0, 1), got ${String(v)}`);
      if (fraction > 0) {
        const { train, held } = holdOut(examples.length, fraction, seed);
        validation = held.map((i) => examples[i]);
        examples = train.map((i) => examples[i]);
      }
    }
    if (examples.length === 0) throw new InvalidInputError('no training example is left (an hGPT text needs at least 2 tokens)');
    if (all.labels && all.labels.length < 2) throw new InvalidInputError(`a classifier needs at least 2 labels; the data has only "${all.labels[0]}"`);
    const description = spec.description ?? `trained in the runtime on ${spec.data.length} examples`;
    return {
      spec,
      description,
      from,
      examples,
      validation,
      labels: all.labels,
      rank,
      alpha,
      targets: [...targets],
      // hBERT: at least the longest example, so every one fits a slice whole.
      rows: config.family === 'bert' ? Math.max(batchTokens, ...all.examples.map((e) => e.ids.length), ...validation.map((e) => e.ids.length)) : window,
      hyper: { epochs, learningRate, weightDecay, batchSize, seed, warmup: Math.min(30, Math.floor((epochs * Math.ceil(examples.length / batchSize)) / 5)), beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    };
  }

  private async run(p: Prepared, onProgress?: TrainProgressCallback): Promise<TrainResult> {
    const host = this.host;
    const { config } = host;
    const { spec } = p;
    const signal = spec.signal;
    const started = host.now();
    const engine = host.engine();
    const check = (): void => {
      host.alive();
      if (signal?.aborted) throw new TrainingAbortedError(spec.id);
      if (host.engine() !== engine || engine.lost) throw new DeviceLostError('training', `the GPU device was lost while tenant "${spec.id}" trained; nothing was stored, train again`);
    };
    check();
    const rows = p.rows;
    const maxSeqs = rows;
    const emit = (x: Omit<TrainProgress, 'epochs' | 'elapsedMs' | 'tokensPerSecond'> & { tokens: number }): void => {
      const elapsedMs = host.now() - started;
      const { tokens, ...rest } = x;
      onProgress?.({ ...rest, epochs: p.hyper.epochs, elapsedMs, tokensPerSecond: elapsedMs > 0 ? (tokens * 1000) / elapsedMs : 0 });
    };
    emit({ phase: 'prepare', epoch: 0, step: 0, steps: 0, loss: Number.NaN, tokens: 0 });
    const disposers: (() => void)[] = [];
    try {
      const lora = await TrainableLora.create(engine.ctx, config, { rank: p.rank, alpha: p.alpha, targets: p.targets, fromLayer: p.from, ...(p.labels ? { numLabels: p.labels.length } : {}) }, p.hyper.seed);
      disposers.push(() => lora.destroy());
      this.gpuBytes += lora.gpuBytes;
      const graph: FamilyGraph =
        config.family === 'bert'
          ? await BertTrainGraph.create(engine.ctx, config, engine.base, lora, p.from, rows, maxSeqs)
          : await GptTrainGraph.create(engine.ctx, config, engine.base, lora, p.from, rows, maxSeqs);
      disposers.push(() => graph.destroy());
      this.gpuBytes += graph.bytes;
      const input = await this.inputFor(engine, p, rows, maxSeqs, disposers);
      const trainer = new Trainer({ ctx: engine.ctx, config, graph, lora, input, turn: () => host.turn(), check, now: host.now }, p.hyper);
      let last: TrainMetric | undefined;
      let tokens = 0;
      const perEpoch = Math.ceil(p.examples.length / p.hyper.batchSize);
      const outcome = await trainer.train(
        p.examples,
        p.validation,
        (s) => {
          tokens = s.tokens;
          emit({ phase: 'train', epoch: s.epoch, step: s.step, steps: s.steps, loss: s.loss, tokens, ...(last ? { validation: last } : {}) });
        },
        (e) => {
          if (e.validation) last = e.validation;
          emit({ phase: 'validate', epoch: e.epoch, step: e.epoch * perEpoch, steps: p.hyper.epochs * perEpoch, loss: e.loss, tokens, ...(last ? { validation: last } : {}) });
        },
      );
      check();
      const adapter = lora.toAdapter(outcome.params, p.labels);
      emit({ phase: 'store', epoch: p.hyper.epochs, step: outcome.steps, steps: outcome.steps, loss: outcome.history[outcome.history.length - 1]?.loss ?? Number.NaN, tokens: outcome.tokens, ...(last ? { validation: last } : {}) });
      await host.register({ id: spec.id, ...(spec.domain !== undefined ? { domain: spec.domain } : {}), adapter, description: p.description });
      const seconds = (host.now() - started) / 1000;
      const bestValidation = outcome.history[outcome.bestEpoch - 1]?.validation;
      return {
        tenantId: spec.id,
        family: config.family,
        ...(p.labels ? { labels: p.labels } : {}),
        examples: p.examples.length,
        validationExamples: p.validation.length,
        steps: outcome.steps,
        epochs: p.hyper.epochs,
        bestEpoch: outcome.bestEpoch,
        history: outcome.history,
        ...(bestValidation ? { validation: bestValidation } : {}),
        tokens: outcome.tokens,
        seconds,
        tokensPerSecond: seconds > 0 ? outcome.tokens / seconds : 0,
        adapter,
      };
    } catch (e) {
      // A dispose mid-slice fails the GPU work under it: report the dispose, not its symptom.
      host.alive();
      throw e;
    } finally {
      for (const d of disposers.reverse()) d();
      this.gpuBytes = 0;
    }
  }

  /**
   * Where a slice's input state comes from: the domain's PLOT (as served), else the embeddings.
   * A domain tenant's states are the costly part (a PLOT miss runs a window through the lower
   * layers), and the lower layers are frozen: each example's state is kept after its first
   * slice, up to SPLIT_STATE_CACHE_BYTES, as the offline trainer computes them once per example.
   */
  private async inputFor(engine: Engine, p: Prepared, rows: number, maxSeqs: number, disposers: (() => void)[]): Promise<(slice: TrainSlice) => Promise<SliceInput>> {
    const domain = p.spec.domain;
    const { config } = this.host;
    const H = config.hiddenSize;
    if (domain !== undefined) {
      const assembler = engine.assembler;
      const kept = new Map<string, Float32Array>();
      let keptBytes = 0;
      const staging = await allocBuffer(engine.ctx, rows * H * 4, 'train-split-states');
      disposers.push(() => staging.destroy());
      this.gpuBytes += staging.size;
      return async (slice) => {
        const seqs = sequences(slice.batch);
        const keys = seqs.map((ids) => ids.join(','));
        if (keys.every((k) => kept.has(k))) {
          const flat = new Float32Array(slice.batch.rows * H);
          keys.forEach((k, i) => flat.set(kept.get(k)!, slice.batch.starts[i] * H));
          writeBuffer(engine.ctx, staging, flat);
          return { source: staging, release: () => undefined };
        }
        // A measurement of the tenant's path, not traffic: no frequency counter moves.
        const prepared = await assembler.prefetch(seqs.map((ids) => ({ ids, domain })), { record: false });
        const keep =
          keptBytes < SPLIT_STATE_CACHE_BYTES
            ? (state: Float32Array): void => {
                keys.forEach((k, i) => {
                  if (kept.has(k)) return;
                  const s = slice.batch.starts[i] * H;
                  kept.set(k, state.slice(s, s + slice.batch.lengths[i] * H));
                  keptBytes += slice.batch.lengths[i] * H * 4;
                });
              }
            : undefined;
        return { source: (pass, dst) => assembler.encode(pass, prepared, dst), release: () => assembler.release(prepared), ...(keep ? { keep } : {}) };
      };
    }
    const opts = { autotune: false, maxTokens: rows, maxSeqs, lowerOnly: true } as const;
    // Its own workspace: serving batches run between slices and must not overwrite the embeddings.
    const model = config.family === 'bert' ? await BertModel.create(engine.ctx, config, engine.base, opts) : await Gpt2Model.create(engine.ctx, config, engine.base, opts);
    disposers.push(() => model.dispose());
    this.gpuBytes += model.workspaceBytes;
    return async (slice) => ({ source: await model.runLower(slice.batch, 0), release: () => undefined });
  }
}

function sequences(b: PackedBatch): number[][] {
  return b.starts.map((s, i) => Array.from(b.ids.subarray(s, s + b.lengths[i])));
}

interface Prepared {
  readonly spec: TrainSpec;
  readonly description: string;
  readonly from: number;
  readonly examples: TokenizedExample[];
  readonly validation: TokenizedExample[];
  readonly labels: readonly string[] | undefined;
  readonly rank: number;
  readonly alpha: number;
  readonly targets: string[];
  readonly rows: number;
  readonly hyper: ConstructorParameters<typeof Trainer>[1];
}
