/**
 * A tenant's adapter as one self-describing ArrayBuffer, plus the metadata kept next to it so
 * listing tenants never touches weights.
 *
 * Payload layout (little-endian):
 *   u32 magic "HMIT" | u32 format version | u32 dtype (0 f32, 1 f16) | u32 header bytes
 *   header: UTF-8 JSON { modules: [{path, r, inDim, outDim, scale}], head: [{name, shape}], labels }
 *   padded to 4 bytes, then per module A [r, in] and B [out, r], then head tensors in header
 *   order, each padded to 4 bytes. The CRC-32 of the whole payload is in the metadata.
 */
import type { HostTensor, LoraAdapter, LoraModule, TensorMap } from '../../formats/types.js';
import { f16BitsToF32, f32ToF16Bits } from '../../formats/f16.js';
import { crc32 } from './checksum.js';
import { CorruptTenantRecordError, InvalidAdapterError } from './errors.js';

export const RECORD_VERSION = 1;
const MAGIC = 0x54494d48; // "HMIT"

export type AdapterDtype = 'f32' | 'f16';

export interface ModuleMeta {
  readonly path: string;
  readonly r: number;
  readonly inDim: number;
  readonly outDim: number;
  readonly scale: number;
}

export interface TenantMeta {
  readonly id: string;
  readonly baseModelId: string;
  readonly baseModelHash: string;
  readonly domain: string;
  /** LoRA'd modules sorted by path, with their ranks and shapes. */
  readonly modules: readonly ModuleMeta[];
  readonly maxRank: number;
  /** Rows of classifier.weight; 0 without a classifier head. */
  readonly numLabels: number;
  readonly labels: readonly string[];
  /** Payload bytes. */
  readonly bytes: number;
  readonly dtype: AdapterDtype;
  /** CRC-32 of the payload. */
  readonly checksum: number;
  readonly version: number;
  /**
   * Optional, outside the payload and its checksum: records written before these fields
   * existed read as no description, not synthetic.
   */
  readonly description?: string;
  /** Registered with random weights (tenants.addSynthetic); absent = false. */
  readonly synthetic?: true;
}

export interface TenantRecord {
  readonly meta: TenantMeta;
  readonly payload: ArrayBuffer;
}

export interface PackOptions {
  readonly baseModelId: string;
  readonly baseModelHash: string;
  readonly domain: string;
  /** Storage precision; compute stays f32. f16 halves the bytes, values must fit f16. */
  readonly dtype?: AdapterDtype;
  readonly description?: string;
  readonly synthetic?: boolean;
}

interface Header {
  modules: ModuleMeta[];
  head: { name: string; shape: number[] }[];
  labels: string[];
}

const isDim = (n: number): boolean => Number.isInteger(n) && n > 0;

function checkFinite(id: string, what: string, data: Float32Array, f16: boolean): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) throw new InvalidAdapterError(id, `${what}[${i}] is ${v}`);
    if (f16 && Math.abs(v) > 65504) throw new InvalidAdapterError(id, `${what}[${i}] = ${v} does not fit f16 storage`);
  }
}

/**
 * Rejects what must never reach the GPU pool: non-finite weights (one NaN would poison every
 * row of its tenant's segments), shapes that disagree with the data, a head that is not
 * [numLabels, H] + [numLabels].
 */
