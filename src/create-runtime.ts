import type { HmiRuntimeApi, RuntimeOptions } from './runtime/api.js';
import { createLocalRuntime } from './runtime/runtime.js';
import { pickRemoteOptions } from './worker/protocol.js';

/**
 * Creates a runtime: in this thread, or with `worker: true` in a module Worker behind the same
 * API (browser only). It sits above both, so neither the runtime nor the worker imports the other.
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<HmiRuntimeApi> {
  if (!options.worker) return createLocalRuntime(options);
  const { createWorkerRuntime } = await import('./worker/client.js');
  return createWorkerRuntime({ ...pickRemoteOptions(options), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
}
