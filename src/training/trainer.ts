import type { GpuContext } from '../gpu/device.js';
import { run } from '../gpu/dispatch.js';
import { encodeAdamW } from '../kernels/adamw.js';
import { CROSS_ENTROPY_IGNORE } from '../kernels/cross-entropy.js';
import type { ModelConfig } from '../formats/model-config.js';
import { packBatch } from '../model/batch.js';
import type { HiddenSource } from '../model/pass.js';
import { Rng } from '../util/rng.js';
import type { FamilyGraph, TrainSlice } from './graph.js';
import type { TrainableLora } from './trainable-lora.js';

/** One tokenized example: hBERT a labelled text (label index), hGPT a window of a text (label unused). */
export interface TokenizedExample {
  readonly ids: readonly number[];
  readonly label: number;
}

export interface Hyper {
  readonly epochs: number;
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly batchSize: number;
  readonly seed: number;
  /** Linear warm-up steps before the cosine decay. */
  readonly warmup: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
}

export interface SliceInput {
  readonly source: HiddenSource;
  release(): void;
  /** Set when the state is worth keeping: it is handed the state the slice ran on, [rows, H]. */
  readonly keep?: (state: Float32Array) => void;
}

/** What trains on the GPU and where a slice's input state comes from. */
export interface TrainerParts {
  readonly ctx: GpuContext;
  readonly config: ModelConfig;
  readonly graph: FamilyGraph;
  readonly lora: TrainableLora;
  /** The state entering the first trained layer for a slice (PLOT's combine or the embeddings); release after the submit. */
  input(slice: TrainSlice): Promise<SliceInput>;
  /** Resolves when the GPU may take a training slice (serving goes first). */
  turn(): Promise<void>;
  /** Throws when the job must stop (aborted, runtime disposed, device lost). */
  check(): void;
  now(): number;
}

export interface EpochReport {
  readonly epoch: number;
  readonly loss: number;
  readonly validation?: { readonly metric: 'accuracy' | 'perplexity'; readonly value: number };
}

export interface StepReport {
  readonly epoch: number;
  readonly step: number;
  readonly steps: number;
  readonly loss: number;
  readonly tokens: number;
}

export interface TrainOutcome {
  readonly params: Float32Array;
  readonly bestEpoch: number;
  readonly history: readonly EpochReport[];
  readonly steps: number;
  readonly tokens: number;
}

/** The learning rate of step `t` of `steps`: linear warm-up, then cosine to 0 (as training/py/train.py). */
export function learningRateAt(t: number, steps: number, peak: number, warmup: number): number {
  if (t < warmup) return (peak * (t + 1)) / warmup;
  return peak * 0.5 * (1 + Math.cos((Math.PI * (t - warmup)) / Math.max(1, steps - warmup)));
}

/** Lexicographic a > b. */
function better(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
}

/** Seeded Fisher-Yates over 0..n-1. */
function permutation(n: number, rng: Rng): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/**
 * The training loop over a family graph: epochs of seeded shuffles, optimizer steps of
 * `batchSize` examples, each split into GPU slices that fit the graph (gradients accumulate,
 * the loss is scaled by the whole step's count), one AdamW dispatch per step, a validation
 * pass per epoch, and the best epoch's parameters kept. Every dispatch runs in a fixed order
 * without atomics, so the same seed and data give the same bytes on one device.
 */
export class Trainer {
  constructor(
    private readonly p: TrainerParts,
    private readonly hyper: Hyper,
  ) {}

  /** Examples of one step grouped into slices the graph can hold. */
  private slices(examples: readonly TokenizedExample[], train: boolean): TrainSlice[] {
    const g = this.p.graph;
    const family = this.p.config.family;
    const count = family === 'bert' ? examples.length : examples.reduce((n, e) => n + e.ids.length - 1, 0);
    const lossScale = train && count > 0 ? 1 / count : 0;
    const out: TrainSlice[] = [];
    let group: TokenizedExample[] = [];
    let rows = 0;
    const flush = (): void => {
      if (group.length === 0) return;
      const batch = packBatch(
        this.p.config,
        group.map((e) => ({ ids: e.ids })),
      );
      let targets: Uint32Array;
      if (family === 'bert') {
        targets = Uint32Array.from(group.map((e) => e.label));
      } else {
        targets = new Uint32Array(batch.rows).fill(CROSS_ENTROPY_IGNORE);
        group.forEach((e, s) => {
          for (let i = 0; i + 1 < e.ids.length; i++) targets[batch.starts[s] + i] = e.ids[i + 1];
        });
      }
      out.push({ batch, targets, lossScale });
      group = [];
      rows = 0;
    };
    for (const e of examples) {
      if (group.length > 0 && (rows + e.ids.length > g.maxRows || group.length >= g.maxSeqs)) flush();
      group.push(e);
      rows += e.ids.length;
    }
    flush();
    return out;
  }