export function validateAdapter(id: string, adapter: LoraAdapter, dtype: AdapterDtype = 'f32'): void {
  const f16 = dtype === 'f16';
  for (const [path, m] of adapter.modules) {
    if (!isDim(m.r) || !isDim(m.inDim) || !isDim(m.outDim)) {
      throw new InvalidAdapterError(id, `module ${path} has r=${m.r}, inDim=${m.inDim}, outDim=${m.outDim}`);
    }
    if (!Number.isFinite(m.scale)) throw new InvalidAdapterError(id, `module ${path} has scale ${m.scale}`);
    if (m.A.length !== m.r * m.inDim) throw new InvalidAdapterError(id, `${path} A has ${m.A.length} values, expected [${m.r}, ${m.inDim}]`);
    if (m.B.length !== m.outDim * m.r) throw new InvalidAdapterError(id, `${path} B has ${m.B.length} values, expected [${m.outDim}, ${m.r}]`);
    checkFinite(id, `${path}.A`, m.A, f16);
    checkFinite(id, `${path}.B`, m.B, f16);
  }
  for (const [name, t] of adapter.head) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every(isDim) || n !== t.data.length) {
      throw new InvalidAdapterError(id, `head tensor ${name} has shape [${t.shape.join(', ')}] but ${t.data.length} values`);
    }
    checkFinite(id, name, t.data, f16);
  }
  const w = adapter.head.get('classifier.weight');
  const b = adapter.head.get('classifier.bias');
  if (b && !w) throw new InvalidAdapterError(id, 'classifier.bias without classifier.weight');
  if (w) {
    if (w.shape.length !== 2) throw new InvalidAdapterError(id, `classifier.weight must be [numLabels, hidden], got [${w.shape.join(', ')}]`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== w.shape[0])) {
      throw new InvalidAdapterError(id, `classifier.bias must be [${w.shape[0]}], got [${b.shape.join(', ')}]`);
    }
    if (adapter.labels && adapter.labels.length !== w.shape[0]) {
      throw new InvalidAdapterError(id, `${adapter.labels.length} labels for a classifier of ${w.shape[0]} rows`);
    }
  }
}

const elemBytes = (dtype: AdapterDtype): number => (dtype === 'f16' ? 2 : 4);
const padded = (n: number): number => Math.ceil(n / 4) * 4;

function writeTensor(bytes: Uint8Array, offset: number, data: Float32Array, dtype: AdapterDtype): number {
  if (dtype === 'f32') {
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
  } else {
    for (let i = 0; i < data.length; i++) {
      const h = f32ToF16Bits(data[i]);
      bytes[offset + 2 * i] = h & 0xff;
      bytes[offset + 2 * i + 1] = h >>> 8;
    }
  }
  return offset + padded(data.length * elemBytes(dtype));
}

/** Validates and packs one tenant. Throws InvalidAdapterError before anything is written. */
export function packTenant(id: string, adapter: LoraAdapter, options: PackOptions): TenantRecord {
  const dtype = options.dtype ?? 'f32';
  validateAdapter(id, adapter, dtype);
  const paths = [...adapter.modules.keys()].sort();
  const modules = paths.map((path): ModuleMeta => {
    const m = adapter.modules.get(path) as LoraModule;
    return { path, r: m.r, inDim: m.inDim, outDim: m.outDim, scale: m.scale };
  });
  const headNames = [...adapter.head.keys()].sort();
  const header: Header = {
    modules,
    head: headNames.map((name) => ({ name, shape: [...(adapter.head.get(name) as HostTensor).shape] })),
    labels: adapter.labels ? [...adapter.labels] : [],
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const eb = elemBytes(dtype);
  let size = 16 + padded(json.length);
  for (const m of modules) size += padded(m.r * m.inDim * eb) + padded(m.outDim * m.r * eb);
  for (const name of headNames) size += padded((adapter.head.get(name) as HostTensor).data.length * eb);

  const payload = new ArrayBuffer(size);
  const bytes = new Uint8Array(payload);
  const view = new DataView(payload);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, RECORD_VERSION, true);
  view.setUint32(8, dtype === 'f16' ? 1 : 0, true);
  view.setUint32(12, json.length, true);
  bytes.set(json, 16);
  let offset = 16 + padded(json.length);
  for (const path of paths) {
    const m = adapter.modules.get(path) as LoraModule;
    offset = writeTensor(bytes, offset, m.A, dtype);
    offset = writeTensor(bytes, offset, m.B, dtype);
  }
  for (const name of headNames) offset = writeTensor(bytes, offset, (adapter.head.get(name) as HostTensor).data, dtype);

  const w = adapter.head.get('classifier.weight');
  return {
    meta: {
      id,
      baseModelId: options.baseModelId,
      baseModelHash: options.baseModelHash,
      domain: options.domain,
      modules,
      maxRank: modules.reduce((r, m) => Math.max(r, m.r), 0),
      numLabels: w ? w.shape[0] : 0,
      labels: header.labels,
      bytes: size,
      dtype,
      checksum: crc32(bytes),
      version: RECORD_VERSION,
      ...(options.description ? { description: options.description } : {}),
      ...(options.synthetic ? { synthetic: true as const } : {}),
    },
    payload,
  };
}

