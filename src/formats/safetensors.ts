/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the
 * data section. The reader trusts nothing in the file: every failure is a SafetensorsError.
 */
import { SafetensorsError } from './errors.js';
import { decodeBf16, decodeF16, decodeF32, f16BitsOf, f16Bytes, f16HostTensor, f32Bytes } from './f16.js';
import type { HostTensor } from './types.js';

const DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2 } as const;
type Dtype = keyof typeof DTYPE_BYTES;

/** Other dtypes of the format: checked like the rest and skipped on request (e.g. int64 position_ids buffers). */
const OTHER_DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};

export const DEFAULT_MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface ParseSafetensorsOptions {
  /** Largest JSON header accepted, in bytes (default 100 MiB), so a hostile length cannot exhaust memory. */
  readonly maxHeaderBytes?: number;
  /**
   * Skip tensors of the format's other dtypes (integer buffers such as BERT's position_ids)
   * instead of failing; they are still validated. Unknown dtypes always fail.
   */
  readonly skipNonFloat?: boolean;
  /**
   * F16 tensors: 'keep' (default) holds their halves (HostTensor.f16, `data` decoded on first
   * read), so an F16 checkpoint costs half the host memory and can stay f16 on the GPU;
   * 'decode' widens them to f32 at once. BF16 is always widened to f32: that is exact, while
   * BF16 -> f16 would lose range (BF16 reaches 3.4e38, f16 65504) and 3 bits of exponent.
   */
  readonly f16?: 'keep' | 'decode';
}

interface Entry {
  readonly name: string;
  /** null: a skipped non-float tensor. */
  readonly dtype: Dtype | null;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

function isDtype(s: string): s is Dtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return typeof v;
  }
}

function readHeader(bytes: Uint8Array, maxHeaderBytes: number): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8) {
    throw new SafetensorsError(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (headerLen > maxHeaderBytes) {
    throw new SafetensorsError(`header length ${headerLen} (bytes 0..7) exceeds the limit of ${maxHeaderBytes} bytes`);
  }
  if (8 + headerLen > bytes.length) {
    throw new SafetensorsError(`header length ${headerLen} (bytes 0..7) runs past the end of the ${bytes.length}-byte file`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch (cause) {
    throw new SafetensorsError(`header (bytes 8..${8 + headerLen}) is not valid UTF-8`, { cause });
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new SafetensorsError(`header (bytes 8..${8 + headerLen}) is not valid JSON: ${reason}`, { cause });
  }
  if (!isRecord(header)) {
    throw new SafetensorsError(`header (bytes 8..${8 + headerLen}) is ${describe(header)}, not a JSON object`);
  }
  return { header, dataStart: 8 + headerLen };
}

function parseEntry(name: string, raw: unknown, dataLen: number, skipNonFloat: boolean): Entry {
  const where = `tensor "${name}"`;
  if (!isRecord(raw)) throw new SafetensorsError(`${where}: header entry is ${describe(raw)}, not an object`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') throw new SafetensorsError(`${where}: missing or non-string "dtype"`);
  const known = isDtype(dtype) || (skipNonFloat && Object.prototype.hasOwnProperty.call(OTHER_DTYPE_BYTES, dtype));
  if (!known) {
    throw new SafetensorsError(`${where}: dtype ${describe(dtype)} is not supported (only F32, F16, BF16)`);
  }
  const size = isDtype(dtype) ? DTYPE_BYTES[dtype] : OTHER_DTYPE_BYTES[dtype];
  if (!Array.isArray(shape)) throw new SafetensorsError(`${where}: missing or non-array "shape"`);
  let count = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new SafetensorsError(`${where}: shape ${describe(shape)} has a dimension that is not a non-negative integer`);
    }
    count *= d;
  }
  // A zero dimension makes the tensor empty even if the others overflowed to Infinity.
  if (shape.includes(0)) count = 0;
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw new SafetensorsError(`${where}: "data_offsets" must be [begin, end], got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as unknown[];
  if (typeof begin !== 'number' || typeof end !== 'number' || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < 0) {
    throw new SafetensorsError(`${where}: data_offsets ${describe(offsets)} are not non-negative integers`);
  }
  if (begin > end) throw new SafetensorsError(`${where}: data_offsets begin ${begin} > end ${end}`);
  if (end > dataLen) {
    throw new SafetensorsError(`${where}: data_offsets end ${end} is past the ${dataLen}-byte data section`);
  }
  const expected = count * size;
  if (expected !== end - begin) {
    throw new SafetensorsError(
      `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype: isDtype(dtype) ? dtype : null, shape: shape as number[], begin, end };
}

function checkOverlaps(entries: Entry[], dataStart: number): void {
  const byStart = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1];
    const cur = byStart[i];
    if (cur.begin < prev.end) {
      throw new SafetensorsError(
        `tensor "${cur.name}" (file bytes ${dataStart + cur.begin}..${dataStart + cur.end}) overlaps tensor "${prev.name}" (file bytes ${dataStart + prev.begin}..${dataStart + prev.end})`,
      );
    }
  }
}