  private async runSlice(slice: TrainSlice, train: boolean): Promise<Float32Array> {
    this.p.check();
    await this.p.turn();
    this.p.check();
    const input = await this.p.input(slice);
    const parts = this.p.graph.parts(slice, input.source, train);
    let released = false;
    try {
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) {
          // Between parts too: a serving request arriving now waits for one part (half a layer) at most.
          await this.p.turn();
          this.p.check();
        }
        parts[i]();
        if (i === 0) {
          input.release();
          released = true;
        }
      }
    } finally {
      if (!released) input.release();
    }
    const loss = await this.p.graph.readLoss(slice);
    if (input.keep) input.keep(await this.p.graph.readInput(slice));
    return loss;
  }

  /** hBERT accuracy or hGPT perplexity over held-out examples, and the mean loss (what breaks accuracy ties). */
  async evaluate(examples: readonly TokenizedExample[]): Promise<{ metric: 'accuracy' | 'perplexity'; value: number; loss: number }> {
    const bert = this.p.config.family === 'bert';
    let correct = 0;
    let lossSum = 0;
    let targets = 0;
    for (const slice of this.slices(examples, false)) {
      const loss = await this.runSlice(slice, false);
      if (bert) {
        const logits = await this.p.graph.readLogits!(slice);
        const n = logits.length / slice.batch.numSeqs;
        for (let s = 0; s < slice.batch.numSeqs; s++) {
          lossSum += loss[s];
          targets++;
          let best = 0;
          for (let c = 1; c < n; c++) if (logits[s * n + c] > logits[s * n + best]) best = c;
          if (best === slice.targets[s]) correct++;
        }
      } else {
        for (let r = 0; r < slice.batch.rows; r++) {
          if (slice.targets[r] === CROSS_ENTROPY_IGNORE) continue;
          lossSum += loss[r];
          targets++;
        }
      }
    }
    const mean = lossSum / Math.max(1, targets);
    return bert ? { metric: 'accuracy', value: correct / Math.max(1, examples.length), loss: mean } : { metric: 'perplexity', value: Math.exp(mean), loss: mean };
  }

  async train(
    examples: readonly TokenizedExample[],
    validation: readonly TokenizedExample[],
    onStep: (s: StepReport) => void,
    onEpoch: (e: EpochReport) => void,
  ): Promise<TrainOutcome> {
    const h = this.hyper;
    const { ctx, lora } = this.p;
    const perEpoch = Math.ceil(examples.length / h.batchSize);
    const steps = h.epochs * perEpoch;
    const rng = new Rng((h.seed ^ 0x5eed) >>> 0);
    const bert = this.p.config.family === 'bert';
    const history: EpochReport[] = [];
    let best: { score: readonly number[]; epoch: number; params: Float32Array } | null = null;
    let t = 0;
    let tokens = 0;
    for (let epoch = 1; epoch <= h.epochs; epoch++) {
      const order = permutation(examples.length, rng);
      let epochLoss = 0;
      for (let b = 0; b < order.length; b += h.batchSize) {
        const batch = order.slice(b, b + h.batchSize).map((i) => examples[i]);
        const enc = ctx.device.createCommandEncoder();
        enc.clearBuffer(lora.grads);
        ctx.submit([enc.finish()]);
        let lossSum = 0;
        let count = 0;
        for (const slice of this.slices(batch, true)) {
          const loss = await this.runSlice(slice, true);
          for (let i = 0; i < loss.length; i++) lossSum += loss[i];
          count += bert ? slice.batch.numSeqs : slice.targets.filter((x) => x !== CROSS_ENTROPY_IGNORE).length;
          tokens += slice.batch.rows;
        }
        this.p.check();
        const lr = learningRateAt(t, steps, h.learningRate, h.warmup);
        t++;
        run(ctx, (pass) =>
          encodeAdamW(ctx, pass, { params: lora.params, grads: lora.grads, m: lora.m, v: lora.v, n: lora.size, lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay, step: t }),
        );
        const loss = lossSum / Math.max(1, count);
        epochLoss += loss;
        onStep({ epoch, step: t, steps, loss, tokens });
      }
      const measured = validation.length > 0 ? await this.evaluate(validation) : undefined;
      const report: EpochReport = { epoch, loss: epochLoss / Math.max(1, perEpoch), ...(measured ? { validation: { metric: measured.metric, value: measured.value } } : {}) };
      history.push(report);
      onEpoch(report);
      // Higher accuracy (then lower validation loss) or lower perplexity wins, the earlier epoch on
      // a tie; without validation, the last epoch.
      const score = measured ? [measured.metric === 'accuracy' ? measured.value : -measured.value, -measured.loss] : [epoch];
      if (!best || better(score, best.score)) best = { score, epoch, params: await lora.read() };
    }
    return { params: best!.params, bestEpoch: best!.epoch, history, steps, tokens };
  }
}
