import { readF32 } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import type { ModelConfig } from '../formats/model-config.js';
import type { PackedBatch, SequenceInput } from '../model/batch.js';
import type { LoraApplier } from '../model/lora-hook.js';
import { SingleAdapterLora } from '../model/single-lora.js';
import { BASE_SCOPE } from '../knowledge/domain/domain-tree.js';
import type { RuntimeDomains } from './domains.js';

/** Windows per lower-layer pass when computing PLOT misses or building a table. */
export const WINDOW_CHUNK = 256;

/** The lower half of a model with its own workspace (never the serving model's). */
export interface LowerModel {
  pack(seqs: readonly SequenceInput[]): PackedBatch;
  runLower(batch: PackedBatch, lora: LoraApplier | undefined): Promise<GPUBuffer>;
  dispose(): void;
}

/**
 * PLOT values computed on the GPU: 3-token windows (positions 0..2, token type 0) run through
 * a domain node's lower layers, a chunk of windows per pass, one computation at a time. hBERT
 * keeps all three slots of a window ([n, 3H]), hGPT the last one ([n, H]). A domain with its
 * own lower layers runs them as a LoRA, uploaded on first use.
 */
export class LowerWindows {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly loras = new Map<string, SingleAdapterLora>();

  constructor(
    private readonly ctx: GpuContext,
    private readonly config: ModelConfig,
    private readonly domains: RuntimeDomains,
    private readonly model: LowerModel,
  ) {}

  compute(nodeId: string, windows: Uint32Array): Promise<Float32Array> {
    const run = async (): Promise<Float32Array> => {
      const H = this.config.hiddenSize;
      const slots = this.config.family === 'bert' ? 3 : 1;
      const n = windows.length / 3;
      const out = new Float32Array(n * slots * H);
      const lora = await this.lowerLora(nodeId);
      for (let w0 = 0; w0 < n; w0 += WINDOW_CHUNK) {
        const w1 = Math.min(n, w0 + WINDOW_CHUNK);
        const seqs: SequenceInput[] = [];
        for (let w = w0; w < w1; w++) seqs.push({ ids: [windows[3 * w], windows[3 * w + 1], windows[3 * w + 2]] });
        const packed = this.model.pack(seqs);
        const rows = await readF32(this.ctx, await this.model.runLower(packed, lora), packed.rows * H);
        if (slots === 3) out.set(rows, w0 * 3 * H);
        else for (let w = w0; w < w1; w++) out.set(rows.subarray(((w - w0) * 3 + 2) * H, ((w - w0) * 3 + 3) * H), w * H);
      }
      return out;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async lowerLora(nodeId: string): Promise<SingleAdapterLora | undefined> {
    const scope = this.domains.knowledge.tree.scope(nodeId);
    if (scope === BASE_SCOPE) return undefined;
    const id = scope.slice(2);
    let lora = this.loras.get(id);
    if (!lora) {
      const adapter = this.domains.lowerAdapters.get(id);
      if (!adapter) return undefined;
      lora = await SingleAdapterLora.upload(this.ctx, this.config, adapter);
      this.loras.set(id, lora);
    }
    return lora;
  }

  dispose(): void {
    for (const l of this.loras.values()) l.dispose();
    this.loras.clear();
    this.model.dispose();
  }
}
