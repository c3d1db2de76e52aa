// Entry of the runtime's module Worker: the whole runtime (scheduler, GPU, IndexedDB) lives here.
import { createLocalRuntime } from '../runtime/runtime.js';
import { exposeRuntime } from './host.js';

exposeRuntime((options, onProgress) => createLocalRuntime({ ...options, ...(onProgress ? { onProgress } : {}) }));
