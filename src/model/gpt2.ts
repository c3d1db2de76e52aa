import { autotuneMatmul } from '../kernels/matmul-autotune.js';
import { readF32, writeBuffer } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import { encodeAttention } from '../kernels/attention.js';
import { encodeShardedEmbedding } from '../kernels/embedding.js';
import { encodeGatherRows } from '../kernels/gather-rows.js';
import { encodeGelu } from '../kernels/gelu.js';
import { encodeLayerNorm } from '../kernels/layernorm.js';
import type { MatmulShape } from '../kernels/matmul.js';
import { encodeShardedMatmul, type ShardedWeight } from '../kernels/weight-shards.js';
import type { BaseWeights } from '../knowledge/general/base-weights.js';
import { checkSplit, type Gpt2Config } from '../formats/model-config.js';
import { lastRows, packBatch, type PackedBatch, type SequenceInput } from './batch.js';
import type { ModelOptions } from './options.js';
import { ConfigError } from '../formats/errors.js';
import { InputError, KvCacheError } from './errors.js';
import { KvPool, type KvStep, type KvStepEntry } from './kv/kv-pool.js';
import { encodePagedAttentionLayer } from './kv/paged-attention-layer.js';
import type { LoraApplier } from './lora-hook.js';
import { hiddenCopy, submitPass } from './pass.js';
import { encodeProjection, projection, type Projection } from './project.js';
import { Workspace } from './workspace.js';

interface Norm {
  readonly gamma: GPUBuffer;
  readonly beta: GPUBuffer;
}

interface Gpt2Block {
  readonly ln1: Norm;
  readonly cAttn: Projection;
  readonly cProj: Projection;
  readonly ln2: Norm;
  readonly cFc: Projection;
  readonly mlpProj: Projection;
}

/** The paged-cache sequence of each sequence of a batch; the batch's `past` must be their lengths. */
export interface KvBinding {
  readonly pool: KvPool;
  readonly seqIds: readonly number[];
}

/**
 * Which rows get LM-head logits: every row, the last row of each sequence, none, or the
 * packed rows listed (in that order: the logits' row j is listed row j).
 */
export type LogitRows = 'all' | 'last' | 'none' | Uint32Array;

export interface Gpt2RunOptions {
  readonly lora?: LoraApplier;
  readonly kv?: KvBinding;
  /** Default 'all'. */
  readonly logits?: LogitRows;
}

/** GPU results of a forward; workspace buffers, valid until the model's next run. */
export interface Gpt2Outputs {
  readonly rows: number;
  /** ln_f output [rows, H]. */
  readonly hidden: GPUBuffer;
  /** [logitRows, vocab]: all rows or each sequence's last row, per the request. */
  readonly logits: GPUBuffer | null;
  readonly logitRows: number;
}

export interface StepEntry {
  /** A sequence admitted to the pool. */
  readonly seqId: number;
  /** Tokens appended to the sequence: the prompt at prefill, one token per decode step. */
  readonly ids: readonly number[];
  /** Logits of every token of `ids` (scoring a prompt), not only of the last. */
  readonly allLogits?: boolean;
}

export interface GreedyOptions {
  readonly lora?: LoraApplier;
  /** Generation of a sequence ends after one of these (it is included in the output). */
  readonly stopIds?: readonly number[];
}

function norm(base: BaseWeights, name: string, H: number): Norm {
  return { gamma: base.get(`${name}.weight`, [H]), beta: base.get(`${name}.bias`, [H]) };
}

/** Block size of the pools generateGreedyBatch sizes for its prompts. */
const GREEDY_BLOCK_TOKENS = 16;

/** Each sequence's rows of the batch, as the pool stages and advances them. */
function stepEntries(batch: PackedBatch, kv: KvBinding): KvStepEntry[] {
  return kv.seqIds.map((seqId, s) => ({ seqId, qStart: batch.starts[s], qLen: batch.lengths[s] }));
}

