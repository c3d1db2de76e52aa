import { AdapterLimitError, DeviceLostError, WebGpuUnavailableError } from '../errors.js';
import { PipelineCache } from './pipelines.js';
import { UniformArena } from './uniforms.js';

/** Limits below which the runtime refuses to start, with the reason each matters. */
export const REQUIRED_LIMITS = {
  // Base-model weight matrices and the adapter pool live in single bindings.
  maxStorageBufferBindingSize: 128 * 1024 * 1024,
  maxBufferSize: 128 * 1024 * 1024,
  // Segmented LoRA binds x, y, A-pool, B-pool, page table, segments, ranks.
  maxStorageBuffersPerShaderStage: 8,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupStorageSize: 16384,
} as const satisfies Partial<Record<keyof GPUSupportedLimits, number>>;

export type RequiredLimit = keyof typeof REQUIRED_LIMITS;

/** The limits `capLimits` may lower. */
export type CappedLimit = 'maxStorageBufferBindingSize' | 'maxBufferSize';

/** Bytes one storage binding of a weight may span on this device. */
export function maxBindingBytes(limits: Pick<GPUSupportedLimits, CappedLimit>): number {
  return Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
}

/** The device's limits seen through the caps (a view, so a getter-backed native object keeps working). */
function cappedLimits(limits: GPUSupportedLimits, caps: Partial<Record<CappedLimit, number>>): GPUSupportedLimits {
  if (Object.keys(caps).length === 0) return limits;
  return new Proxy(limits, {
    get(target, key) {
      const v: unknown = Reflect.get(target, key, target);
      const cap = typeof key === 'string' ? caps[key as CappedLimit] : undefined;
      return cap !== undefined && typeof v === 'number' ? Math.min(v, cap) : v;
    },
  });
}

export interface GpuFeatures {
  timestampQuery: boolean;
  subgroups: boolean;
  shaderF16: boolean;
}

export interface GpuContextOptions {
  powerPreference?: GPUPowerPreference;
  /** Extra minimums on top of REQUIRED_LIMITS (e.g. a larger pool binding). */
  limits?: Partial<Record<RequiredLimit, number>>;
  /**
   * Upper bounds on buffer limits, to emulate a smaller device (tests, users targeting phones).
   * They are requested from the adapter, and because WebGPU raises a request below its
   * default to the default, `GpuContext.limits` reports the capped values too, so everything
   * sized from the limits (weight shards, pools) obeys them. May go below REQUIRED_LIMITS.
   */
  capLimits?: Partial<Record<CappedLimit, number>>;
  label?: string;
}

/**
 * One GPU device plus what every kernel needs next to it. The runtime is handed a `GPU`
 * (navigator.gpu in a page or worker, `create([])` from the `webgpu` package in Node), so
 * the same code is tested in both worlds.
 */
export class GpuContext {
  readonly pipelines: PipelineCache;
  readonly uniforms: UniformArena;
  /** Resolves when the device is lost; carries a DeviceLostError. */
  readonly lost: Promise<DeviceLostError>;
  private destroyed = false;

  constructor(
    /** Kept so a lost device can be recreated, and so Dawn's instance is never collected while in use. */
    readonly gpu: GPU,
    readonly device: GPUDevice,
    readonly adapterInfo: { vendor: string; architecture: string; device: string; description: string },
    readonly features: GpuFeatures,
    private readonly caps: Partial<Record<CappedLimit, number>> = {},
  ) {
    this.pipelines = new PipelineCache(device);
    this.uniforms = new UniformArena(device);
    this.lost = device.lost.then((info) => new DeviceLostError(info.reason ?? 'unknown', info.message));
  }

  /** The device's limits, lowered by the context's `capLimits`. */
  get limits(): GPUSupportedLimits {
    return cappedLimits(this.device.limits, this.caps);
  }

  /** A stable key for caches that depend on the hardware (autotune results). */
  get deviceKey(): string {
    const i = this.adapterInfo;
    return [i.vendor, i.architecture, i.device, i.description].join('|') || 'unknown-adapter';
  }

  /** Every submit goes through here so the uniform arena knows its slots may be reused. */
  submit(commandBuffers: GPUCommandBuffer[]): void {
    this.device.queue.submit(commandBuffers);
    this.uniforms.reset();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.uniforms.destroy();
    this.device.destroy();
  }
}

export async function createGpuContext(gpu: GPU | undefined | null, options: GpuContextOptions = {}): Promise<GpuContext> {
  if (!gpu) {
    throw new WebGpuUnavailableError(
      'WebGPU is not available: navigator.gpu is missing. Use a browser with WebGPU (Chrome/Edge 113+, served over https or localhost), or pass the GPU object of the `webgpu` package in Node.',
    );
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  } catch (cause) {
    throw new WebGpuUnavailableError(`requestAdapter() failed: ${String(cause)}`, { cause });
  }
  if (!adapter) {
    throw new WebGpuUnavailableError(
      'WebGPU is present but no GPU adapter was found. In Chromium without a GPU, start it with --enable-unsafe-webgpu --enable-unsafe-swiftshader.',
    );
  }

  const requiredLimits: Record<string, number> = {};
  for (const [name, min] of Object.entries({ ...REQUIRED_LIMITS, ...options.limits }) as [RequiredLimit, number][]) {
    const available = adapter.limits[name];
    if (available < min) throw new AdapterLimitError(name, min, available);
    // Ask for everything the adapter has: pools and weights are sized from device.limits later.
    requiredLimits[name] = available;
  }
  const caps: Partial<Record<CappedLimit, number>> = {};
  for (const [name, cap] of Object.entries(options.capLimits ?? {}) as [CappedLimit, number][]) {
    if (!Number.isInteger(cap) || cap < 4) throw new AdapterLimitError(name, 4, cap);
    caps[name] = Math.min(cap, adapter.limits[name]);
    requiredLimits[name] = caps[name];
  }

  const wanted: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) wanted.push('timestamp-query');
  if (adapter.features.has('shader-f16')) wanted.push('shader-f16');
  if (adapter.features.has('subgroups')) wanted.push('subgroups' as GPUFeatureName);

  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures: wanted, label: options.label ?? 'hmi' });
  } catch (cause) {
    throw new WebGpuUnavailableError(`requestDevice() failed: ${String(cause)}`, { cause });
  }
  const info = adapter.info ?? { vendor: '', architecture: '', device: '', description: '' };
  return new GpuContext(
    gpu,
    device,
    { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
    {
      timestampQuery: device.features.has('timestamp-query'),
      shaderF16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
    },
    caps,
  );
}
