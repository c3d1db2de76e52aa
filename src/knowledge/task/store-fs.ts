/**
 * TenantStore on a directory (Node: the CLI, servers, tests). Per tenant, "<name>.json" holds
 * the metadata and "<name>.<crc>.bin" the payload, name = base64url of the id. Each file is
 * written to a temporary name and renamed; the metadata is renamed last and is the commit
 * point, so a crash leaves either the old record or the new one, never half of one.
 * node:fs is imported on first use (here and in util/atomic-file.ts) so browser bundles never pull it in.
 */
import type { ProgressCallback } from '../../util/progress.js';
import { verifyRecord, type TenantMeta, type TenantRecord } from './pack.js';
import { CorruptTenantRecordError, TenantStoreError } from './errors.js';
import { STORE_PROGRESS_PHASE, readError, writeError, type TenantStore } from './store.js';
import { writeFileAtomic } from '../../util/atomic-file.js';

type Fs = typeof import('node:fs/promises');

let fsModule: Promise<Fs> | undefined;
const nodeFs = (): Promise<Fs> => (fsModule ??= import('node:fs/promises'));

// Leaves room for ".<crc>.bin" and the temporary suffix under the usual 255-byte name limit.
const MAX_NAME = 200;
const READ_CONCURRENCY = 16;

function fileName(id: string): string {
  const bytes = new TextEncoder().encode(id);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  const name = btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  if (name.length === 0 || name.length > MAX_NAME) throw new TenantStoreError(`tenant id "${id.slice(0, 40)}" is empty or too long for a file store`);
  return name;
}

const payloadName = (name: string, checksum: number): string => `${name}.${checksum.toString(16).padStart(8, '0')}.bin`;

function toArrayBuffer(buf: Uint8Array): ArrayBuffer {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

const isMissing = (e: unknown): boolean => typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ENOENT';

export interface FsTenantStoreOptions {
  /** fsync each file before renaming it, and the directory after: survives power loss, not only process crashes. Default true. */
  readonly fsync?: boolean;
}

export class FsTenantStore implements TenantStore {
  private readonly fsync: boolean;

  constructor(
    readonly dir: string,
    options: FsTenantStoreOptions = {},
  ) {
    this.fsync = options.fsync ?? true;
  }

  private path(file: string): string {
    return `${this.dir}/${file}`;
  }

  private async readMeta(fs: Fs, name: string): Promise<TenantMeta | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.path(`${name}.json`), 'utf8');
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
    return JSON.parse(text) as TenantMeta;
  }

  async put(records: readonly TenantRecord[], onProgress?: ProgressCallback): Promise<void> {
    let done = 0;
    try {
      const fs = await nodeFs();
      await fs.mkdir(this.dir, { recursive: true });
      for (const r of records) {
        const name = fileName(r.meta.id);
        const old = await this.readMeta(fs, name).catch(() => undefined);
        const pname = payloadName(name, r.meta.checksum);
        await writeFileAtomic(this.path(pname), new Uint8Array(r.payload), { fsync: this.fsync });
        await writeFileAtomic(this.path(`${name}.json`), JSON.stringify(r.meta), { fsync: this.fsync });
        if (old && payloadName(name, old.checksum) !== pname) await fs.rm(this.path(payloadName(name, old.checksum)), { force: true });
        done++;
        onProgress?.({ phase: STORE_PROGRESS_PHASE, done, total: records.length });
      }
    } catch (e) {
      throw writeError(e, done, records.length);
    }
  }

  async get(id: string): Promise<TenantRecord | undefined> {
    const name = fileName(id);
    const fs = await nodeFs();
    let record: TenantRecord;
    try {
      let meta: TenantMeta | undefined;
      try {
        meta = await this.readMeta(fs, name);
      } catch (e) {
        if (e instanceof SyntaxError) throw new CorruptTenantRecordError(id, 'metadata is not JSON');
        throw e;
      }
      if (!meta) return undefined;
      let payload: ArrayBuffer;
      try {
        payload = toArrayBuffer(await fs.readFile(this.path(payloadName(name, meta.checksum))));
      } catch (e) {
        if (isMissing(e)) throw new CorruptTenantRecordError(id, 'payload file is missing');
        throw e;
      }
      record = { meta, payload };
    } catch (e) {
      throw readError(e, `reading tenant ${id}`);
    }
    verifyRecord(record);
    return record;
  }

  async getMany(ids: readonly string[]): Promise<(TenantRecord | undefined)[]> {
    return mapLimited(ids, READ_CONCURRENCY, (id) => this.get(id));
  }

  async delete(id: string): Promise<void> {
    const name = fileName(id);
    try {
      const fs = await nodeFs();
      const meta = await this.readMeta(fs, name).catch(() => undefined);
      // Metadata first: without it the record no longer exists, whatever happens next.
      await fs.rm(this.path(`${name}.json`), { force: true });
      if (meta) await fs.rm(this.path(payloadName(name, meta.checksum)), { force: true });
    } catch (e) {
      throw readError(e, `deleting tenant ${id}`);
    }
  }

  private async metaFiles(fs: Fs): Promise<string[]> {
    try {
      return (await fs.readdir(this.dir)).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
    } catch (e) {
      if (isMissing(e)) return [];
      throw e;
    }
  }

  async list(): Promise<TenantMeta[]> {
    try {
      const fs = await nodeFs();
      const files = await this.metaFiles(fs);
      return await mapLimited(files, READ_CONCURRENCY, async (f) => JSON.parse(await fs.readFile(this.path(f), 'utf8')) as TenantMeta);
    } catch (e) {
      throw readError(e, 'listing tenants');
    }
  }

  async count(): Promise<number> {
    try {
      return (await this.metaFiles(await nodeFs())).length;
    } catch (e) {
      throw readError(e, 'counting tenants');
    }
  }

  async clear(): Promise<void> {
    try {
      const fs = await nodeFs();
      let files: string[];
      try {
        files = await fs.readdir(this.dir);
      } catch (e) {
        if (isMissing(e)) return;
        throw e;
      }
      const ours = files.filter((f) => /\.(json|bin|tmp)$/.test(f));
      // Metadata first, so an interrupted clear leaves no record pointing at a deleted payload.
      for (const f of ours.filter((f) => f.endsWith('.json'))) await fs.rm(this.path(f), { force: true });
      for (const f of ours.filter((f) => !f.endsWith('.json'))) await fs.rm(this.path(f), { force: true });
    } catch (e) {
      throw readError(e, 'clearing the tenant store');
    }
  }
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
