import type { TenantStore } from '../../src/knowledge/task/store.js';

/** A store that starts empty and is thrown away after the run. */
export interface ScratchStore {
  readonly store: TenantStore;
  /** "fs" (a temp directory) in Node, "indexeddb" in a page. */
  readonly kind: string;
  dispose(): Promise<void>;
}

/** What differs between Node (Dawn) and a page (Chromium): the scenarios see only this. */
export interface BenchEnv {
  /** "node" or "chromium". */
  readonly where: string;
  /** CPU cores and OS, for the record. */
  readonly cpus: number | null;
  readonly platform: string;
  gpu(): Promise<GPU>;
  /** The hBERT model: a directory in Node, a URL in a page. */
  readonly bertModel: string;
  /** The hGPT model, same conventions. */
  readonly gptModel: string;
  /** Persistent store of the platform (fs directory / IndexedDB), empty, for cold-adapter runs. */
  scratchStore(name: string): Promise<ScratchStore>;
  log(message: string): void;
}
