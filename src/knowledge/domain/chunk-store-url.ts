/**
 * A PLOT directory (as DirChunkStore and `hmi plot build` write it) served over HTTP: the app's
 * shipped PLOT, read-only. Each record is one fetch of its file; `list` reads the directory's
 * listing (CHUNK_LISTING), since a static server cannot list a directory.
 */
import { CHUNK_LISTING, chunkFileName, parseChunkListing, type ChunkStore } from './chunk-store.js';
import { PlotStoreError } from './errors.js';

/** HTTP statuses that mean "no such record" rather than a failure. */
const ABSENT = new Set([404, 410]);

export class UrlChunkStore implements ChunkStore {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {
    this.baseUrl = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  }

  /**
   * The URL of a record's file. The file name is already percent-encoded (chunkFileName), and
   * a server decodes a URL path once, so the name is encoded again: "plot%2Fgeneral%2Findex"
   * is fetched as "plot%252Fgeneral%252Findex".
   */
  urlOf(name: string): string {
    return this.baseUrl + encodeURIComponent(chunkFileName(name));
  }

  /**
   * The response for a file, or undefined when the server says it does not exist. Single-page
   * app servers (Vite's dev server among them) answer a missing file with the app's HTML and
   * status 200 when the request accepts HTML: the Accept header asks for bytes only, and an
   * HTML answer still counts as absent, since no PLOT record or listing is HTML.
   */
  private async fetchFile(url: string, what: string, accept: string): Promise<Response | undefined> {
    let res: Response;
    try {
      res = await this.fetchImpl(url, { headers: { Accept: accept } });
    } catch (e) {
      throw new PlotStoreError(`PLOT ${what} ${url}: network error: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (ABSENT.has(res.status) || (res.ok && /^text\/html\b/i.test(res.headers.get('content-type') ?? ''))) return undefined;
    if (!res.ok) throw new PlotStoreError(`PLOT ${what} ${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    return res;
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    const url = this.urlOf(name);
    const res = await this.fetchFile(url, 'record', 'application/octet-stream');
    if (!res) return undefined;
    try {
      return new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw new PlotStoreError(`PLOT record ${url}: download interrupted: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  async set(name: string, _bytes: Uint8Array): Promise<void> {
    throw new PlotStoreError(`PLOT at ${this.baseUrl} is read-only (writing ${name})`);
  }

  async delete(name: string): Promise<void> {
    throw new PlotStoreError(`PLOT at ${this.baseUrl} is read-only (deleting ${name})`);
  }

  /** Names in the listing starting with `prefix`; a directory without a listing lists nothing (reads still work). */
  async list(prefix: string): Promise<string[]> {
    const url = this.baseUrl + CHUNK_LISTING;
    const res = await this.fetchFile(url, 'listing', 'application/json');
    if (!res) return [];
    return parseChunkListing(await res.text(), url).filter((n) => n.startsWith(prefix));
  }
}
