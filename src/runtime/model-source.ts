import { directorySource, urlSource, type ModelSource } from '../formats/model-source.js';
import type { ProgressCallback } from '../util/progress.js';

/** The embedded default model: trained by training/ (npm run train), committed in public/models/. */
export const DEFAULT_MODEL_PATH = 'models/hbert-mini/';

const isUrl = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);
const inBrowser = (): boolean => typeof (globalThis as { document?: unknown }).document !== 'undefined' || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';

/**
 * Where a location option points: URLs (and, in a page or worker, paths relative to it) are
 * fetched; in Node any other string is a directory. Model, PLOT source and bundle options alike.
 */
export function resolveLocation(where: string): { readonly url: string } | { readonly dir: string } {
  if (isUrl(where)) return { url: where };
  if (inBrowser()) return { url: new URL(where, (globalThis as { location?: { href: string } }).location?.href).href };
  return { dir: where };
}

/** A model option as a source (see resolveLocation); a URL's download reports its bytes to `onProgress`. */
export function resolveModelSource(model: string | ModelSource | undefined, onProgress?: ProgressCallback): ModelSource {
  if (model && typeof model !== 'string') return model;
  const where = resolveLocation(model ?? (inBrowser() ? `/${DEFAULT_MODEL_PATH}` : `public/${DEFAULT_MODEL_PATH}`));
  return 'url' in where ? urlSource(where.url, undefined, onProgress ? { onProgress } : {}) : directorySource(where.dir);
}
