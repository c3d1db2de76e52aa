import { createGpuContext, type GpuContext } from '../gpu/device.js';
import type { TensorMap } from '../formats/types.js';
import type { Gpt2Config } from '../model/config.js';
import { BaseWeights } from '../knowledge/general/base-weights.js';
import { Gpt2Model } from '../model/gpt2.js';
import { AdapterPool } from '../knowledge/task/pool.js';
import { MultiTenantLora } from '../knowledge/task/multi-lora.js';
import type { TenantStore } from '../knowledge/task/store.js';
import { KvPool } from './generation/kv-pool.js';
import type { Metrics } from './metrics.js';
import { TaskResidency } from './task-residency.js';

export interface GenerationEngineSpec {
  readonly gpu: GPU;
  readonly config: Gpt2Config;
  /** Host copy of the base weights, kept so a lost device can be re-uploaded. */
  readonly weights: TensorMap;
  readonly store: TenantStore;
  readonly poolBytes?: number;
  /** KV cache budget; default min(64 MiB, half the device's largest buffer). */
  readonly kvBytes?: number;
  /** Positions per KV block. Default 16. */
  readonly kvBlockTokens?: number;
  /** Tokens of one step the workspace is sized for up front (it grows beyond). */
  readonly tokenBudget: number;
  readonly maxActive: number;
  readonly metrics: Metrics;
  /** Time the matmul variants at start-up (default true). */
  readonly autotune?: boolean;
}

const DEFAULT_KV_BYTES = 64 * 1024 * 1024;

/** The KV budget a device gets when the runtime's options name none. */
export function defaultKvBytes(limits: GPUSupportedLimits): number {
  return Math.min(DEFAULT_KV_BYTES, Math.floor(Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize) / 2));
}

/**
 * Everything of the hGPT runtime bound to one GPUDevice: base weights, the model, the adapter
 * pool with its batched LoRA, and the paged KV pool. Every buffer is allocated here, up front;
 * a lost device means a new engine built from the same spec (tenants page back in on demand).
 */
export class GenerationEngine {
  private lostFlag = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly base: BaseWeights,
    readonly model: Gpt2Model,
    readonly pool: AdapterPool,
    readonly lora: MultiTenantLora,
    readonly residency: TaskResidency,
    readonly kv: KvPool,
  ) {
    void ctx.lost.then(() => {
      this.lostFlag = true;
    });
  }

  static async create(spec: GenerationEngineSpec): Promise<GenerationEngine> {
    const ctx = await createGpuContext(spec.gpu, { label: 'hmi-generation' });
    try {
      const c = spec.config;
      const base = await BaseWeights.upload(ctx, spec.weights);
      const model = await Gpt2Model.create(ctx, c, base, { maxTokens: spec.tokenBudget, maxSeqs: spec.maxActive, autotune: spec.autotune ?? true });
      const pool = await AdapterPool.create(ctx, { pageFloats: c.hiddenSize, ...(spec.poolBytes !== undefined ? { budgetBytes: spec.poolBytes } : {}) });
      const kv = await KvPool.create(ctx, {
        numLayers: c.numLayers,
        hiddenSize: c.hiddenSize,
        ...(spec.kvBlockTokens !== undefined ? { blockTokens: spec.kvBlockTokens } : {}),
        budgetBytes: spec.kvBytes ?? defaultKvBytes(ctx.limits),
      });
      const lora = new MultiTenantLora(ctx, pool);
      const residency = new TaskResidency(spec.store, pool, spec.metrics);
      return new GenerationEngine(ctx, base, model, pool, lora, residency, kv);
    } catch (e) {
      ctx.destroy();
      throw e;
    }
  }

  get lost(): boolean {
    return this.lostFlag;
  }

  /** Whether a failure came from losing the device; the lost promise may settle a moment after the failed readback. */
  async failedByLoss(): Promise<boolean> {
    for (let i = 0; i < 20 && !this.lostFlag; i++) await new Promise((r) => setTimeout(r, 5));
    return this.lostFlag;
  }

  destroy(): void {
    this.kv.dispose();
    this.lora.destroy();
    this.pool.destroy();
    this.model.dispose();
    this.base.dispose();
    this.ctx.destroy();
  }
}