/** Throws CorruptTenantRecordError unless the payload's size and CRC-32 match its metadata. */
export function verifyRecord(record: TenantRecord): void {
  const { meta, payload } = record;
  if (payload.byteLength !== meta.bytes) {
    throw new CorruptTenantRecordError(meta.id, `payload has ${payload.byteLength} bytes, metadata says ${meta.bytes}`);
  }
  const crc = crc32(new Uint8Array(payload));
  if (crc !== meta.checksum) {
    throw new CorruptTenantRecordError(meta.id, `checksum ${crc.toString(16)} does not match ${meta.checksum.toString(16)}`);
  }
}

function readTensor(id: string, bytes: Uint8Array, offset: number, n: number, dtype: AdapterDtype): Float32Array {
  const len = n * elemBytes(dtype);
  if (offset + len > bytes.length) throw new CorruptTenantRecordError(id, 'payload ends inside a tensor');
  const out = new Float32Array(n);
  if (dtype === 'f32') {
    new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + len));
  } else {
    for (let i = 0; i < n; i++) out[i] = f16BitsToF32(bytes[offset + 2 * i] | (bytes[offset + 2 * i + 1] << 8));
  }
  return out;
}

/** Verifies and decodes a record back into an f32 adapter. */
export function unpackTenant(record: TenantRecord): LoraAdapter {
  verifyRecord(record);
  const id = record.meta.id;
  const bytes = new Uint8Array(record.payload);
  const view = new DataView(record.payload);
  if (bytes.length < 16 || view.getUint32(0, true) !== MAGIC) throw new CorruptTenantRecordError(id, 'not a tenant payload');
  const version = view.getUint32(4, true);
  if (version !== RECORD_VERSION) throw new CorruptTenantRecordError(id, `unknown payload version ${version}`);
  const dtype: AdapterDtype = view.getUint32(8, true) === 1 ? 'f16' : 'f32';
  const jsonBytes = view.getUint32(12, true);
  if (16 + jsonBytes > bytes.length) throw new CorruptTenantRecordError(id, 'header runs past the payload');
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + jsonBytes))) as Header;
  } catch (cause) {
    throw new CorruptTenantRecordError(id, `header is not JSON (${String(cause)})`);
  }
  let offset = 16 + padded(jsonBytes);
  const eb = elemBytes(dtype);
  const modules = new Map<string, LoraModule>();
  for (const m of header.modules) {
    const A = readTensor(id, bytes, offset, m.r * m.inDim, dtype);
    offset += padded(A.length * eb);
    const B = readTensor(id, bytes, offset, m.outDim * m.r, dtype);
    offset += padded(B.length * eb);
    modules.set(m.path, { r: m.r, inDim: m.inDim, outDim: m.outDim, scale: m.scale, A, B });
  }
  const head: TensorMap = new Map();
  for (const t of header.head) {
    const data = readTensor(id, bytes, offset, t.shape.reduce((a, b) => a * b, 1), dtype);
    offset += padded(data.length * eb);
    head.set(t.name, { shape: t.shape, data });
  }
  return header.labels.length ? { modules, head, labels: header.labels } : { modules, head };
}
