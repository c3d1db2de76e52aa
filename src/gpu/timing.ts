import { MAP_READ, Usage } from './flags.js';
import type { GpuContext } from './device.js';

export interface GpuTiming {
  /** Median milliseconds per run. */
  ms: number;
  /** 'timestamp' when measured with timestamp-query on the GPU timeline, else 'wall'. */
  source: 'timestamp' | 'wall';
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * Times `encode` (dispatches into one compute pass) over `runs` submits after one warm-up.
 * Uses timestamp-query where the device has it; SwiftShader's timestamps are real, but a
 * device may quantize them, so very short passes fall back to wall-clock time.
 */
export async function timeGpu(ctx: GpuContext, encode: (pass: GPUComputePassEncoder) => void, runs = 3): Promise<GpuTiming> {
  const { device } = ctx;
  const once = async (timestampWrites?: GPUComputePassTimestampWrites): Promise<number> => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass(timestampWrites ? { timestampWrites } : undefined);
    encode(pass);
    pass.end();
    const t0 = now();
    ctx.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return now() - t0;
  };
  await once();

  const samples: number[] = [];
  let source: GpuTiming['source'] = 'wall';
  if (ctx.features.timestampQuery) {
    const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = device.createBuffer({ size: 16, usage: Usage.QUERY_RESOLVE | Usage.COPY_SRC });
    const read = device.createBuffer({ size: 16, usage: Usage.COPY_DST | Usage.MAP_READ });
    try {
      for (let i = 0; i < runs; i++) {
        const wall = await once({ querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 });
        const enc = device.createCommandEncoder();
        enc.resolveQuerySet(querySet, 0, 2, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
        ctx.submit([enc.finish()]);
        await read.mapAsync(MAP_READ);
        const [t0, t1] = new BigUint64Array(read.getMappedRange());
        read.unmap();
        const gpuMs = Number(t1 - t0) / 1e6;
        if (gpuMs > 0 && gpuMs <= wall * 1.5) {
          samples.push(gpuMs);
          source = 'timestamp';
        } else {
          samples.push(wall);
        }
      }
    } finally {
      querySet.destroy();
      resolve.destroy();
      read.destroy();
    }
  } else {
    for (let i = 0; i < runs; i++) samples.push(await once());
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[Math.floor(samples.length / 2)], source };
}
