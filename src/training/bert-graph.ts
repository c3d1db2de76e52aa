import { readF32, writeBuffer } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import { encodeActivationBackward } from '../kernels/activation-backward.js';
import { encodeAdd } from '../kernels/add.js';
import { encodeCrossEntropy } from '../kernels/cross-entropy.js';
import { encodeGatherRows } from '../kernels/gather-rows.js';
import { encodeGelu } from '../kernels/gelu.js';
import { encodeLayerNorm } from '../kernels/layernorm.js';
import { encodeLayerNormBackward } from '../kernels/layernorm-backward.js';
import { encodeMatmul } from '../kernels/matmul.js';
import { encodeMatmulTN } from '../kernels/matmul-tn.js';
import { encodeScatterRows } from '../kernels/scatter-rows.js';
import { encodeTanh } from '../kernels/tanh.js';
import type { BaseWeights } from '../knowledge/general/base-weights.js';
import type { BertConfig } from '../formats/model-config.js';
import type { HiddenSource } from '../model/pass.js';
import { projection } from '../model/project.js';
import type { FamilyGraph, TrainSlice } from './graph.js';
import { Arena, checkSliceFits, encodeSelfAttention, encodeSelfAttentionBackward, layerSteps, sliceParts, stageSequences, TrainLinear, wholeWeight, type Norm, normOf, type SelfAttention } from './ops.js';
import { TrainingShapeError } from './errors.js';
import type { TrainableLora } from './trainable-lora.js';

interface Layer {
  readonly l: number;
  readonly q: TrainLinear;
  readonly k: TrainLinear;
  readonly v: TrainLinear;
  readonly o: TrainLinear;
  readonly n1: Norm;
  readonly inter: TrainLinear;
  readonly out: TrainLinear;
  readonly n2: Norm;
}

/**
 * hBERT's training graph: layers from..L-1 (post-LayerNorm blocks) with the tenant's LoRA, then
 * the base's frozen pooler on each [CLS] row and the tenant's classifier, cross-entropy over
 * labels. As the batched heads serve it: the classifier sits over the shared pooler.
 */
export class BertTrainGraph implements FamilyGraph {
  private constructor(
    private readonly ctx: GpuContext,
    private readonly config: BertConfig,
    private readonly lora: TrainableLora,
    private readonly layers: readonly Layer[],
    private readonly pooler: { w: GPUBuffer; dtype: 'f32' | 'f16'; b: GPUBuffer },
    private readonly a: Arena,
    readonly maxRows: number,
    readonly maxSeqs: number,
    private readonly from: number,
  ) {}

  private get attention(): SelfAttention {
    return { hidden: this.config.hiddenSize, numHeads: this.config.numHeads, causal: false };
  }

  static async create(ctx: GpuContext, config: BertConfig, base: BaseWeights, lora: TrainableLora, from: number, maxRows: number, maxSeqs: number): Promise<BertTrainGraph> {
    const H = config.hiddenSize;
    const I = config.intermediateSize;
    if (!lora.head) throw new TrainingShapeError('an hBERT tenant trains a classifier: the trainable has no head');
    if (!base.has('pooler.dense.weight')) throw new TrainingShapeError('the base model has no pooler, so no classifier can be trained over it');
    const norm = (name: string): Norm => normOf(base, name, H);
    const lin = (path: string, inDim: number, outDim: number): TrainLinear => new TrainLinear(ctx, projection(base, path, inDim, outDim, 'nk'), lora.module(path), lora);
    const layers: Layer[] = [];
    for (let l = from; l < config.numLayers; l++) {
      const p = `encoder.layer.${l}`;
      layers.push({
        l,
        q: lin(`${p}.attention.self.query`, H, H),
        k: lin(`${p}.attention.self.key`, H, H),
        v: lin(`${p}.attention.self.value`, H, H),
        o: lin(`${p}.attention.output.dense`, H, H),
        n1: norm(`${p}.attention.output.LayerNorm`),
        inter: lin(`${p}.intermediate.dense`, H, I),
        out: lin(`${p}.output.dense`, I, H),
        n2: norm(`${p}.output.LayerNorm`),
      });
    }
    const pw = wholeWeight(base.tensor('pooler.dense.weight', [H, H]), 'pooler.dense.weight');
    const pooler = { w: pw.buffer, dtype: pw.dtype, b: base.get('pooler.dense.bias', [H]) };
    const a = new Arena(ctx);
    const g = new BertTrainGraph(ctx, config, lora, layers, pooler, a, maxRows, maxSeqs, from);
    try {
      await g.allocate();
    } catch (e) {
      a.destroy();
      throw e;
    }
    return g;
  }

