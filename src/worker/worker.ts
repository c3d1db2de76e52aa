// Entry of the runtime's module Worker: the whole runtime (scheduler, GPU, IndexedDB) lives here.
import { createRuntime } from '../runtime/runtime.js';
import { exposeRuntime } from './host.js';

exposeRuntime((options, onProgress) => createRuntime({ ...options, worker: false, onProgress }));
