/**
 * Counts live GPU buffers of every device created through a wrapped `GPU`, by wrapping
 * device.createBuffer and each buffer's destroy(). A buffer counts as live until destroy()
 * is called on it explicitly: device.destroy() does not count, so "dispose destroyed every
 * buffer it created" can be checked, and "no memory growth" is a live count back at baseline.
 */

export interface LiveBuffer {
  readonly label: string;
  readonly size: number;
}

export interface GpuTracker {
  /** Pass this as the runtime's `gpu`. */
  readonly gpu: GPU;
  /** Buffers created and not yet destroyed, over every tracked device. */
  live(): number;
  /** Bytes of those buffers. */
  liveBytes(): number;
  liveBuffers(): LiveBuffer[];
  /** Buffers created so far. */
  created(): number;
}

function trackDevice(device: GPUDevice, live: Set<GPUBuffer>, counter: { created: number }): GPUDevice {
  const create = device.createBuffer.bind(device);
  Object.defineProperty(device, 'createBuffer', {
    configurable: true,
    value: (descriptor: GPUBufferDescriptor): GPUBuffer => {
      const buffer = create(descriptor);
      counter.created++;
      live.add(buffer);
      const destroy = buffer.destroy.bind(buffer);
      Object.defineProperty(buffer, 'destroy', {
        configurable: true,
        value: (): undefined => {
          live.delete(buffer);
          destroy();
          return undefined;
        },
      });
      return buffer;
    },
  });
  return device;
}

function trackAdapter(adapter: GPUAdapter, live: Set<GPUBuffer>, counter: { created: number }): GPUAdapter {
  const request = adapter.requestDevice.bind(adapter);
  Object.defineProperty(adapter, 'requestDevice', {
    configurable: true,
    value: async (descriptor?: GPUDeviceDescriptor): Promise<GPUDevice> => trackDevice(await request(descriptor), live, counter),
  });
  return adapter;
}

export function trackGpu(gpu: GPU): GpuTracker {
  const live = new Set<GPUBuffer>();
  const counter = { created: 0 };
  const wrapped = {
    requestAdapter: async (options?: GPURequestAdapterOptions): Promise<GPUAdapter | null> => {
      const adapter = await gpu.requestAdapter(options);
      return adapter ? trackAdapter(adapter, live, counter) : null;
    },
    getPreferredCanvasFormat: (): GPUTextureFormat => gpu.getPreferredCanvasFormat(),
    get wgslLanguageFeatures(): WGSLLanguageFeatures {
      return gpu.wgslLanguageFeatures;
    },
  };
  return {
    gpu: wrapped as unknown as GPU,
    live: () => live.size,
    liveBytes: () => [...live].reduce((n, b) => n + b.size, 0),
    liveBuffers: () => [...live].map((b) => ({ label: b.label, size: b.size })),
    created: () => counter.created,
  };
}