  get bytes(): number {
    return this.a.bytes;
  }

  private async allocate(): Promise<void> {
    const { hiddenSize: H, intermediateSize: I } = this.config;
    const R = this.maxRows;
    const S = this.maxSeqs;
    const n = this.lora.head!.numLabels;
    const r = Math.max(1, ...this.lora.modules.map((m) => m.r));
    const a = this.a;
    for (const L of this.layers) {
      for (const [name, w] of [['x', H], ['qkv', 3 * H], ['ctx', H], ['h1pre', H], ['h1', H], ['fpre', I], ['f', I], ['h2pre', H]] as const) await a.add(`${name}${L.l}`, R * w);
      for (const lin of [L.q, L.k, L.v, L.o, L.inter, L.out]) if (lin.mod) await a.add(`u:${lin.mod.path}`, R * lin.mod.r);
    }
    await a.add(`x${this.config.numLayers}`, R * H);
    for (const name of ['tmp', 'g1', 'g2', 'dh1', 'dctx', 'dpart', 'dA', 'dB']) await a.add(name, R * H);
    await a.add('dqkv', R * 3 * H);
    await a.add('df', R * I);
    await a.add('dfpre', R * I);
    await a.add('du', R * r);
    await a.add('stats', R * this.config.numHeads * 2);
    await a.add('seqs4', S * 4);
    await a.add('seqs2', S * 2);
    for (const name of ['cls', 'poolPre', 'pooled', 'dpooled', 'dpoolPre', 'dcls']) await a.add(name, S * H);
    for (const name of ['logits', 'dlogits']) await a.add(name, S * n);
    for (const name of ['clsRows', 'labels', 'loss', 'ones']) await a.add(name, S);
    await a.add('ident', R);
    writeBuffer(this.ctx, a.get('ones'), new Float32Array(S).fill(1));
    writeBuffer(this.ctx, a.get('ident'), Uint32Array.from({ length: R }, (_, i) => i));
  }

  parts(slice: TrainSlice, input: HiddenSource, train: boolean): (() => void)[] {
    const b = slice.batch;
    checkSliceFits(b, this.maxRows, this.maxSeqs);
    const a = this.a;
    stageSequences(this.ctx, a, b);
    writeBuffer(this.ctx, a.get('clsRows'), Uint32Array.from(b.starts));
    writeBuffer(this.ctx, a.get('labels'), slice.targets);
    const steps = layerSteps(
      this.layers,
      (L) => [(pass) => this.forwardAttention(pass, L, slice), (pass) => this.forwardFfn(pass, L, slice)],
      (pass) => this.head(pass, slice, train),
      train ? (L, first) => [(pass) => this.backwardFfn(pass, L, slice), (pass) => this.backwardAttention(pass, L, slice, first)] : undefined,
    );
    // Only the [CLS] rows get an output gradient from the head: the rest of dA must be zero.
    return sliceParts(this.ctx, a.get(`x${this.from}`), b.rows * this.config.hiddenSize * 4, input, train ? [a.get('dA')] : [], steps);
  }

  private u(lin: TrainLinear): GPUBuffer | null {
    return lin.mod ? this.a.get(`u:${lin.mod.path}`) : null;
  }

