import { allocBuffer, writeBuffer } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import { encodeAttention } from '../kernels/attention.js';
import { encodeAttentionBackward } from '../kernels/attention-backward.js';
import type { PackedBatch } from '../model/batch.js';
import type { HiddenSource } from '../model/pass.js';
import { encodeMatmul, type WeightLayout } from '../kernels/matmul.js';
import { encodeMatmulTN } from '../kernels/matmul-tn.js';
import type { ShardedWeight } from '../kernels/weight-shards.js';
import type { Projection } from '../model/project.js';
import type { BaseWeights } from '../knowledge/general/base-weights.js';
import { TrainingShapeError } from './errors.js';
import type { TrainableLora, TrainableModule } from './trainable-lora.js';

/** The one buffer of a frozen base weight; gradients through row shards are not implemented. */
export function wholeWeight(w: ShardedWeight, name: string): { buffer: GPUBuffer; dtype: ShardedWeight['dtype'] } {
  if (w.shards.length !== 1) {
    throw new TrainingShapeError(`training needs ${name} in one GPU binding; it is held in ${w.shards.length} row shards (raise maxBufferBytes or use f16 weights)`);
  }
  return { buffer: w.shards[0].buffer, dtype: w.dtype };
}

const flip = (l: WeightLayout): WeightLayout => (l === 'kn' ? 'nk' : 'kn');

/**
 * A frozen base projection with an optional trainable LoRA, forward and backward:
 *   y (+)= x W + b + s (x A^T) B^T
 *   dB += s dy^T u, du = s dy B, dA += du^T x, dx (+)= dy W^T + du A   (u = x A^T, saved)
 * Every product runs on the existing matmul (input gradients: the weight read in the other
 * layout) or on matmul_tn (weight gradients, a reduction over rows).
 */
export class TrainLinear {
  private readonly w: { buffer: GPUBuffer; dtype: ShardedWeight['dtype'] };

  constructor(
    private readonly ctx: GpuContext,
    readonly proj: Projection,
    readonly mod: TrainableModule | undefined,
    private readonly lora: TrainableLora,
  ) {
    this.w = wholeWeight(proj.w, proj.module);
  }

  forward(pass: GPUComputePassEncoder, x: GPUBuffer, y: GPUBuffer, u: GPUBuffer | null, rows: number): void {
    const p = this.proj;
    encodeMatmul(this.ctx, pass, {
      x,
      w: this.w.buffer,
      wDtype: this.w.dtype,
      bias: p.bias,
      y,
      M: rows,
      N: p.outDim,
      K: p.inDim,
      wLayout: p.layout,
    });
    const m = this.mod;
    if (!m) return;
    if (!u) throw new TrainingShapeError(`${p.module}: a LoRA forward needs its u buffer`);
    const L = this.lora;
    encodeMatmul(this.ctx, pass, { x, w: L.ref(L.params, m.A), y: u, M: rows, N: m.r, K: m.inDim, wLayout: 'nk' });
    encodeMatmul(this.ctx, pass, {
      x: u,
      w: L.ref(L.params, m.B),
      y,
      M: rows,
      N: m.outDim,
      K: m.r,
      wLayout: 'nk',
      alpha: m.scale,
      accumulate: true,
    });
  }

  /**
   * Accumulates the LoRA gradients and writes (or, with accumulateDx, adds) dx. `dy` is
   * [rows, outDim] contiguous; `dx` null when nothing below needs it (the first trained layer).
   */
  backward(pass: GPUComputePassEncoder, x: GPUBuffer, u: GPUBuffer | null, dy: GPUBuffer, dx: GPUBuffer | null, du: GPUBuffer, rows: number, accumulateDx = false): void {
    const p = this.proj;
    const m = this.mod;
    const L = this.lora;
    if (m) {
      encodeMatmulTN(this.ctx, pass, { a: dy, b: u!, c: L.ref(L.grads, m.B), M: m.outDim, N: m.r, K: rows, alpha: m.scale, accumulate: true });
      encodeMatmul(this.ctx, pass, { x: dy, w: L.ref(L.params, m.B), y: du, M: rows, N: m.r, K: m.outDim, wLayout: 'kn', alpha: m.scale });
      encodeMatmulTN(this.ctx, pass, { a: du, b: x, c: L.ref(L.grads, m.A), M: m.r, N: m.inDim, K: rows, accumulate: true });
    }
    if (!dx) return;
    encodeMatmul(this.ctx, pass, { x: dy, w: this.w.buffer, wDtype: this.w.dtype, y: dx, M: rows, N: p.inDim, K: p.outDim, wLayout: flip(p.layout), accumulate: accumulateDx });
    if (m) encodeMatmul(this.ctx, pass, { x: du, w: L.ref(L.params, m.A), y: dx, M: rows, N: m.inDim, K: m.r, wLayout: 'kn', accumulate: true });
  }
}

/** Named GPU buffers sized once for the most rows a slice may have. */
export class Arena {
  private readonly buffers = new Map<string, GPUBuffer>();

  constructor(private readonly ctx: GpuContext) {}

  async add(name: string, floats: number, usage?: number): Promise<void> {
    this.buffers.set(name, await allocBuffer(this.ctx, Math.max(16, floats * 4), `train-${name}`, usage));
  }

  get(name: string): GPUBuffer {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`training arena has no buffer ${name}`);
    return b;
  }

  has(name: string): boolean {
    return this.buffers.has(name);
  }

  get bytes(): number {
    let n = 0;
    for (const b of this.buffers.values()) n += b.size;
    return n;
  }

  destroy(): void {
    for (const b of this.buffers.values()) b.destroy();
    this.buffers.clear();
  }
}

