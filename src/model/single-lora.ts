import { allocBuffer, uploadBuffer } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import { encodeMatmul } from '../kernels/matmul.js';
import type { LoraAdapter } from '../formats/types.js';
import { ShapeError } from '../errors.js';
import { BaseWeights } from '../knowledge/general/base-weights.js';
import type { ModelConfig } from '../formats/model-config.js';
import { AdapterMismatchError } from '../formats/errors.js';
import type { LoraApplier } from './lora-hook.js';
import { loraModuleShapes } from './modules.js';

interface GpuLoraModule {
  r: number;
  inDim: number;
  outDim: number;
  scale: number;
  A: GPUBuffer;
  B: GPUBuffer;
}

/** An applier that may need room for a batch before it is encoded. */

/** Throws AdapterMismatchError for a module or head tensor that does not fit the model. */
export function checkAdapter(config: ModelConfig, adapter: LoraAdapter): void {
  const shapes = new Map(loraModuleShapes(config).map((m) => [m.path, m]));
  for (const [name, mod] of adapter.modules) {
    const dims = shapes.get(name);
    if (!dims) throw new AdapterMismatchError(name, `is not a ${config.family} projection of this ${config.numLayers}-layer model that LoRA can target`);
    if (mod.inDim !== dims.inDim || mod.outDim !== dims.outDim) {
      throw new AdapterMismatchError(name, `is ${mod.inDim}->${mod.outDim}, the model's projection is ${dims.inDim}->${dims.outDim}`);
    }
    if (!Number.isInteger(mod.r) || mod.r < 1) throw new AdapterMismatchError(name, `rank ${mod.r} must be a positive integer`);
    if (mod.A.length !== mod.r * mod.inDim) throw new AdapterMismatchError(name, `lora_A has ${mod.A.length} values, expected [${mod.r}, ${mod.inDim}]`);
    if (mod.B.length !== mod.outDim * mod.r) throw new AdapterMismatchError(name, `lora_B has ${mod.B.length} values, expected [${mod.outDim}, ${mod.r}]`);
    if (!Number.isFinite(mod.scale)) throw new AdapterMismatchError(name, `scale ${mod.scale} is not finite`);
  }
  const H = config.hiddenSize;
  for (const [name, t] of adapter.head) {
    const [rows, cols] = t.shape;
    const ok =
      name.endsWith('.weight') && t.shape.length === 2
        ? cols === H && (name !== 'pooler.dense.weight' || rows === H)
        : name.endsWith('.bias') && t.shape.length === 1;
    if (!ok || t.data.length !== t.shape.reduce((a, b) => a * b, 1)) {
      throw new AdapterMismatchError(name, `head tensor of shape [${t.shape.join(',')}] does not fit hidden size ${H}`);
    }
  }
  const w = adapter.head.get('classifier.weight');
  const b = adapter.head.get('classifier.bias');
  if (w && b && b.shape[0] !== w.shape[0]) {
    throw new AdapterMismatchError('classifier', `bias has ${b.shape[0]} labels, weight ${w.shape[0]}`);
  }
}

/**
 * One adapter for every row of a batch: delta = scale * (x @ A^T) @ B^T as two matmuls
 * (shrink into a [rows, r] scratch buffer, then expand accumulated into y). The reference
 * applier against which the multi-tenant segmented one is checked.
 */
export class SingleAdapterLora implements LoraApplier {
  private scratch: GPUBuffer;

  private constructor(
    private readonly ctx: GpuContext,
    private readonly modules: ReadonlyMap<string, GpuLoraModule>,
    /** The adapter's head tensors (modules_to_save) on the GPU, e.g. classifier.weight. */
    readonly head: BaseWeights,
    readonly maxRank: number,
    /** Bytes of A and B of all modules. */
    readonly bytes: number,
    scratch: GPUBuffer,
  ) {
    this.scratch = scratch;
  }

  static async upload(ctx: GpuContext, config: ModelConfig, adapter: LoraAdapter, rows = 64): Promise<SingleAdapterLora> {
    checkAdapter(config, adapter);
    const modules = new Map<string, GpuLoraModule>();
    let maxRank = 1;
    let bytes = 0;
    let head: BaseWeights | undefined;
    try {
      for (const [name, m] of adapter.modules) {
        const A = await uploadBuffer(ctx, m.A, `lora:${name}.A`);
        const B = await uploadBuffer(ctx, m.B, `lora:${name}.B`).catch((e: unknown) => {
          A.destroy();
          throw e;
        });
        modules.set(name, { r: m.r, inDim: m.inDim, outDim: m.outDim, scale: m.scale, A, B });
        maxRank = Math.max(maxRank, m.r);
        bytes += m.A.byteLength + m.B.byteLength;
      }
      head = await BaseWeights.upload(ctx, adapter.head, 'lora-head');
      const scratch = await allocBuffer(ctx, Math.max(1, rows) * maxRank * 4, 'lora:scratch');
      return new SingleAdapterLora(ctx, modules, head, maxRank, bytes, scratch);
    } catch (e) {
      for (const m of modules.values()) {
        m.A.destroy();
        m.B.destroy();
      }
      head?.dispose();
      throw e;
    }
  }

  async prepare(rows: number): Promise<void> {
    const need = rows * this.maxRank * 4;
    if (this.scratch.size >= need) return;
    const next = await allocBuffer(this.ctx, Math.max(need, this.scratch.size * 2), 'lora:scratch');
    // Passes are encoded synchronously, so none is open here; submitted ones keep the old buffer alive.
    this.scratch.destroy();
    this.scratch = next;
  }

  apply(pass: GPUComputePassEncoder, module: string, x: GPUBuffer, y: GPUBuffer, rows: number, inDim: number, outDim: number): void {
    const m = this.modules.get(module);
    if (!m) return;
    if (m.inDim !== inDim || m.outDim !== outDim) {
      throw new ShapeError(`LoRA ${module}: adapter is ${m.inDim}->${m.outDim}, the projection ${inDim}->${outDim}`);
    }
    if (rows * m.r * 4 > this.scratch.size) throw new ShapeError(`LoRA ${module}: ${rows} rows exceed the prepared scratch; call prepare(rows) first`);
    encodeMatmul(this.ctx, pass, { x, w: m.A, y: this.scratch, M: rows, N: m.r, K: inDim, wLayout: 'nk' });
    encodeMatmul(this.ctx, pass, { x: this.scratch, w: m.B, y, M: rows, N: outDim, K: m.r, wLayout: 'nk', alpha: m.scale, accumulate: true });
  }

  dispose(): void {
    for (const m of this.modules.values()) {
      m.A.destroy();
      m.B.destroy();
    }
    this.head.dispose();
    this.scratch.destroy();
  }
}
