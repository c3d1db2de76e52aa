import { readF32, writeBuffer } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import { encodeActivationBackward } from '../kernels/activation-backward.js';
import { encodeAdd } from '../kernels/add.js';
import { encodeCrossEntropy } from '../kernels/cross-entropy.js';
import { encodeGelu } from '../kernels/gelu.js';
import { encodeLayerNorm } from '../kernels/layernorm.js';
import { encodeLayerNormBackward } from '../kernels/layernorm-backward.js';
import { encodeMatmul } from '../kernels/matmul.js';
import type { BaseWeights } from '../knowledge/general/base-weights.js';
import type { Gpt2Config } from '../formats/model-config.js';
import type { HiddenSource } from '../model/pass.js';
import { projection } from '../model/project.js';
import type { FamilyGraph, TrainSlice } from './graph.js';
import { Arena, checkSliceFits, encodeSelfAttention, encodeSelfAttentionBackward, layerSteps, sliceParts, stageSequences, TrainLinear, wholeWeight, type Norm, normOf, type SelfAttention } from './ops.js';
import type { TrainableLora } from './trainable-lora.js';

interface Block {
  readonly l: number;
  readonly ln1: Norm;
  readonly cAttn: TrainLinear;
  readonly cProj: TrainLinear;
  readonly ln2: Norm;
  readonly cFc: TrainLinear;
  readonly mlpProj: TrainLinear;
}

/**
 * hGPT's training graph: blocks from..L-1 (pre-LayerNorm) with the tenant's LoRA, ln_f and the
 * tied LM head, next-token cross-entropy on every row but each sequence's last.
 */
export class GptTrainGraph implements FamilyGraph {
  private constructor(
    private readonly ctx: GpuContext,
    private readonly config: Gpt2Config,
    private readonly blocks: readonly Block[],
    private readonly lnF: Norm,
    private readonly wte: { buffer: GPUBuffer; dtype: 'f32' | 'f16' },
    private readonly a: Arena,
    readonly maxRows: number,
    readonly maxSeqs: number,
    private readonly from: number,
  ) {}

  private get attention(): SelfAttention {
    return { hidden: this.config.hiddenSize, numHeads: this.config.numHeads, causal: true };
  }

  static async create(ctx: GpuContext, config: Gpt2Config, base: BaseWeights, lora: TrainableLora, from: number, maxRows: number, maxSeqs: number): Promise<GptTrainGraph> {
    const { hiddenSize: H, intermediateSize: I } = config;
    const norm = (name: string): Norm => normOf(base, name, H);
    const lin = (path: string, inDim: number, outDim: number): TrainLinear => new TrainLinear(ctx, projection(base, path, inDim, outDim, 'kn'), lora.module(path), lora);
    const blocks: Block[] = [];
    for (let l = from; l < config.numLayers; l++) {
      const p = `h.${l}`;
      blocks.push({
        l,
        ln1: norm(`${p}.ln_1`),
        cAttn: lin(`${p}.attn.c_attn`, H, 3 * H),
        cProj: lin(`${p}.attn.c_proj`, H, H),
        ln2: norm(`${p}.ln_2`),
        cFc: lin(`${p}.mlp.c_fc`, H, I),
        mlpProj: lin(`${p}.mlp.c_proj`, I, H),
      });
    }
    const wte = wholeWeight(base.tensor('wte.weight', [config.vocabSize, H]), 'wte.weight');
    const a = new Arena(ctx);
    const g = new GptTrainGraph(ctx, config, blocks, norm('ln_f'), wte, a, maxRows, maxSeqs, from);
    try {
      await g.allocate(lora);
    } catch (e) {
      a.destroy();
      throw e;
    }
    return g;
  }

  get bytes(): number {
    return this.a.bytes;
  }