/** The rows a step reads logits of: each entry's last, or all of its rows when it asks. */
function stepLogitRows(batch: PackedBatch, entries: readonly StepEntry[]): LogitRows {
  if (!entries.some((e) => e.allLogits)) return 'last';
  const rows: number[] = [];
  entries.forEach((e, s) => {
    const end = batch.starts[s] + batch.lengths[s];
    for (let r = e.allLogits ? batch.starts[s] : end - 1; r < end; r++) rows.push(r);
  });
  return Uint32Array.from(rows);
}

/** Index of the first maximum of row `r` of a [*, n] matrix. */
function argmaxRow(x: Float32Array, r: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[r * n + i] > x[r * n + best]) best = i;
  return best;
}

/**
 * GPT-2 (HF GPT2LMHeadModel, tied LM head) from the kernels, over packed batches, split at
 * any layer S: runLower = wte + wpe + blocks 0..S-1 (the residual stream), runUpper = blocks
 * S..L-1 + ln_f + LM head. With a KvBinding, each pass appends its tokens' keys/values to
 * their sequences' blocks of the paged KvPool and attends over all of them: prefill and decode steps of
 * different sequences go through the same dispatches.
 *
 * Outputs live in the model's workspace: read them (or pass them to runUpper) before the
 * next run. step() and the generate methods serialize themselves and are safe to overlap.
 */