  // A layer is two parts (attention, FFN) each way: a serving request arriving during a
  // training slice waits for half a layer's work at most.
  private forwardAttention(pass: GPUComputePassEncoder, L: Layer, slice: TrainSlice): void {
    const { hiddenSize: H, layerNormEps: eps } = this.config;
    const R = slice.batch.rows;
    const a = this.a;
    const g = (n: string): GPUBuffer => a.get(`${n}${L.l}`);
    const x = g('x');
    const qkv = g('qkv');
    // Q, K and V side by side, as the attention backward reads them (the matmul's col0 would
    // also offset the bias, which belongs to each projection alone).
    [L.q, L.k, L.v].forEach((lin, j) => {
      lin.forward(pass, x, a.get('tmp'), this.u(lin), R);
      encodeScatterRows(this.ctx, pass, { src: a.get('tmp'), rowIdx: a.get('ident'), dst: qkv, rows: R, dim: H, srcStride: H, dstStride: 3 * H, dstOffset: j * H });
    });
    encodeSelfAttention(this.ctx, pass, a, this.attention, qkv, g('ctx'), slice.batch);
    L.o.forward(pass, g('ctx'), a.get('tmp'), this.u(L.o), R);
    encodeAdd(this.ctx, pass, x, a.get('tmp'), g('h1pre'), R * H);
    encodeLayerNorm(this.ctx, pass, { x: g('h1pre'), gamma: L.n1.gamma, beta: L.n1.beta, y: g('h1'), rows: R, cols: H, eps });
  }

  private forwardFfn(pass: GPUComputePassEncoder, L: Layer, slice: TrainSlice): void {
    const { hiddenSize: H, intermediateSize: I, layerNormEps: eps } = this.config;
    const R = slice.batch.rows;
    const a = this.a;
    const g = (n: string): GPUBuffer => a.get(`${n}${L.l}`);
    L.inter.forward(pass, g('h1'), g('fpre'), this.u(L.inter), R);
    encodeGelu(this.ctx, pass, { x: g('fpre'), y: g('f'), n: R * I, form: 'erf' });
    L.out.forward(pass, g('f'), a.get('tmp'), this.u(L.out), R);
    encodeAdd(this.ctx, pass, g('h1'), a.get('tmp'), g('h2pre'), R * H);
    encodeLayerNorm(this.ctx, pass, { x: g('h2pre'), gamma: L.n2.gamma, beta: L.n2.beta, y: a.get(`x${L.l + 1}`), rows: R, cols: H, eps });
  }

  /** Pooler + classifier + cross-entropy; with `train`, their backward into dA (the last layer's output gradient). */
  private head(pass: GPUComputePassEncoder, slice: TrainSlice, train: boolean): void {
    const H = this.config.hiddenSize;
    const R = slice.batch.rows;
    const S = slice.batch.numSeqs;
    const a = this.a;
    const L = this.lora;
    const h = L.head!;
    const n = h.numLabels;
    encodeGatherRows(this.ctx, pass, { src: a.get(`x${this.config.numLayers}`), rowIdx: a.get('clsRows'), dst: a.get('cls'), rows: S, dim: H, srcRows: R });
    encodeMatmul(this.ctx, pass, { x: a.get('cls'), w: this.pooler.w, wDtype: this.pooler.dtype, bias: this.pooler.b, y: a.get('poolPre'), M: S, N: H, K: H, wLayout: 'nk' });
    encodeTanh(this.ctx, pass, { x: a.get('poolPre'), y: a.get('pooled'), n: S * H });
    encodeMatmul(this.ctx, pass, { x: a.get('pooled'), w: L.ref(L.params, h.W), bias: L.ref(L.params, h.b), y: a.get('logits'), M: S, N: n, K: H, wLayout: 'nk' });
    encodeCrossEntropy(this.ctx, pass, { logits: a.get('logits'), labels: a.get('labels'), dLogits: a.get('dlogits'), loss: a.get('loss'), rows: S, classes: n, scale: slice.lossScale });
    if (!train) return;
    const dl = a.get('dlogits');
    encodeMatmulTN(this.ctx, pass, { a: dl, b: a.get('pooled'), c: L.ref(L.grads, h.W), M: n, N: H, K: S, accumulate: true });
    encodeMatmulTN(this.ctx, pass, { a: a.get('ones'), lda: 1, b: dl, c: L.ref(L.grads, h.b), M: 1, N: n, K: S, accumulate: true });
    encodeMatmul(this.ctx, pass, { x: dl, w: L.ref(L.params, h.W), y: a.get('dpooled'), M: S, N: H, K: n, wLayout: 'kn' });
    encodeActivationBackward(this.ctx, pass, { x: a.get('poolPre'), dy: a.get('dpooled'), dx: a.get('dpoolPre'), n: S * H, activation: 'tanh' });
    encodeMatmul(this.ctx, pass, { x: a.get('dpoolPre'), w: this.pooler.w, wDtype: this.pooler.dtype, y: a.get('dcls'), M: S, N: H, K: H, wLayout: 'kn' });
    encodeScatterRows(this.ctx, pass, { src: a.get('dcls'), rowIdx: a.get('clsRows'), dst: a.get('dA'), rows: S, dim: H, srcStride: H, dstStride: H });
  }