/** A fused [rows, 3H] q|k|v buffer's self-attention within each packed sequence. */
export interface SelfAttention {
  readonly hidden: number;
  readonly numHeads: number;
  readonly causal: boolean;
}

/**
 * Uploads a slice's sequence tables into the arena: `seqs4` (qStart, qLen, kvStart, kvLen) for
 * the forward attention, `seqs2` (start, len) for its backward.
 */
export function stageSequences(ctx: GpuContext, a: Arena, b: PackedBatch): void {
  const seqs4 = new Uint32Array(b.numSeqs * 4);
  const seqs2 = new Uint32Array(b.numSeqs * 2);
  for (let s = 0; s < b.numSeqs; s++) {
    seqs4.set([b.starts[s], b.lengths[s], b.starts[s], b.lengths[s]], s * 4);
    seqs2.set([b.starts[s], b.lengths[s]], s * 2);
  }
  writeBuffer(ctx, a.get('seqs4'), seqs4);
  writeBuffer(ctx, a.get('seqs2'), seqs2);
}

function qkvLayout(s: SelfAttention): { headDim: number; stride: number; qOffset: number; kOffset: number; vOffset: number } {
  const H = s.hidden;
  return { headDim: H / s.numHeads, stride: 3 * H, qOffset: 0, kOffset: H, vOffset: 2 * H };
}

export function encodeSelfAttention(ctx: GpuContext, pass: GPUComputePassEncoder, a: Arena, s: SelfAttention, qkv: GPUBuffer, out: GPUBuffer, b: PackedBatch): void {
  const l = qkvLayout(s);
  encodeAttention(ctx, pass, {
    q: qkv,
    k: qkv,
    v: qkv,
    out,
    seqs: a.get('seqs4'),
    numSeqs: b.numSeqs,
    qRows: b.rows,
    kvRows: b.rows,
    numHeads: s.numHeads,
    headDim: l.headDim,
    qStride: l.stride,
    qOffset: l.qOffset,
    kvStride: l.stride,
    kOffset: l.kOffset,
    vOffset: l.vOffset,
    causal: s.causal,
  });
}

/** The gradient of encodeSelfAttention's input into the arena's `dqkv`, given dOut. */
export function encodeSelfAttentionBackward(ctx: GpuContext, pass: GPUComputePassEncoder, a: Arena, s: SelfAttention, qkv: GPUBuffer, dOut: GPUBuffer, b: PackedBatch): void {
  encodeAttentionBackward(ctx, pass, { qkv, dOut, dQkv: a.get('dqkv'), stats: a.get('stats'), seqs: a.get('seqs2'), numSeqs: b.numSeqs, rows: b.rows, numHeads: s.numHeads, causal: s.causal, ...qkvLayout(s) });
}

/** One submit's worth of a slice's dispatches. */
export type Step = (pass: GPUComputePassEncoder) => void;

/** Refuses a slice larger than the graph's activations were sized for. */
export function checkSliceFits(b: PackedBatch, maxRows: number, maxSeqs: number): void {
  if (b.rows > maxRows || b.numSeqs > maxSeqs) throw new TrainingShapeError(`a slice of ${b.rows} rows / ${b.numSeqs} sequences exceeds the graph's ${maxRows} / ${maxSeqs}`);
}

/**
 * A slice's steps in order: each layer's forward parts from the bottom up, the loss, then (with
 * `backward`) each layer's backward parts from the top down; `first` marks the lowest trained
 * layer, whose input needs no gradient.
 */
export function layerSteps<L>(layers: readonly L[], forward: (layer: L) => readonly Step[], loss: Step, backward?: (layer: L, first: boolean) => readonly Step[]): Step[] {
  const down = [...layers].reverse();
  return [...layers.flatMap(forward), loss, ...(backward ? down.flatMap((layer, k) => backward(layer, k === down.length - 1)) : [])];
}

/**
 * A slice as a list of submits, run in order: the first copies the input state into `x0` (or
 * writes it with the input's own encoder), zeroes `clear` and runs `steps[0]`; each later one runs
 * its step. Between them the caller may let serving work run (its buffers are not these), so a
 * request arriving during a slice waits for one part (half a layer's work), not the whole slice. The dispatches
 * and their order are those of one submit: the results are the same bits.
 */
export function sliceParts(ctx: GpuContext, x0: GPUBuffer, bytes: number, input: HiddenSource, clear: readonly GPUBuffer[], steps: readonly Step[]): (() => void)[] {
  return steps.map((step, i) => () => {
    const enc = ctx.device.createCommandEncoder();
    if (i === 0) {
      if (!(input instanceof Function)) enc.copyBufferToBuffer(input, 0, x0, 0, bytes);
      for (const b of clear) enc.clearBuffer(b);
    }
    const pass = enc.beginComputePass();
    if (i === 0 && input instanceof Function) input(pass, x0);
    step(pass);
    pass.end();
    ctx.submit([enc.finish()]);
  });
}

/** A frozen LayerNorm's parameters. */
export interface Norm {
  readonly gamma: GPUBuffer;
  readonly beta: GPUBuffer;
}

export function normOf(base: BaseWeights, name: string, hidden: number): Norm {
  return { gamma: base.get(`${name}.weight`, [hidden]), beta: base.get(`${name}.bias`, [hidden]) };
}
