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
import { encodeTanh } from '../kernels/tanh.js';
import type { BaseWeights } from '../knowledge/general/base-weights.js';
import { checkSplit, type BertConfig } from '../formats/model-config.js';
import { packBatch, type PackedBatch, type SequenceInput } from './batch.js';
import { ConfigError, MissingWeightError } from '../formats/errors.js';
import type { LoraApplier } from './lora-hook.js';
import { hiddenCopy, submitPass, type HiddenSource } from './pass.js';
import { encodeProjection, projection, type Projection } from './project.js';
import { Workspace } from './workspace.js';
import type { ModelOptions } from './options.js';

interface Norm {
  readonly gamma: GPUBuffer;
  readonly beta: GPUBuffer;
}

interface BertLayer {
  readonly query: Projection;
  readonly key: Projection;
  readonly value: Projection;
  readonly attnOut: Projection;
  readonly attnNorm: Norm;
  readonly inter: Projection;
  readonly out: Projection;
  readonly outNorm: Norm;
}

export interface BertRunOptions {
  readonly lora?: LoraApplier;
  /** A tenant's head tensors (pooler/classifier from modules_to_save); they override the base's. */
  readonly head?: BaseWeights;
  /** More work on the outputs (per-tenant heads), encoded into the run's pass so it needs no submit of its own. */
  readonly epilogue?: (pass: GPUComputePassEncoder, out: BertOutputs) => void;
}

/** GPU results of a forward; workspace buffers, valid until the model's next run. */
export interface BertOutputs {
  readonly rows: number;
  readonly numSeqs: number;
  /** last_hidden_state [rows, H]. */
  readonly hidden: GPUBuffer;
  /** tanh(pooler(h[CLS])) [numSeqs, H], when there is a pooler. */
  readonly pooled: GPUBuffer | null;
  /** Classifier output [numSeqs, numLabels], when there is a classifier. */
  readonly logits: GPUBuffer | null;
  readonly numLabels: number;
}

export interface BertHostOutputs {
  readonly hidden: Float32Array;
  readonly pooled: Float32Array | null;
  readonly logits: Float32Array | null;
  readonly numLabels: number;
}

interface Head {
  pooler: { w: ShardedWeight; b: GPUBuffer } | null;
  classifier: { w: ShardedWeight; b: GPUBuffer; n: number } | null;
}

function norm(base: BaseWeights, name: string, H: number): Norm {
  return { gamma: base.get(`${name}.weight`, [H]), beta: base.get(`${name}.bias`, [H]) };
}

/**
 * BERT (HF BertModel + pooler + sequence classifier) from the kernels, over packed batches,
 * split at any layer S: runLower = embeddings + layers 0..S-1, runUpper = layers S..L-1 +
 * head, fed by runLower or by an outside hidden state (the PLOT path).
 *
 * Outputs live in the model's workspace: read them (or pass them to runUpper) before the
 * next run; the runtime's scheduler runs one batch at a time per model.
 */
export class BertModel {
  private readonly ws: Workspace;

  private constructor(
    readonly ctx: GpuContext,
    readonly config: BertConfig,
    readonly base: BaseWeights,
    private readonly layers: readonly BertLayer[],
    private readonly embeddings: { word: ShardedWeight; pos: GPUBuffer; type: GPUBuffer; norm: Norm },
  ) {
    this.ws = new Workspace(ctx, 'bert');
  }

