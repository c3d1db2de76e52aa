import { allocBuffer } from '../gpu/buffers.js';
import { createGpuContext, type GpuContext } from '../gpu/device.js';
import type { TensorMap } from '../formats/types.js';
import type { Gpt2Config } from '../model/config.js';
import { BaseWeights } from '../knowledge/general/base-weights.js';
import { Gpt2Model, type StepEntry } from '../model/gpt2.js';
import { submitPass } from '../model/pass.js';
import { PlotAssembler, type PreparedBatch } from '../knowledge/domain/assembler.js';
import { PlotCache } from '../knowledge/domain/plot-cache.js';
import { AdapterPool } from '../knowledge/task/pool.js';
import { MultiTenantLora } from '../knowledge/task/multi-lora.js';
import type { TenantStore } from '../knowledge/task/store.js';
import { KvPool } from './generation/kv-pool.js';
import type { RuntimeDomains } from './domains.js';
import type { Metrics } from './metrics.js';
import { TaskResidency } from './task-residency.js';
import { LowerWindows, WINDOW_CHUNK } from './lower-windows.js';

export interface GenerationEngineSpec {
  readonly gpu: GPU;
  readonly config: Gpt2Config;
  /** Host copy of the base weights, kept so a lost device can be re-uploaded. */
  readonly weights: TensorMap;
  readonly store: TenantStore;
  /** Whether a tenant is registered, and its registration generation (see TenantRegistry). */
  readonly registration: (tenantId: string) => { readonly exists: boolean; readonly generation: number };
  /** How long a batch waits on a store read before deferring that tenant's requests. */
  readonly storeWaitMs?: number;
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
  /** hPLM split: domain tenants' rows run layers below it from PLOT. */
  readonly split: number;
  readonly domains: () => RuntimeDomains;
  /** GPU cache slots for PLOT entries; at least a step's distinct tri-grams. */
  readonly plotCacheSlots: number;
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
  /** Phase 1's output of a PLOT sub-step, [rows, H]; grown on demand. */
  private plotHidden: GPUBuffer | null = null;

  private constructor(
    readonly ctx: GpuContext,
    private readonly spec: GenerationEngineSpec,
    readonly base: BaseWeights,
    readonly model: Gpt2Model,
    /** PLOT misses, on a model with its own workspace: never the running pass's buffers. */
    readonly windows: LowerWindows,
    readonly pool: AdapterPool,
    readonly lora: MultiTenantLora,
    readonly residency: TaskResidency,
    readonly kv: KvPool,
    readonly plotCache: PlotCache,
    readonly assembler: PlotAssembler,
  ) {
    void ctx.lost.then(() => {
      this.lostFlag = true;
    });
  }



  /**
   * Phase 2 of a step's PLOT rows: gathers their prepared entries into the split state, then
   * runs only the upper layers (appending their keys/values to the pool) and returns each
   * entry's next-token logits. Releases `prepared` in every case.
   */
  async stepPlot(entries: readonly StepEntry[], prepared: PreparedBatch): Promise<Float32Array> {
    let hidden: GPUBuffer;
    try {
      const bytes = prepared.rows * this.spec.config.hiddenSize * 4;
      if (!this.plotHidden || this.plotHidden.size < bytes) {
        this.plotHidden?.destroy();
        this.plotHidden = null;
        this.plotHidden = await allocBuffer(this.ctx, Math.max(bytes, 64 * 1024), 'plot-hidden');
      }
      hidden = this.plotHidden;
      submitPass(this.ctx, (pass) => this.assembler.encode(pass, prepared, hidden));
    } finally {
      this.assembler.release(prepared);
    }
    return this.model.stepUpper(this.kv, entries, this.spec.split, hidden, this.lora);
  }

  static async create(spec: GenerationEngineSpec): Promise<GenerationEngine> {
    const ctx = await createGpuContext(spec.gpu, { label: 'hmi-generation' });
    try {
      const c = spec.config;
      const base = await BaseWeights.upload(ctx, spec.weights);
      const model = await Gpt2Model.create(ctx, c, base, { maxTokens: spec.tokenBudget, maxSeqs: spec.maxActive, autotune: spec.autotune ?? true });
      const windowModel = await Gpt2Model.create(ctx, c, base, { maxTokens: 3 * WINDOW_CHUNK, maxSeqs: WINDOW_CHUNK, autotune: false });
      const windows = new LowerWindows(ctx, c, spec.domains, {
        pack: (seqs) => windowModel.pack(seqs),
        runLower: (batch, l) => windowModel.runLower(batch, spec.split, l ? { lora: l } : {}),
        dispose: () => windowModel.dispose(),
      });
      const pool = await AdapterPool.create(ctx, { pageFloats: c.hiddenSize, ...(spec.poolBytes !== undefined ? { budgetBytes: spec.poolBytes } : {}) });
      // Every layer: tenants without a domain share the pool; domain tenants' sequences leave layers below the split unwritten.
      const kv = await KvPool.create(ctx, {
        numLayers: c.numLayers,
        hiddenSize: c.hiddenSize,
        ...(spec.kvBlockTokens !== undefined ? { blockTokens: spec.kvBlockTokens } : {}),
        budgetBytes: spec.kvBytes ?? defaultKvBytes(ctx.limits),
      });
      const lora = new MultiTenantLora(ctx, pool);
      const residency = new TaskResidency(spec.store, pool, spec.metrics, spec.registration, spec.storeWaitMs);
      const plotCache = await PlotCache.create(ctx, { slots: spec.plotCacheSlots, width: c.hiddenSize });
      const assembler = new PlotAssembler(ctx, {
        domain: spec.domains().knowledge,
        cache: plotCache,
        model: { family: 'gpt2', eosTokenId: c.eosTokenId },
      });
      return new GenerationEngine(ctx, spec, base, model, windows, pool, lora, residency, kv, plotCache, assembler);
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
    this.plotHidden?.destroy();
    this.plotCache.destroy();
    this.windows.dispose();
    this.kv.dispose();
    this.lora.destroy();
    this.pool.destroy();
    this.model.dispose();
    this.base.dispose();
    this.ctx.destroy();
  }
}