  private async allocate(lora: TrainableLora): Promise<void> {
    const { hiddenSize: H, intermediateSize: I, numHeads, vocabSize: V } = this.config;
    const R = this.maxRows;
    const a = this.a;
    for (const B of this.blocks) {
      for (const [name, w] of [['x', H], ['ln1', H], ['qkv', 3 * H], ['ctx', H], ['xa', H], ['ln2', H], ['fpre', I], ['f', I]] as const) await a.add(`${name}${B.l}`, R * w);
      for (const lin of [B.cAttn, B.cProj, B.cFc, B.mlpProj]) if (lin.mod) await a.add(`u:${lin.mod.path}`, R * lin.mod.r);
    }
    await a.add(`x${this.config.numLayers}`, R * H);
    for (const name of ['lnf', 'tmp', 'g1', 'g2', 'dctx', 'dA']) await a.add(name, R * H);
    await a.add('dqkv', R * 3 * H);
    await a.add('df', R * I);
    await a.add('dfpre', R * I);
    await a.add('du', R * Math.max(1, ...lora.modules.map((m) => m.r)));
    await a.add('stats', R * numHeads * 2);
    await a.add('logits', R * V);
    await a.add('dlogits', R * V);
    await a.add('labels', R);
    await a.add('loss', R);
    await a.add('seqs4', this.maxSeqs * 4);
    await a.add('seqs2', this.maxSeqs * 2);
  }

  parts(slice: TrainSlice, input: HiddenSource, train: boolean): (() => void)[] {
    const b = slice.batch;
    checkSliceFits(b, this.maxRows, this.maxSeqs);
    stageSequences(this.ctx, this.a, b);
    writeBuffer(this.ctx, this.a.get('labels'), slice.targets);
    const steps = layerSteps(
      this.blocks,
      (B) => [(pass) => this.forwardAttention(pass, B, slice), (pass) => this.forwardMlp(pass, B, slice)],
      (pass) => this.head(pass, slice, train),
      train ? (B, first) => [(pass) => this.backwardMlp(pass, B, slice), (pass) => this.backwardAttention(pass, B, slice, first)] : undefined,
    );
    return sliceParts(this.ctx, this.a.get(`x${this.from}`), b.rows * this.config.hiddenSize * 4, input, [], steps);
  }

  private u(lin: TrainLinear): GPUBuffer | null {
    return lin.mod ? this.a.get(`u:${lin.mod.path}`) : null;
  }

  private ln(pass: GPUComputePassEncoder, x: GPUBuffer, n: Norm, y: GPUBuffer, rows: number): void {
    encodeLayerNorm(this.ctx, pass, { x, gamma: n.gamma, beta: n.beta, y, rows, cols: this.config.hiddenSize, eps: this.config.layerNormEps });
  }

  private lnBack(pass: GPUComputePassEncoder, x: GPUBuffer, n: Norm, dy: GPUBuffer, dx: GPUBuffer, rows: number): void {
    encodeLayerNormBackward(this.ctx, pass, { x, gamma: n.gamma, dy, dx, rows, cols: this.config.hiddenSize, eps: this.config.layerNormEps });
  }

  // A block is two parts (attention, MLP) each way: a serving request arriving during a
  // training slice waits for half a block's work at most.
  private forwardAttention(pass: GPUComputePassEncoder, B: Block, slice: TrainSlice): void {
    const H = this.config.hiddenSize;
    const R = slice.batch.rows;
    const a = this.a;
    const g = (n: string): GPUBuffer => a.get(`${n}${B.l}`);
    this.ln(pass, g('x'), B.ln1, g('ln1'), R);
    B.cAttn.forward(pass, g('ln1'), g('qkv'), this.u(B.cAttn), R);
    encodeSelfAttention(this.ctx, pass, a, this.attention, g('qkv'), g('ctx'), slice.batch);
    B.cProj.forward(pass, g('ctx'), a.get('tmp'), this.u(B.cProj), R);
    encodeAdd(this.ctx, pass, g('x'), a.get('tmp'), g('xa'), R * H);
  }

  private forwardMlp(pass: GPUComputePassEncoder, B: Block, slice: TrainSlice): void {
    const { hiddenSize: H, intermediateSize: I } = this.config;
    const R = slice.batch.rows;
    const a = this.a;
    const g = (n: string): GPUBuffer => a.get(`${n}${B.l}`);
    this.ln(pass, g('xa'), B.ln2, g('ln2'), R);
    B.cFc.forward(pass, g('ln2'), g('fpre'), this.u(B.cFc), R);
    encodeGelu(this.ctx, pass, { x: g('fpre'), y: g('f'), n: R * I, form: 'tanh' });
    B.mlpProj.forward(pass, g('f'), a.get('tmp'), this.u(B.mlpProj), R);
    encodeAdd(this.ctx, pass, g('xa'), a.get('tmp'), a.get(`x${B.l + 1}`), R * H);
  }

