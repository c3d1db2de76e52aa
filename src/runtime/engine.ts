import { createGpuContext, type GpuContext } from '../gpu/device.js';
import type { TensorMap } from '../formats/types.js';
import type { BertConfig } from '../model/config.js';
import { BaseWeights } from '../knowledge/general/base-weights.js';
import { BertModel } from '../model/bert.js';
import { AdapterPool } from '../knowledge/task/pool.js';
import { MultiTenantLora } from '../knowledge/task/multi-lora.js';
import type { TenantMeta } from '../knowledge/task/pack.js';
import type { TenantStore } from '../knowledge/task/store.js';
import { EncoderExecutor } from './classify-executor.js';
import { LowerWindows, WINDOW_CHUNK } from './lower-windows.js';
import { PlotCache } from '../knowledge/domain/plot-cache.js';
import { PlotAssembler } from '../knowledge/domain/assembler.js';
import type { RuntimeDomains } from './domains.js';
import type { Metrics } from './metrics.js';
import { TaskResidency } from './task-residency.js';

export interface EngineSpec {
  readonly gpu: GPU;
  readonly config: BertConfig;
  /** Host copy of the base weights, kept so a lost device can be re-uploaded. */
  readonly weights: TensorMap;
  readonly store: TenantStore;
  readonly poolBytes?: number;
  readonly tokenBudget: number;
  readonly metrics: Metrics;
  readonly meta: (tenantId: string) => TenantMeta | undefined;
  /** Whether a tenant is registered, and its registration generation (see TenantRegistry). */
  readonly registration: (tenantId: string) => { readonly exists: boolean; readonly generation: number };
  /** How long a batch waits on a store read before deferring that tenant's requests. */
  readonly storeWaitMs?: number;
  readonly now: () => number;
  readonly split: number;
  readonly domains: () => RuntimeDomains;
  /** GPU cache slots for PLOT entries; at least twice a batch's distinct tri-grams. */
  readonly plotCacheSlots: number;
  /** Time the matmul variants when the model is created. Default true. */
  readonly autotune?: boolean;
}


/**
 * Everything bound to one GPUDevice: the shared base weights (general knowledge), the model,
 * the adapter pool and the batched LoRA (task knowledge), the executor. When the device is
 * lost the runtime throws the engine away and builds a new one from the same spec; tenants
 * come back into the pool from the store on their next batch.
 */
export class Engine {
  private lostFlag = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly base: BaseWeights,
    readonly model: BertModel,
    /** PLOT misses, on a model with its own workspace: never a running batch's buffers. */
    readonly windows: LowerWindows,
    readonly pool: AdapterPool,
    readonly lora: MultiTenantLora,
    readonly executor: EncoderExecutor,
    readonly residency: TaskResidency,
    readonly plotCache: PlotCache,
    readonly assembler: PlotAssembler,
  ) {
    void ctx.lost.then(() => {
      this.lostFlag = true;
    });
  }



  /** True once the device is lost (or destroyed under us). */
  get lost(): boolean {
    return this.lostFlag;
  }

  static async create(spec: EngineSpec): Promise<Engine> {
    const ctx = await createGpuContext(spec.gpu);
    try {
      const base = await BaseWeights.upload(ctx, spec.weights);
      const model = await BertModel.create(ctx, spec.config, base, { maxTokens: spec.tokenBudget, maxSeqs: 64, autotune: spec.autotune ?? true });
      const windowModel = await BertModel.create(ctx, spec.config, base, { maxTokens: 3 * WINDOW_CHUNK, maxSeqs: WINDOW_CHUNK, autotune: false });
      const windows = new LowerWindows(ctx, spec.config, spec.domains, {
        pack: (seqs) => windowModel.pack(seqs),
        runLower: (batch, l) => windowModel.runLower(batch, spec.split, l),
        dispose: () => windowModel.dispose(),
      });
      const pool = await AdapterPool.create(ctx, {
        pageFloats: spec.config.hiddenSize,
        ...(spec.poolBytes !== undefined ? { budgetBytes: spec.poolBytes } : {}),
      });
      const lora = new MultiTenantLora(ctx, pool);
      const residency = new TaskResidency(spec.store, pool, spec.metrics, spec.registration, spec.storeWaitMs);
      const H = spec.config.hiddenSize;
      const plotCache = await PlotCache.create(ctx, { slots: spec.plotCacheSlots, width: 3 * H });
      const ln = spec.split > 0 ? `encoder.layer.${spec.split - 1}.output.LayerNorm` : 'embeddings.LayerNorm';
      const assembler = new PlotAssembler(ctx, {
        domain: spec.domains().knowledge,
        cache: plotCache,
        model: {
          family: 'bert',
          padTokenId: spec.config.padTokenId,
          eps: spec.config.layerNormEps,
          positions: base.get('embeddings.position_embeddings.weight'),
          posRows: spec.config.maxPositions,
          typeRow: base.get('embeddings.token_type_embeddings.weight'),
          defaultLn: { gamma: spec.weights.get(`${ln}.weight`)!.data, beta: spec.weights.get(`${ln}.bias`)!.data },
        },
      });
      const executor = new EncoderExecutor(ctx, model, lora, spec.meta, spec.now, assembler, spec.split, pool, (served) => spec.metrics.recordBatch(served));
      return new Engine(ctx, base, model, windows, pool, lora, executor, residency, plotCache, assembler);
    } catch (e) {
      ctx.destroy();
      throw e;
    }
  }

  /**
   * Whether a failure came from losing the device. The lost promise may settle a moment after
   * the failed readback, so give it a few event-loop turns before deciding.
   */
  async failedByLoss(): Promise<boolean> {
    for (let i = 0; i < 20 && !this.lostFlag; i++) await new Promise((r) => setTimeout(r, 5));
    return this.lostFlag;
  }

  destroy(): void {
    this.plotCache.destroy();
    this.windows.dispose();
    this.executor.dispose();
    this.lora.destroy();
    this.pool.destroy();
    this.model.dispose();
    this.base.dispose();
    this.ctx.destroy();
  }
}