export class Gpt2Model {
  private readonly ws: Workspace;
  /** Steps run one at a time: each reads its logits back from the shared workspace. */
  private stepTail: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly ctx: GpuContext,
    readonly config: Gpt2Config,
    readonly base: BaseWeights,
    private readonly blocks: readonly Gpt2Block[],
    /** The token embedding, also the tied LM head: f32 or f16, in row shards past one binding. */
    private readonly wte: ShardedWeight,
    private readonly wpe: GPUBuffer,
    private readonly lnF: Norm,
  ) {
    this.ws = new Workspace(ctx, 'gpt2');
  }

  static async create(ctx: GpuContext, config: Gpt2Config, base: BaseWeights, opts: ModelOptions = {}): Promise<Gpt2Model> {
    const H = config.hiddenSize;
    const I = config.intermediateSize;
    if (H % config.numHeads !== 0) throw new ConfigError(`hidden size ${H} is not a multiple of ${config.numHeads} heads`);
    const blocks = Array.from({ length: config.numLayers }, (_, l): Gpt2Block => {
      const p = `h.${l}`;
      return {
        ln1: norm(base, `${p}.ln_1`, H),
        cAttn: projection(base, `${p}.attn.c_attn`, H, 3 * H, 'kn'),
        cProj: projection(base, `${p}.attn.c_proj`, H, H, 'kn'),
        ln2: norm(base, `${p}.ln_2`, H),
        cFc: projection(base, `${p}.mlp.c_fc`, H, I, 'kn'),
        mlpProj: projection(base, `${p}.mlp.c_proj`, I, H, 'kn'),
      };
    });
    const model = new Gpt2Model(
      ctx,
      config,
      base,
      blocks,
      base.tensor('wte.weight', [config.vocabSize, H]),
      base.get('wpe.weight', [config.maxPositions, H]),
      norm(base, 'ln_f', H),
    );
    const maxTokens = opts.maxTokens ?? Math.min(128, config.maxPositions);
    const maxSeqs = opts.maxSeqs ?? 8;
    await model.reserve(maxTokens, maxSeqs, opts.lowerOnly ? 0 : maxSeqs);
    if (opts.autotune ?? true) await autotuneMatmul(ctx, model.matmulShapes(maxTokens, maxSeqs), { ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
    return model;
  }

  /** The matmul shapes of a prefill over `rows` tokens and a decode step of `seqs` sequences. */
  matmulShapes(rows: number, seqs: number): MatmulShape[] {
    const { hiddenSize: H, intermediateSize: I, vocabSize: V } = this.config;
    return [rows, seqs].flatMap((M): MatmulShape[] => [
      { M, N: 3 * H, K: H, wLayout: 'kn' },
      { M, N: H, K: H, wLayout: 'kn' },
      { M, N: I, K: H, wLayout: 'kn' },
      { M, N: H, K: I, wLayout: 'kn' },
      { M: Math.min(M, seqs), N: V, K: H, wLayout: 'nk' },
    ]);
  }

  get workspaceBytes(): number {
    return this.ws.bytes;
  }

  /** Validates and packs sequences without a cache (positions from 0). */
  pack(seqs: readonly SequenceInput[]): PackedBatch {
    return packBatch(this.config, seqs);
  }

  /** Validates and packs one step over pool sequences: each entry's tokens follow its sequence's cached ones. */
  packStep(pool: KvPool, entries: readonly StepEntry[]): { batch: PackedBatch; kv: KvBinding } {
    const seqIds = entries.map((e) => e.seqId);
    if (new Set(seqIds).size !== seqIds.length) throw new KvCacheError(`a step names sequence ${seqIds.find((s, i) => seqIds.indexOf(s) !== i)} twice`);
    const batch = packBatch(
      this.config,
      entries.map((e) => ({ ids: e.ids })),
      seqIds.map((s) => pool.length(s)),
    );
    return { batch, kv: { pool, seqIds } };
  }

  private async reserve(rows: number, seqs: number, logitRows: number): Promise<void> {
    const { hiddenSize: H, intermediateSize: I, vocabSize: V } = this.config;
    const f = 4;
    // The rows whose logits a pass computes (gathered into `sel`): each sequence's last, or a list.
    const gathered = Math.max(seqs, logitRows);
    await this.ws.reserve({
      ids: rows * f,
      positions: rows * f,
      seqs: seqs * 4 * f,
      lastRows: gathered * f,
      hA: rows * H * f,
      ln: rows * H * f,
      qkv: rows * 3 * H * f,
      ctx: rows * H * f,
      ffn: rows * I * f,
      sel: gathered * H * f,
      logits: Math.max(1, logitRows) * V * f,
    });
  }

  private checkKv(batch: PackedBatch, kv: KvBinding, from: number): void {
    if (kv.seqIds.length !== batch.numSeqs) throw new KvCacheError(`${kv.seqIds.length} cache sequences for ${batch.numSeqs} batch sequences`);
    if (from < kv.pool.fromLayer) throw new KvCacheError(`the cache starts at layer ${kv.pool.fromLayer}, the pass at layer ${from}`);
    kv.seqIds.forEach((seqId, s) => {
      const cached = kv.pool.length(seqId);
      if (cached !== batch.past[s]) throw new KvCacheError(`sequence ${s} was packed after ${batch.past[s]} cached tokens, sequence ${seqId} holds ${cached}`);
    });
  }

  /**
   * Uploads the batch's inputs. With a KV binding it also takes the blocks the pass writes
   * (KvPoolError past a sequence's reservation) and uploads the step's block tables: the pass
   * must be submitted before the pool stages another step.
   */
  private async stage(batch: PackedBatch, logitRows: LogitRows, lora?: LoraApplier, kv?: KvBinding): Promise<{ n: number; step: KvStep | undefined }> {
    const listed = typeof logitRows === 'string' ? undefined : logitRows;
    if (listed?.some((r) => r >= batch.rows)) throw new InputError(`a logits row is outside the batch's ${batch.rows} rows`);
    const n = logitRows === 'all' ? batch.rows : logitRows === 'last' ? batch.numSeqs : logitRows === 'none' ? 0 : logitRows.length;
    await this.reserve(batch.rows, batch.numSeqs, n);
    await lora?.prepare?.(batch.rows);
    let step: KvStep | undefined;
    if (kv) {
      step = kv.pool.stageStep(stepEntries(batch, kv));
    } else {
      const seqs = new Uint32Array(batch.numSeqs * 4);
      for (let s = 0; s < batch.numSeqs; s++) seqs.set([batch.starts[s], batch.lengths[s], batch.starts[s], batch.lengths[s]], s * 4);
      writeBuffer(this.ctx, this.ws.get('seqs'), seqs);
    }
    writeBuffer(this.ctx, this.ws.get('ids'), batch.ids);
    writeBuffer(this.ctx, this.ws.get('positions'), batch.positions);
    writeBuffer(this.ctx, this.ws.get('lastRows'), listed ?? lastRows(batch));
    return { n, step };
  }

  /** wte + wpe and blocks 0..split-1. Returns the residual stream [rows, H]. */
  async runLower(batch: PackedBatch, split: number, opts: { lora?: LoraApplier; kv?: KvBinding } = {}): Promise<GPUBuffer> {
    checkSplit(this.config, split);
    if (opts.kv) this.checkKv(batch, opts.kv, 0);
    const { step } = await this.stage(batch, 'none', opts.lora, opts.kv);
    submitPass(this.ctx, (pass) => {
      this.encodeEmbeddings(pass, batch);
      this.encodeBlocks(pass, batch, 0, split, opts.lora, opts.kv, step);
    });
    return this.ws.get('hA');
  }

  /**
   * Blocks split..L-1 on hiddenIn (the residual stream after block split-1), then ln_f and
   * the LM head. With a KvBinding the caller advances the pool once the step is complete
   * (see step()).
   */
  async runUpper(batch: PackedBatch, split: number, hiddenIn: GPUBuffer, opts: Gpt2RunOptions = {}): Promise<Gpt2Outputs> {
    checkSplit(this.config, split);
    if (opts.kv) this.checkKv(batch, opts.kv, split);
    const which = opts.logits ?? 'all';
    const { n, step } = await this.stage(batch, which, opts.lora, opts.kv);
    const copies = hiddenCopy(hiddenIn, this.ws.get('hA'), batch.rows, this.config.hiddenSize);
    submitPass(
      this.ctx,
      (pass) => {
        this.encodeBlocks(pass, batch, split, this.config.numLayers, opts.lora, opts.kv, step);
        this.encodeHead(pass, batch, which, n);
      },
      copies,
    );
    return this.outputs(batch, n);
  }

  /** The whole model in one pass. */
  async forward(batch: PackedBatch, opts: Gpt2RunOptions = {}): Promise<Gpt2Outputs> {
    if (opts.kv) this.checkKv(batch, opts.kv, 0);
    const which = opts.logits ?? 'all';
    const { n, step } = await this.stage(batch, which, opts.lora, opts.kv);
    submitPass(this.ctx, (pass) => {
      this.encodeEmbeddings(pass, batch);
      this.encodeBlocks(pass, batch, 0, this.config.numLayers, opts.lora, opts.kv, step);
      this.encodeHead(pass, batch, which, n);
    });
    return this.outputs(batch, n);
  }

  /**
   * Appends each entry's tokens to its pool sequence (prefill and decode entries may be mixed)
   * and returns the logits of each entry's last token, [entries, vocab] — of all its tokens,
   * in order, for an entry with allLogits (so [sum of rows, vocab]).
   */
  step(pool: KvPool, entries: readonly StepEntry[], lora?: LoraApplier): Promise<Float32Array> {
    return this.serialStep(pool, entries, (batch, kv, logits) => this.forward(batch, { lora, kv, logits }));
  }

  /**
   * step() for an hPLM split: `hiddenIn` [rows, H] holds the entries' residual stream after
   * block split-1 (phase 1, e.g. gathered from PLOT), so only blocks split..L-1 run and only
   * their keys/values go to the pool.
   */
  stepUpper(pool: KvPool, entries: readonly StepEntry[], split: number, hiddenIn: GPUBuffer, lora?: LoraApplier): Promise<Float32Array> {
    return this.serialStep(pool, entries, (batch, kv, logits) => this.runUpper(batch, split, hiddenIn, { lora, kv, logits }));
  }

  private serialStep(pool: KvPool, entries: readonly StepEntry[], pass: (batch: PackedBatch, kv: KvBinding, logits: LogitRows) => Promise<Gpt2Outputs>): Promise<Float32Array> {
    const run = async (): Promise<Float32Array> => {
      const { batch, kv } = this.packStep(pool, entries);
      const out = await pass(batch, kv, stepLogitRows(batch, entries));
      pool.advance(stepEntries(batch, kv));
      return readF32(this.ctx, out.logits!, out.logitRows * this.config.vocabSize);
    };
    const result = this.stepTail.then(run, run);
    this.stepTail = result.catch(() => undefined);
    return result;
  }

  /** Greedy decoding of one prompt with the KV cache; returns the generated ids only. */
  async generateGreedy(promptIds: readonly number[], maxNewTokens: number, opts: GreedyOptions = {}): Promise<number[]> {
    return (await this.generateGreedyBatch([promptIds], maxNewTokens, opts))[0];
  }

  /**
   * Greedy decoding of several prompts at once over a paged pool sized for exactly them: one
   * prefill pass, then one pass per step for all live sequences.
   */
  async generateGreedyBatch(prompts: readonly (readonly number[])[], maxNewTokens: number, opts: GreedyOptions = {}): Promise<number[][]> {
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new InputError(`maxNewTokens ${maxNewTokens} must be a non-negative integer`);
    this.pack(prompts.map((ids) => ({ ids })));
    const P = this.config.maxPositions;
    prompts.forEach((p, i) => {
      // The last generated token is never fed back, so it needs no position.
      if (p.length + maxNewTokens - 1 > P) throw new InputError(`sequence ${i}: ${p.length} prompt tokens + ${maxNewTokens} new exceed the model's ${P} positions`);
    });
    const out = prompts.map((): number[] => []);
    if (maxNewTokens === 0) return out;
    const shape = { numLayers: this.config.numLayers, hiddenSize: this.config.hiddenSize, blockTokens: GREEDY_BLOCK_TOKENS };
    const blocks = prompts.reduce((n, p) => n + Math.ceil((p.length + maxNewTokens - 1) / GREEDY_BLOCK_TOKENS), 0);
    const pool = await KvPool.create(this.ctx, { ...shape, budgetBytes: KvPool.budgetFor(shape, blocks) });
    try {
      prompts.forEach((p, i) => {
        if (!pool.admit(i, p.length, maxNewTokens)) throw new KvCacheError(`the pool sized for the batch refused sequence ${i}`);
      });
      let live = prompts.map((p, i) => ({ seqId: i, ids: p }));
      const stop = new Set(opts.stopIds ?? []);
      while (live.length > 0) {
        const logits = await this.step(pool, live, opts.lora);
        const next: typeof live = [];
        live.forEach((e, j) => {
          const id = argmaxRow(logits, j, this.config.vocabSize);
          out[e.seqId].push(id);
          if (out[e.seqId].length < maxNewTokens && !stop.has(id)) next.push({ ...e, ids: [id] });
        });
        live = next;
      }
      return out;
    } finally {
      pool.dispose();
    }
  }

  async readHidden(out: Gpt2Outputs): Promise<Float32Array> {
    return readF32(this.ctx, out.hidden, out.rows * this.config.hiddenSize);
  }

  async readLogits(out: Gpt2Outputs): Promise<Float32Array> {
    if (!out.logits) throw new InputError('this run computed no logits (logits: "none")');
    return readF32(this.ctx, out.logits, out.logitRows * this.config.vocabSize);
  }

  private outputs(batch: PackedBatch, n: number): Gpt2Outputs {
    return { rows: batch.rows, hidden: this.ws.get('ln'), logits: n > 0 ? this.ws.get('logits') : null, logitRows: n };
  }

  private encodeEmbeddings(pass: GPUComputePassEncoder, batch: PackedBatch): void {
    const c = this.config;
    encodeShardedEmbedding(this.ctx, pass, {
      ids: this.ws.get('ids'),
      positions: this.ws.get('positions'),
      word: this.wte,
      posTable: this.wpe,
      out: this.ws.get('hA'),
      rows: batch.rows,
      dim: c.hiddenSize,
      posRows: c.maxPositions,
    });
  }

  /**
   * Blocks from..to-1 on the residual stream in hA, in place (the projections back into
   * the stream accumulate onto it). With a cache, the step's keys/values are scattered into
   * their pool blocks first and attention reads each sequence's past from its block table.
   */
  private encodeBlocks(pass: GPUComputePassEncoder, batch: PackedBatch, from: number, to: number, lora?: LoraApplier, kv?: KvBinding, step?: KvStep): void {
    const c = this.config;
    const ws = this.ws;
    const rows = batch.rows;
    const H = c.hiddenSize;
    const [hA, lnBuf, qkv, ctxBuf, ffn] = ['hA', 'ln', 'qkv', 'ctx', 'ffn'].map((n) => ws.get(n));
    const ln = (n: Norm): void => encodeLayerNorm(this.ctx, pass, { x: hA, gamma: n.gamma, beta: n.beta, y: lnBuf, rows, cols: H, eps: c.layerNormEps });
    for (let l = from; l < to; l++) {
      const B = this.blocks[l];
      ln(B.ln1);
      encodeProjection(this.ctx, pass, B.cAttn, lnBuf, qkv, rows, { lora });
      if (kv && step) {
        encodePagedAttentionLayer(this.ctx, pass, { pool: kv.pool, step, layer: l, qkv, out: ctxBuf, rows, numHeads: c.numHeads });
      } else {
        encodeAttention(this.ctx, pass, {
          out: ctxBuf,
          seqs: ws.get('seqs'),
          numSeqs: batch.numSeqs,
          qRows: rows,
          numHeads: c.numHeads,
          headDim: H / c.numHeads,
          causal: true,
          q: qkv,
          k: qkv,
          v: qkv,
          kvRows: rows,
          qStride: 3 * H,
          qOffset: 0,
          kvStride: 3 * H,
          kOffset: H,
          vOffset: 2 * H,
        });
      }
      encodeProjection(this.ctx, pass, B.cProj, ctxBuf, hA, rows, { lora, accumulate: true });
      ln(B.ln2);
      encodeProjection(this.ctx, pass, B.cFc, lnBuf, ffn, rows, { lora, activation: 'gelu_tanh' });
      if (lora) encodeGelu(this.ctx, pass, { x: ffn, n: rows * c.intermediateSize, form: 'tanh' });
      encodeProjection(this.ctx, pass, B.mlpProj, ffn, hA, rows, { lora, accumulate: true });
    }
  }

  /** ln_f into `ln` (the hidden output), then the tied LM head on the requested `n` rows. */
  private encodeHead(pass: GPUComputePassEncoder, batch: PackedBatch, which: LogitRows, n: number): void {
    const { hiddenSize: H, vocabSize: V, layerNormEps } = this.config;
    const ws = this.ws;
    encodeLayerNorm(this.ctx, pass, { x: ws.get('hA'), gamma: this.lnF.gamma, beta: this.lnF.beta, y: ws.get('ln'), rows: batch.rows, cols: H, eps: layerNormEps });
    if (which === 'none' || n === 0) return;
    let x = ws.get('ln');
    let M = batch.rows;
    if (which !== 'all') {
      // 'last' or a list: the rows staged in lastRows.
      encodeGatherRows(this.ctx, pass, { src: x, rowIdx: ws.get('lastRows'), dst: ws.get('sel'), rows: n, dim: H, srcRows: batch.rows });
      x = ws.get('sel');
      M = n;
    }
    // Each row shard of wte fills its own columns of the logits.
    encodeShardedMatmul(this.ctx, pass, { x, w: this.wte, y: ws.get('logits'), M, N: V, K: H, wLayout: 'nk' });
  }

  dispose(): void {
    this.ws.dispose();
  }
}