  /** dA holds the gradient of this layer's output; leaves the gradient of the FFN block's input (h1) in g2. */
  private backwardFfn(pass: GPUComputePassEncoder, L: Layer, slice: TrainSlice): void {
    const { hiddenSize: H, intermediateSize: I, layerNormEps: eps } = this.config;
    const R = slice.batch.rows;
    const a = this.a;
    const g = (n: string): GPUBuffer => a.get(`${n}${L.l}`);
    const du = a.get('du');
    encodeLayerNormBackward(this.ctx, pass, { x: g('h2pre'), gamma: L.n2.gamma, dy: a.get('dA'), dx: a.get('g1'), rows: R, cols: H, eps });
    L.out.backward(pass, g('f'), this.u(L.out), a.get('g1'), a.get('df'), du, R);
    encodeActivationBackward(this.ctx, pass, { x: g('fpre'), dy: a.get('df'), dx: a.get('dfpre'), n: R * I, activation: 'gelu_erf' });
    L.inter.backward(pass, g('h1'), this.u(L.inter), a.get('dfpre'), a.get('dh1'), du, R);
    encodeAdd(this.ctx, pass, a.get('dh1'), a.get('g1'), a.get('tmp'), R * H);
    encodeLayerNormBackward(this.ctx, pass, { x: g('h1pre'), gamma: L.n1.gamma, dy: a.get('tmp'), dx: a.get('g2'), rows: R, cols: H, eps });
  }

  /** g2 holds the gradient of the attention block's sum (h1pre); leaves the gradient of the layer's input in dA (unless `first`). */
  private backwardAttention(pass: GPUComputePassEncoder, L: Layer, slice: TrainSlice, first: boolean): void {
    const H = this.config.hiddenSize;
    const R = slice.batch.rows;
    const a = this.a;
    const g = (n: string): GPUBuffer => a.get(`${n}${L.l}`);
    const du = a.get('du');
    L.o.backward(pass, g('ctx'), this.u(L.o), a.get('g2'), a.get('dctx'), du, R);
    encodeSelfAttentionBackward(this.ctx, pass, a, this.attention, g('qkv'), a.get('dctx'), slice.batch);
    const dx = first ? null : a.get('dB');
    [L.q, L.k, L.v].forEach((lin, j) => {
      // The LoRA products read dy contiguous: copy this projection's columns out of dqkv.
      encodeScatterRows(this.ctx, pass, { src: a.get('dqkv'), rowIdx: a.get('ident'), dst: a.get('dpart'), rows: R, dim: H, srcStride: 3 * H, srcOffset: j * H, dstStride: H });
      lin.backward(pass, g('x'), this.u(lin), a.get('dpart'), dx, du, R, j > 0);
    });
    if (!first) encodeAdd(this.ctx, pass, a.get('dB'), a.get('g2'), a.get('dA'), R * H);
  }

  async readInput(slice: TrainSlice): Promise<Float32Array> {
    return readF32(this.ctx, this.a.get(`x${this.from}`), slice.batch.rows * this.config.hiddenSize);
  }

  async readLoss(slice: TrainSlice): Promise<Float32Array> {
    return readF32(this.ctx, this.a.get('loss'), slice.batch.numSeqs);
  }

  async readLogits(slice: TrainSlice): Promise<Float32Array> {
    return readF32(this.ctx, this.a.get('logits'), slice.batch.numSeqs * this.lora.head!.numLabels);
  }

  destroy(): void {
    this.a.destroy();
  }
}