function decode(dtype: Dtype, shape: readonly number[], bytes: Uint8Array, keepF16: boolean): HostTensor {
  switch (dtype) {
    case 'F32':
      return { shape, data: decodeF32(bytes) };
    case 'F16':
      return keepF16 ? f16HostTensor(shape, f16BitsOf(bytes)) : { shape, data: decodeF16(bytes) };
    case 'BF16':
      return { shape, data: decodeBf16(bytes) };
  }
}

/**
 * Reads every F32/F16/BF16 tensor, in header order: F32 and BF16 as f32, F16 kept as halves
 * unless opts.f16 is 'decode' (either way `data` reads f32). `__metadata__` is checked and
 * skipped (use readSafetensorsMetadata for it). Little-endian data, as the format specifies.
 */
export function parseSafetensors(bytes: Uint8Array, opts: ParseSafetensorsOptions = {}): Map<string, HostTensor> {
  const { header, dataStart } = readHeader(bytes, opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
  const dataLen = bytes.length - dataStart;
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      checkMetadata(raw);
      continue;
    }
    entries.push(parseEntry(name, raw, dataLen, opts.skipNonFloat ?? false));
  }
  checkOverlaps(entries, dataStart);
  const out = new Map<string, HostTensor>();
  for (const e of entries) {
    if (e.dtype === null) continue;
    out.set(e.name, decode(e.dtype, e.shape, bytes.subarray(dataStart + e.begin, dataStart + e.end), (opts.f16 ?? 'keep') === 'keep'));
  }
  return out;
}

function checkMetadata(raw: unknown): Record<string, string> {
  if (!isRecord(raw)) throw new SafetensorsError(`"__metadata__" is ${describe(raw)}, not an object`);
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new SafetensorsError(`"__metadata__" entry "${k}" is ${describe(v)}, not a string`);
  }
  return raw as Record<string, string>;
}

/** The string map stored under `__metadata__` ({} when absent), after the same header checks. */
export function readSafetensorsMetadata(bytes: Uint8Array, opts: ParseSafetensorsOptions = {}): Record<string, string> {
  const { header } = readHeader(bytes, opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
  return '__metadata__' in header ? { ...checkMetadata(header.__metadata__) } : {};
}

export interface WriteSafetensorsOptions {
  readonly dtype?: 'F32' | 'F16';
  readonly metadata?: Record<string, string>;
}

/**
 * Serializes tensors with sorted names, the header padded with spaces to a multiple of 8
 * bytes so the data section is aligned (as the HF writer does).
 */
export function writeSafetensors(
  tensors: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: Float32Array }>,
  opts: WriteSafetensorsOptions = {},
): Uint8Array {
  const dtype = opts.dtype ?? 'F32';
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (opts.metadata !== undefined) header.__metadata__ = opts.metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" is reserved and cannot name a tensor');
    const t = tensors.get(name)!;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.some((d) => !Number.isSafeInteger(d) || d < 0) || count !== t.data.length) {
      throw new SafetensorsError(`tensor "${name}": shape [${t.shape.join(', ')}] does not match its ${t.data.length} values`);
    }
    const bytes = dtype === 'F16' ? f16Bytes(t.data) : f32Bytes(t.data);
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen, true);
  view.setUint32(4, Math.floor(headerLen / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}
