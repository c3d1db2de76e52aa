import { createStore, clear } from 'idb-keyval';
import { IdbTenantStore } from '../../src/knowledge/task/store-idb.js';
import type { BenchEnv, ScratchStore } from './env.js';

/** A page in Chromium: navigator.gpu, the model served by Vite from public/, adapters cold in IndexedDB. */
export function browserEnv(log: (message: string) => void): BenchEnv {
  return {
    where: 'chromium',
    cpus: navigator.hardwareConcurrency ?? null,
    platform: navigator.userAgent,
    async gpu(): Promise<GPU> {
      if (!navigator.gpu) throw new Error('navigator.gpu is missing: WebGPU is not enabled in this browser');
      return navigator.gpu;
    },
    bertModel: new URL('/models/hbert-mini/', location.href).href,
    gptModel: new URL('/models/hgpt-mini/', location.href).href,
    async scratchStore(name: string): Promise<ScratchStore> {
      const db = `hmi-bench-${name}-${Date.now()}`;
      const idb = createStore(db, 'tenants');
      return {
        store: new IdbTenantStore({ store: idb }),
        kind: 'indexeddb',
        async dispose() {
          await clear(idb);
          await new Promise<void>((resolve) => {
            const req = indexedDB.deleteDatabase(db);
            req.onsuccess = req.onerror = req.onblocked = () => resolve();
          });
        },
      };
    },
    log,
  };
}
