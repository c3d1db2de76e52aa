import { createGpuContext, type GpuContext } from '../gpu/device.js';
import type { ModelConfig } from '../formats/model-config.js';
import type { TensorMap } from '../formats/types.js';
import type { ProgressCallback } from '../util/progress.js';
import { BaseWeights, type WeightsDtype } from '../knowledge/general/base-weights.js';
import { PlotAssembler, type AssemblerOptions } from '../knowledge/domain/assembler.js';
import { PlotCache } from '../knowledge/domain/plot-cache.js';
import { AdapterPool } from '../knowledge/task/pool.js';
import { MultiTenantLora } from '../knowledge/task/multi-lora.js';
import type { TenantStore } from '../knowledge/task/store.js';
import type { RuntimeDomains } from './domains.js';
import { LowerWindows, type LowerModel } from './lower-windows.js';
import type { Metrics } from './metrics.js';
import type { Registrations } from './tenant-registry.js';
import { TaskResidency } from './task-residency.js';

/** What every engine of a runtime is built from; kept, so a lost device can be replaced. */
export interface EngineSpec<C extends ModelConfig = ModelConfig> {
  readonly gpu: GPU;
  readonly config: C;
  /** Host copy of the base weights, kept so a lost device can be re-uploaded. */
  readonly weights: TensorMap;
  readonly store: TenantStore;
  readonly registrations: Registrations;
  readonly poolBytes?: number;
  /** Tokens of one batch (or step) the workspace is sized for up front. */
  readonly tokenBudget: number;
  readonly metrics: Metrics;
  /** How long a batch waits on a store read before deferring that tenant's requests. */
  readonly storeWaitMs?: number;
  readonly now: () => number;
  /** hPLM split: domain tenants' rows run layers below it from PLOT. */
  readonly split: number;
  readonly domains: RuntimeDomains;
  /** GPU cache slots for PLOT entries; at least a batch's distinct tri-grams. */
  readonly plotCacheSlots: number;
  /** Time the matmul variants when the model is created. Default true. */
  readonly autotune?: boolean;
  /** How the base matrices are held on the GPU (see RuntimeOptions.weightsDtype). Default 'auto'. */
  readonly weightsDtype?: WeightsDtype;
  /** Caps the device's buffer and binding limits (RuntimeOptions.maxBufferBytes). */
  readonly maxBufferBytes?: number;
  /** Progress of the load's long parts (the autotune). */
  readonly onProgress?: ProgressCallback;
}

/** The shared device-bound core a task head builds its own part on. */
export interface EngineCore {
  readonly ctx: GpuContext;
  readonly base: BaseWeights;
  readonly pool: AdapterPool;
  readonly lora: MultiTenantLora;
  readonly assembler: PlotAssembler;
}

/** A task head's device-bound part: its serving model(s) and buffers. */
export interface HeadParts {
  /** The lower layers on a workspace of their own, for PLOT misses and builds. */
  readonly lower: LowerModel;
  dispose(): void;
}

/** How a model family puts its head on a device. */
export interface HeadBuilder<C extends ModelConfig, P extends HeadParts> {
  /** What the PLOT assembler needs of the model: phase 1's combine and its output width. */
  plotModel(spec: EngineSpec<C>, base: BaseWeights): { readonly model: AssemblerOptions['model']; readonly width: number };
  build(core: EngineCore, spec: EngineSpec<C>): Promise<P>;
}

/**
 * Everything bound to one GPUDevice: the shared base weights (general knowledge), the adapter
 * pool and the batched LoRA (task knowledge), the PLOT cache and assembler (domain knowledge),
 * the lower-layer windows, and the task head's own part (`head`). When the device is lost the
 * runtime throws the engine away and builds a new one from the same spec; tenants come back
 * into the pool from the store on their next batch.
 */
export class Engine<P extends HeadParts = HeadParts> implements EngineCore {
  private lostFlag = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly base: BaseWeights,
    readonly pool: AdapterPool,
    readonly lora: MultiTenantLora,
    readonly residency: TaskResidency,
    readonly plotCache: PlotCache,
    readonly assembler: PlotAssembler,
    readonly windows: LowerWindows,
    readonly head: P,
  ) {
    void ctx.lost.then(() => {
      this.lostFlag = true;
    });
  }

  static async create<C extends ModelConfig, P extends HeadParts>(spec: EngineSpec<C>, builder: HeadBuilder<C, P>): Promise<Engine<P>> {
    const ctx = await createGpuContext(spec.gpu, {
      label: `hmi-${spec.config.family}`,
      ...(spec.maxBufferBytes !== undefined ? { capLimits: { maxStorageBufferBindingSize: spec.maxBufferBytes, maxBufferSize: spec.maxBufferBytes } } : {}),
    });
    try {
      const base = await BaseWeights.upload(ctx, spec.weights, 'base', { dtype: spec.weightsDtype ?? 'auto' });
      const pool = await AdapterPool.create(ctx, {
        pageFloats: spec.config.hiddenSize,
        ...(spec.poolBytes !== undefined ? { budgetBytes: spec.poolBytes } : {}),
      });
      const lora = new MultiTenantLora(ctx, pool);
      const residency = new TaskResidency(spec.store, pool, spec.metrics, spec.registrations, spec.storeWaitMs);
      const plot = builder.plotModel(spec, base);
      const plotCache = await PlotCache.create(ctx, { slots: spec.plotCacheSlots, width: plot.width });
      const assembler = new PlotAssembler(ctx, { domain: spec.domains.knowledge, cache: plotCache, model: plot.model });
      const head = await builder.build({ ctx, base, pool, lora, assembler }, spec);
      const windows = new LowerWindows(ctx, spec.config, spec.domains, head.lower);
      return new Engine(ctx, base, pool, lora, residency, plotCache, assembler, windows, head);
    } catch (e) {
      ctx.destroy();
      throw e;
    }
  }

  /** True once the device is lost (or destroyed under us). */
  get lost(): boolean {
    return this.lostFlag;
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
    this.head.dispose();
    this.lora.destroy();
    this.pool.destroy();
    this.base.dispose();
    this.ctx.destroy();
  }
}
