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
  readonly now: () => number;
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
    readonly pool: AdapterPool,
    readonly lora: MultiTenantLora,
    readonly executor: EncoderExecutor,
    readonly residency: TaskResidency,
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
      const model = await BertModel.create(ctx, spec.config, base, { maxTokens: spec.tokenBudget, maxSeqs: 64 });
      const pool = await AdapterPool.create(ctx, {
        pageFloats: spec.config.hiddenSize,
        ...(spec.poolBytes !== undefined ? { budgetBytes: spec.poolBytes } : {}),
      });
      const lora = new MultiTenantLora(ctx, pool);
      const executor = new EncoderExecutor(ctx, model, lora, spec.meta, spec.now);
      const residency = new TaskResidency(spec.store, pool, spec.metrics);
      return new Engine(ctx, base, model, pool, lora, executor, residency);
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
    this.executor.dispose();
    this.lora.destroy();
    this.pool.destroy();
    this.model.dispose();
    this.base.dispose();
    this.ctx.destroy();
  }
}
