import { SHADER_STAGE_COMPUTE } from './flags.js';
import { GpuValidationError } from '../errors.js';

/** How a kernel sees each binding of group 0, in binding-index order. */
export type BindingKind = 'uniform' | 'read' | 'storage';

/** A compute kernel: one WGSL file, one entry point, an explicit binding layout. */
export interface KernelSpec {
  /** Unique id; with the constants it keys the pipeline cache. */
  readonly name: string;
  readonly code: string;
  readonly entryPoint?: string;
  readonly bindings: readonly BindingKind[];
}

/**
 * A kernel's WGSL source with its shared preludes (shaders/*_prelude.wgsl, the matmul
 * epilogue) in front. WGSL resolves module-scope names in any order, so a prelude may call a
 * function the kernel defines (e.g. an attention core calling its key resolver) and the
 * reverse; composing in TypeScript keeps the ?raw imports working alike under Vite, Vitest
 * and bin/wgsl-hook.mjs.
 */
export function composeWgsl(...parts: readonly string[]): string {
  return parts.join('\n');
}

export type OverrideConstants = Readonly<Record<string, number>>;

export interface CachedPipeline {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

const BUFFER_TYPE: Record<BindingKind, GPUBufferBindingType> = {
  uniform: 'uniform',
  read: 'read-only-storage',
  storage: 'storage',
};

/**
 * Pipelines keyed by kernel name + override constants (as tfjs-backend-webgpu keys programs
 * by shader key): a kernel compiles once per specialization per device. Layouts are explicit
 * rather than 'auto' so a binding a specialization happens not to use never breaks binding.
 */
export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly pipelines = new Map<string, CachedPipeline>();
  private readonly pending = new Map<string, Promise<CachedPipeline>>();

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  static key(spec: KernelSpec, constants?: OverrideConstants): string {
    if (!constants) return spec.name;
    const parts = Object.keys(constants)
      .sort()
      .map((k) => `${k}=${constants[k]}`);
    return `${spec.name}|${parts.join(',')}`;
  }

  /** Synchronous get-or-create; compilation errors surface through the device's error scopes. */
  get(spec: KernelSpec, constants?: OverrideConstants): CachedPipeline {
    const key = PipelineCache.key(spec, constants);
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const layout = this.layoutFor(spec);
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: this.moduleFor(spec), entryPoint: spec.entryPoint ?? 'main', constants: constants ?? {} },
    });
    const entry = { pipeline, layout };
    this.pipelines.set(key, entry);
    return entry;
  }

  /** Compiles off the critical path and reports shader errors as a GpuValidationError. */
  async warm(spec: KernelSpec, constants?: OverrideConstants): Promise<CachedPipeline> {
    const key = PipelineCache.key(spec, constants);
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    let p = this.pending.get(key);
    if (!p) {
      const layout = this.layoutFor(spec);
      p = this.device
        .createComputePipelineAsync({
          label: key,
          layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
          compute: { module: this.moduleFor(spec), entryPoint: spec.entryPoint ?? 'main', constants: constants ?? {} },
        })
        .then(
          (pipeline) => {
            const entry = { pipeline, layout };
            this.pipelines.set(key, entry);
            this.pending.delete(key);
            return entry;
          },
          (cause: unknown) => {
            this.pending.delete(key);
            throw new GpuValidationError(`pipeline ${key} failed to compile: ${String(cause)}`);
          },
        );
      this.pending.set(key, p);
    }
    return p;
  }

  private moduleFor(spec: KernelSpec): GPUShaderModule {
    let m = this.modules.get(spec.name);
    if (!m) {
      m = this.device.createShaderModule({ label: spec.name, code: spec.code });
      this.modules.set(spec.name, m);
    }
    return m;
  }

  private layoutFor(spec: KernelSpec): GPUBindGroupLayout {
    let l = this.layouts.get(spec.name);
    if (!l) {
      l = this.device.createBindGroupLayout({
        label: spec.name,
        entries: spec.bindings.map((kind, binding) => ({
          binding,
          visibility: SHADER_STAGE_COMPUTE,
          buffer: { type: BUFFER_TYPE[kind] },
        })),
      });
      this.layouts.set(spec.name, l);
    }
    return l;
  }
}
