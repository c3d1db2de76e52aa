import { allocBuffer, readF32, writeBuffer } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import type { BufferRef } from '../gpu/dispatch.js';
import { LORA_KINDS, loraModuleDims } from '../formats/peft.js';
import type { ModelConfig } from '../formats/model-config.js';
import type { LoraAdapter, LoraModule, TensorMap } from '../formats/types.js';
import { InvalidInputError } from '../errors.js';
import { Rng } from '../util/rng.js';

/** One tensor's place in the flat parameter buffer (floats). */
export interface ParamSlice {
  readonly offset: number;
  readonly size: number;
}

export interface TrainableModule {
  readonly path: string;
  readonly layer: number;
  /** The module kind below the layer, e.g. "attention.self.query", "attn.c_attn". */
  readonly kind: string;
  readonly inDim: number;
  readonly outDim: number;
  readonly r: number;
  readonly scale: number;
  /** [r, inDim] */
  readonly A: ParamSlice;
  /** [outDim, r] */
  readonly B: ParamSlice;
}

export interface TrainableHead {
  readonly numLabels: number;
  /** classifier.weight [numLabels, H] */
  readonly W: ParamSlice;
  /** classifier.bias [numLabels] */
  readonly b: ParamSlice;
}

export interface LoraShape {
  readonly rank: number;
  readonly alpha: number;
  /** PEFT target_modules names, matched as PEFT does (equal, or a dotted suffix). */
  readonly targets: readonly string[];
  /** Layers that carry LoRA: from..numLayers-1. */
  readonly fromLayer: number;
  /** hBERT: a classifier of this many labels over the base pooler. */
  readonly numLabels?: number;
}

/**
 * Binding offsets must be multiples of minStorageBufferOffsetAlignment (256 bytes on every
 * adapter WebGPU allows), so each tensor starts on a 64-float boundary.
 */
const ALIGN_FLOATS = 64;
const align = (n: number): number => Math.ceil(n / ALIGN_FLOATS) * ALIGN_FLOATS;

/** The modules a target list names in layers from..L-1, in layer then kind order. */
export function targetModules(config: ModelConfig, targets: readonly string[], fromLayer: number): string[] {
  const kinds = LORA_KINDS[config.family];
  const prefix = (l: number): string => (config.family === 'bert' ? `encoder.layer.${l}.` : `h.${l}.`);
  for (const t of targets) {
    if (typeof t !== 'string' || !kinds.some((k) => k === t || k.endsWith(`.${t}`))) {
      throw new InvalidInputError(`target "${String(t)}" names no ${config.family} projection (LoRA targets: ${kinds.join(', ')})`);
    }
  }
  const out: string[] = [];
  for (let l = fromLayer; l < config.numLayers; l++) {
    for (const k of kinds) if (targets.some((t) => k === t || k.endsWith(`.${t}`))) out.push(prefix(l) + k);
  }
  return out;
}

/**
 * A tenant's trainable parameters on the GPU: every LoRA factor and the classifier in one flat
 * f32 buffer, with gradient and AdamW moment buffers of the same layout, so one AdamW dispatch
 * updates them all. Initialized as the offline trainer (training/py/hplm.py) does: A ~
 * N(0, 1/inDim), B = 0 (the adapter starts as the base), classifier ~ N(0, 0.02^2), bias 0.
 */
export class TrainableLora {
  private constructor(
    readonly ctx: GpuContext,
    readonly modules: readonly TrainableModule[],
    readonly head: TrainableHead | null,
    readonly size: number,
    readonly params: GPUBuffer,
    readonly grads: GPUBuffer,
    readonly m: GPUBuffer,
    readonly v: GPUBuffer,
    private readonly hidden: number,
  ) {}

  /** GPU bytes of the parameters, their gradients and the two AdamW moments. */
  get gpuBytes(): number {
    return this.params.size + this.grads.size + this.m.size + this.v.size;
  }

  static async create(ctx: GpuContext, config: ModelConfig, shape: LoraShape, seed: number): Promise<TrainableLora> {
    const paths = targetModules(config, shape.targets, shape.fromLayer);
    if (paths.length === 0) throw new InvalidInputError('no module to train: the targets name no projection in the trained layers');
    let offset = 0;
    const take = (size: number): ParamSlice => {
      const s = { offset, size };
      offset += align(size);
      return s;
    };
    const r = shape.rank;
    const modules = paths.map((path): TrainableModule => {
      const d = loraModuleDims(config, path);
      if (typeof d === 'string') throw new InvalidInputError(d);
      return { path, layer: d.layer, kind: d.kind, inDim: d.inDim, outDim: d.outDim, r, scale: shape.alpha / r, A: take(r * d.inDim), B: take(d.outDim * r) };
    });
    const H = config.hiddenSize;
    const n = shape.numLabels ?? 0;
    const head = n > 0 ? { numLabels: n, W: take(n * H), b: take(n) } : null;
    const size = offset;
    const host = new Float32Array(size);
    const rng = new Rng(seed);
    for (const mod of modules) host.set(rng.normals(mod.A.size, 1 / Math.sqrt(mod.inDim)), mod.A.offset);
    if (head) host.set(rng.normals(head.W.size, 0.02), head.W.offset);
    const bytes = size * 4;
    const params = await allocBuffer(ctx, bytes, 'train-params');
    const buffers = [params];
    try {
      for (const label of ['train-grads', 'train-adam-m', 'train-adam-v']) buffers.push(await allocBuffer(ctx, bytes, label));
    } catch (e) {
      for (const b of buffers) b.destroy();
      throw e;
    }
    writeBuffer(ctx, params, host);
    // allocBuffer's buffers start zeroed (WebGPU zero-initializes), as grads and moments must.
    return new TrainableLora(ctx, modules, head, size, params, buffers[1], buffers[2], buffers[3], H);
  }

  module(path: string): TrainableModule | undefined {
    return this.modules.find((m) => m.path === path);
  }

  /** A slice of the parameters (or of `grads`) as a binding. */
  ref(buffer: GPUBuffer, s: ParamSlice): BufferRef {
    return { buffer, offset: s.offset * 4, size: s.size * 4 };
  }

  /** All parameters, read back (for snapshots of the best epoch and the export). */
  async read(): Promise<Float32Array> {
    return readF32(this.ctx, this.params, this.size);
  }

  write(values: Float32Array): void {
    writeBuffer(this.ctx, this.params, values);
  }

  /** The trained adapter from a parameter snapshot: LoRA with scale alpha / r, and the classifier. */
  toAdapter(values: Float32Array, labels?: readonly string[]): LoraAdapter {
    const slice = (s: ParamSlice): Float32Array => values.slice(s.offset, s.offset + s.size);
    const modules = new Map<string, LoraModule>(
      this.modules.map((m) => [m.path, { r: m.r, inDim: m.inDim, outDim: m.outDim, scale: m.scale, A: slice(m.A), B: slice(m.B) }]),
    );
    const head: TensorMap = new Map();
    if (this.head) {
      head.set('classifier.weight', { shape: [this.head.numLabels, this.hidden], data: slice(this.head.W) });
      head.set('classifier.bias', { shape: [this.head.numLabels], data: slice(this.head.b) });
    }
    return { modules, head, ...(labels ? { labels: [...labels] } : {}) };
  }

  destroy(): void {
    for (const b of [this.params, this.grads, this.m, this.v]) b.destroy();
  }
}