  /** Checks every tensor the model needs (names and shapes) and sizes the workspace. */
  static async create(ctx: GpuContext, config: BertConfig, base: BaseWeights, opts: ModelOptions = {}): Promise<BertModel> {
    const H = config.hiddenSize;
    const I = config.intermediateSize;
    if (H % config.numHeads !== 0) throw new ConfigError(`hidden size ${H} is not a multiple of ${config.numHeads} heads`);
    const layers = Array.from({ length: config.numLayers }, (_, l): BertLayer => {
      const p = `encoder.layer.${l}`;
      return {
        query: projection(base, `${p}.attention.self.query`, H, H, 'nk'),
        key: projection(base, `${p}.attention.self.key`, H, H, 'nk'),
        value: projection(base, `${p}.attention.self.value`, H, H, 'nk'),
        attnOut: projection(base, `${p}.attention.output.dense`, H, H, 'nk'),
        attnNorm: norm(base, `${p}.attention.output.LayerNorm`, H),
        inter: projection(base, `${p}.intermediate.dense`, H, I, 'nk'),
        out: projection(base, `${p}.output.dense`, I, H, 'nk'),
        outNorm: norm(base, `${p}.output.LayerNorm`, H),
      };
    });
    const embeddings = {
      word: base.tensor('embeddings.word_embeddings.weight', [config.vocabSize, H]),
      pos: base.get('embeddings.position_embeddings.weight', [config.maxPositions, H]),
      type: base.get('embeddings.token_type_embeddings.weight', [config.typeVocabSize, H]),
      norm: norm(base, 'embeddings.LayerNorm', H),
    };
    const model = new BertModel(ctx, config, base, layers, embeddings);
    const maxTokens = opts.maxTokens ?? Math.min(128, config.maxPositions);
    await model.reserve(maxTokens, opts.maxSeqs ?? 8, config.numLabels ?? 1);
    if (opts.autotune ?? true) await autotuneMatmul(ctx, model.matmulShapes(maxTokens), { ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
    return model;
  }

  /** The matmul shapes of a forward over `rows` tokens (for the autotuner). */
  matmulShapes(rows: number): MatmulShape[] {
    const H = this.config.hiddenSize;
    const I = this.config.intermediateSize;
    return [
      { M: rows, N: H, K: H, wLayout: 'nk' },
      { M: rows, N: I, K: H, wLayout: 'nk' },
      { M: rows, N: H, K: I, wLayout: 'nk' },
    ];
  }

  /** Validates and packs sequences (InputError on bad input, before any GPU work). */
  pack(seqs: readonly SequenceInput[]): PackedBatch {
    return packBatch(this.config, seqs);
  }

  get workspaceBytes(): number {
    return this.ws.bytes;
  }

  private async reserve(rows: number, seqs: number, labels: number): Promise<void> {
    const H = this.config.hiddenSize;
    const f = 4;
    await this.ws.reserve({
      ids: rows * f,
      positions: rows * f,
      types: rows * f,
      mask: rows * f,
      seqs: seqs * 4 * f,
      clsRows: seqs * f,
      hA: rows * H * f,
      hB: rows * H * f,
      q: rows * H * f,
      k: rows * H * f,
      v: rows * H * f,
      ctx: rows * H * f,
      ffn: rows * this.config.intermediateSize * f,
      cls: seqs * H * f,
      poolPre: seqs * H * f,
      pooled: seqs * H * f,
      logits: seqs * labels * f,
    });
  }

  private resolveHead(head?: BaseWeights): Head {
    const H = this.config.hiddenSize;
    const src = (name: string): BaseWeights | undefined => (head?.has(name) ? head : this.base.has(name) ? this.base : undefined);
    const pw = src('pooler.dense.weight');
    const pooler = pw ? { w: pw.tensor('pooler.dense.weight', [H, H]), b: (src('pooler.dense.bias') ?? this.base).get('pooler.dense.bias', [H]) } : null;
    const cw = src('classifier.weight');
    if (!cw) return { pooler, classifier: null };
    const n = cw.shape('classifier.weight')![0];
    if (!pooler) throw new MissingWeightError('pooler.dense.weight', 'the classifier needs the pooler, which neither the checkpoint nor the adapter has');
    const classifier = { w: cw.tensor('classifier.weight', [n, H]), b: (src('classifier.bias') ?? this.base).get('classifier.bias', [n]), n };
    return { pooler, classifier };
  }

  /** Reserves the workspace, uploads the batch's ids and tables, and prepares the LoRA scratch. */
  private async stage(batch: PackedBatch, labels: number, lora?: LoraApplier): Promise<void> {
    await this.reserve(batch.rows, batch.numSeqs, labels);
    await lora?.prepare?.(batch.rows);
    const seqs = new Uint32Array(batch.numSeqs * 4);
    for (let s = 0; s < batch.numSeqs; s++) seqs.set([batch.starts[s], batch.lengths[s], batch.starts[s], batch.lengths[s]], s * 4);
    writeBuffer(this.ctx, this.ws.get('ids'), batch.ids);
    writeBuffer(this.ctx, this.ws.get('positions'), batch.positions);
    writeBuffer(this.ctx, this.ws.get('types'), batch.typeIds ?? new Uint32Array(batch.rows));
    if (batch.keyMask) writeBuffer(this.ctx, this.ws.get('mask'), batch.keyMask);
    writeBuffer(this.ctx, this.ws.get('seqs'), seqs);
    writeBuffer(this.ctx, this.ws.get('clsRows'), Uint32Array.from(batch.starts));
  }

  /** Embeddings and layers 0..split-1 (a LoRA here is a domain's lower-layer adapter). Returns [rows, H]. */
  async runLower(batch: PackedBatch, split: number, lora?: LoraApplier): Promise<GPUBuffer> {
    checkSplit(this.config, split);
    await this.stage(batch, 1, lora);
    submitPass(this.ctx, (pass) => {
      this.encodeEmbeddings(pass, batch);
      this.encodeLayers(pass, batch, 0, split, lora);
    });
    return this.ws.get('hA');
  }

  /** Layers split..L-1 on the state after layer split-1 (a buffer [rows, H] or an encoder of it), then pooler and classifier. */
  async runUpper(batch: PackedBatch, split: number, hiddenIn: HiddenSource, opts: BertRunOptions = {}): Promise<BertOutputs> {
    checkSplit(this.config, split);
    const head = this.resolveHead(opts.head);
    await this.stage(batch, head.classifier?.n ?? 1, opts.lora);
    const residual = this.ws.get('hA');
    const copies = hiddenIn instanceof Function ? [] : hiddenCopy(hiddenIn, residual, batch.rows, this.config.hiddenSize);
    const out = this.outputs(batch, head);
    submitPass(
      this.ctx,
      (pass) => {
        if (hiddenIn instanceof Function) hiddenIn(pass, residual);
        this.encodeLayers(pass, batch, split, this.config.numLayers, opts.lora);
        this.encodeHead(pass, batch, head);
        opts.epilogue?.(pass, out);
      },
      copies,
    );
    return out;
  }

  /** The whole model in one pass (LoRA, if any, on every layer it targets). */
  async forward(batch: PackedBatch, opts: BertRunOptions = {}): Promise<BertOutputs> {
    const head = this.resolveHead(opts.head);
    await this.stage(batch, head.classifier?.n ?? 1, opts.lora);
    const out = this.outputs(batch, head);
    submitPass(this.ctx, (pass) => {
      this.encodeEmbeddings(pass, batch);
      this.encodeLayers(pass, batch, 0, this.config.numLayers, opts.lora);
      this.encodeHead(pass, batch, head);
      opts.epilogue?.(pass, out);
    });
    return out;
  }

  async read(out: BertOutputs): Promise<BertHostOutputs> {
    const H = this.config.hiddenSize;
    const [hidden, pooled, logits] = await Promise.all([
      readF32(this.ctx, out.hidden, out.rows * H),
      out.pooled ? readF32(this.ctx, out.pooled, out.numSeqs * H) : null,
      out.logits ? readF32(this.ctx, out.logits, out.numSeqs * out.numLabels) : null,
    ]);
    return { hidden, pooled, logits, numLabels: out.numLabels };
  }

  private outputs(batch: PackedBatch, head: Head): BertOutputs {
    return {
      rows: batch.rows,
      numSeqs: batch.numSeqs,
      hidden: this.ws.get('hA'),
      pooled: head.pooler ? this.ws.get('pooled') : null,
      logits: head.classifier ? this.ws.get('logits') : null,
      numLabels: head.classifier?.n ?? 0,
    };
  }

  /** word + position + type embeddings into hB, LayerNorm into hA. */
  private encodeEmbeddings(pass: GPUComputePassEncoder, batch: PackedBatch): void {
    const c = this.config;
    const e = this.embeddings;
    const ws = this.ws;
    encodeShardedEmbedding(this.ctx, pass, {
      ids: ws.get('ids'),
      positions: ws.get('positions'),
      types: ws.get('types'),
      word: e.word,
      posTable: e.pos,
      typeTable: e.type,
      out: ws.get('hB'),
      rows: batch.rows,
      dim: c.hiddenSize,
      posRows: c.maxPositions,
      typeRows: c.typeVocabSize,
    });
    encodeLayerNorm(this.ctx, pass, { x: ws.get('hB'), gamma: e.norm.gamma, beta: e.norm.beta, y: ws.get('hA'), rows: batch.rows, cols: c.hiddenSize, eps: c.layerNormEps });
  }

  /**
   * Layers from..to-1 on the residual stream in hA, in place. The output projections
   * accumulate onto the residual (y += x W + b), so no separate residual add is needed.
   */
  private encodeLayers(pass: GPUComputePassEncoder, batch: PackedBatch, from: number, to: number, lora?: LoraApplier): void {
    const c = this.config;
    const ws = this.ws;
    const rows = batch.rows;
    const H = c.hiddenSize;
    const [hA, hB, q, k, v, ctxBuf, ffn] = ['hA', 'hB', 'q', 'k', 'v', 'ctx', 'ffn'].map((n) => ws.get(n));
    const ln = (x: GPUBuffer, n: Norm, y: GPUBuffer): void =>
      encodeLayerNorm(this.ctx, pass, { x, gamma: n.gamma, beta: n.beta, y, rows, cols: H, eps: c.layerNormEps });
    for (let l = from; l < to; l++) {
      const L = this.layers[l];
      encodeProjection(this.ctx, pass, L.query, hA, q, rows, { lora });
      encodeProjection(this.ctx, pass, L.key, hA, k, rows, { lora });
      encodeProjection(this.ctx, pass, L.value, hA, v, rows, { lora });
      encodeAttention(this.ctx, pass, {
        q,
        k,
        v,
        out: ctxBuf,
        seqs: ws.get('seqs'),
        numSeqs: batch.numSeqs,
        qRows: rows,
        kvRows: rows,
        numHeads: c.numHeads,
        headDim: H / c.numHeads,
        qStride: H,
        qOffset: 0,
        kvStride: H,
        kOffset: 0,
        vOffset: 0,
        causal: false,
        keyMask: batch.keyMask ? ws.get('mask') : undefined,
      });
      encodeProjection(this.ctx, pass, L.attnOut, ctxBuf, hA, rows, { lora, accumulate: true });
      ln(hA, L.attnNorm, hB);
      encodeProjection(this.ctx, pass, L.inter, hB, ffn, rows, { lora, activation: 'gelu_erf' });
      if (lora) encodeGelu(this.ctx, pass, { x: ffn, n: rows * c.intermediateSize, form: 'erf' });
      encodeProjection(this.ctx, pass, L.out, ffn, hB, rows, { lora, accumulate: true });
      ln(hB, L.outNorm, hA);
    }
  }

  /** Pooler on each sequence's first ([CLS]) row, then the classifier. */
  private encodeHead(pass: GPUComputePassEncoder, batch: PackedBatch, head: Head): void {
    if (!head.pooler) return;
    const H = this.config.hiddenSize;
    const S = batch.numSeqs;
    const ws = this.ws;
    encodeGatherRows(this.ctx, pass, { src: ws.get('hA'), rowIdx: ws.get('clsRows'), dst: ws.get('cls'), rows: S, dim: H, srcRows: batch.rows });
    encodeShardedMatmul(this.ctx, pass, { x: ws.get('cls'), w: head.pooler.w, bias: head.pooler.b, y: ws.get('poolPre'), M: S, N: H, K: H, wLayout: 'nk' });
    encodeTanh(this.ctx, pass, { x: ws.get('poolPre'), y: ws.get('pooled'), n: S * H });
    if (!head.classifier) return;
    const { w, b, n } = head.classifier;
    encodeShardedMatmul(this.ctx, pass, { x: ws.get('pooled'), w, bias: b, y: ws.get('logits'), M: S, N: n, K: H, wLayout: 'nk' });
  }

  dispose(): void {
    this.ws.dispose();
  }
}