  /** ln_f, the tied LM head and the loss; with `train`, their backward into dA. */
  private head(pass: GPUComputePassEncoder, slice: TrainSlice, train: boolean): void {
    const { hiddenSize: H, vocabSize: V } = this.config;
    const R = slice.batch.rows;
    const a = this.a;
    const xL = a.get(`x${this.config.numLayers}`);
    this.ln(pass, xL, this.lnF, a.get('lnf'), R);
    encodeMatmul(this.ctx, pass, { x: a.get('lnf'), w: this.wte.buffer, wDtype: this.wte.dtype, y: a.get('logits'), M: R, N: V, K: H, wLayout: 'nk' });
    encodeCrossEntropy(this.ctx, pass, { logits: a.get('logits'), labels: a.get('labels'), dLogits: a.get('dlogits'), loss: a.get('loss'), rows: R, classes: V, scale: slice.lossScale });
    if (!train) return;
    encodeMatmul(this.ctx, pass, { x: a.get('dlogits'), w: this.wte.buffer, wDtype: this.wte.dtype, y: a.get('tmp'), M: R, N: H, K: V, wLayout: 'kn' });
    this.lnBack(pass, xL, this.lnF, a.get('tmp'), a.get('dA'), R);
  }

  /** dA holds the gradient of the block's output; leaves the gradient of the MLP's residual input (xa) in g2. */
  private backwardMlp(pass: GPUComputePassEncoder, B: Block, slice: TrainSlice): void {
    const { hiddenSize: H, intermediateSize: I } = this.config;
    const R = slice.batch.rows;
    const a = this.a;
    const g = (n: string): GPUBuffer => a.get(`${n}${B.l}`);
    const du = a.get('du');
    B.mlpProj.backward(pass, g('f'), this.u(B.mlpProj), a.get('dA'), a.get('df'), du, R);
    encodeActivationBackward(this.ctx, pass, { x: g('fpre'), dy: a.get('df'), dx: a.get('dfpre'), n: R * I, activation: 'gelu_tanh' });
    B.cFc.backward(pass, g('ln2'), this.u(B.cFc), a.get('dfpre'), a.get('tmp'), du, R);
    this.lnBack(pass, g('xa'), B.ln2, a.get('tmp'), a.get('g1'), R);
    encodeAdd(this.ctx, pass, a.get('g1'), a.get('dA'), a.get('g2'), R * H);
  }

  /** g2 holds the gradient of xa; leaves the block input's gradient in dA (unless `first`). */
  private backwardAttention(pass: GPUComputePassEncoder, B: Block, slice: TrainSlice, first: boolean): void {
    const H = this.config.hiddenSize;
    const R = slice.batch.rows;
    const a = this.a;
    const g = (n: string): GPUBuffer => a.get(`${n}${B.l}`);
    const du = a.get('du');
    B.cProj.backward(pass, g('ctx'), this.u(B.cProj), a.get('g2'), a.get('dctx'), du, R);
    encodeSelfAttentionBackward(this.ctx, pass, a, this.attention, g('qkv'), a.get('dctx'), slice.batch);
    B.cAttn.backward(pass, g('ln1'), this.u(B.cAttn), a.get('dqkv'), first ? null : a.get('tmp'), du, R);
    if (first) return;
    this.lnBack(pass, g('x'), B.ln1, a.get('tmp'), a.get('g1'), R);
    encodeAdd(this.ctx, pass, a.get('g1'), a.get('g2'), a.get('dA'), R * H);
  }

  async readInput(slice: TrainSlice): Promise<Float32Array> {
    return readF32(this.ctx, this.a.get(`x${this.from}`), slice.batch.rows * this.config.hiddenSize);
  }

  async readLoss(slice: TrainSlice): Promise<Float32Array> {
    return readF32(this.ctx, this.a.get('loss'), slice.batch.rows);
  }

  destroy(): void {
    this.a.destroy();
  }
}
