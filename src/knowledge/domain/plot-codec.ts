/**
 * Binary records of a persisted PLOT. An index (layout, generation, every key) and chunks
 * (keys + values of the keys hashing to them), each ending in an FNV-1a checksum of all its
 * other bytes, so a torn or tampered record is a CorruptChunkError, never wrong numbers.
 */
import { CorruptChunkError } from './errors.js';
import type { PlotLayout } from './plot-table.js';
import type { TrigramKey } from './trigram.js';

const INDEX_MAGIC = 0x49544c50; // "PLTI"
const CHUNK_MAGIC = 0x43544c50; // "PLTC"
const VERSION = 1;
const CHUNK_HEADER = 32;

export function fnv1a(bytes: Uint8Array, end = bytes.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

function seal(bytes: Uint8Array): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(bytes.length - 4, fnv1a(bytes, bytes.length - 4), true);
  return bytes;
}

function open(name: string, bytes: Uint8Array, magic: number, minLength: number): DataView {
  if (bytes.length < minLength) throw new CorruptChunkError(name, `${bytes.length} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(bytes.length - 4, true) !== fnv1a(bytes, bytes.length - 4)) throw new CorruptChunkError(name, 'checksum mismatch');
  if (view.getUint32(0, true) !== magic) throw new CorruptChunkError(name, 'not a PLOT record');
  if (view.getUint32(4, true) !== VERSION) throw new CorruptChunkError(name, `unsupported version ${view.getUint32(4, true)}`);
  return view;
}

export interface PlotIndex {
  readonly layout: PlotLayout;
  /** The lower weights the values were computed with (DomainTree.scope of the node). */
  readonly scope: string;
  readonly generation: number;
  readonly numChunks: number;
  readonly keys: Float64Array;
}

export function encodeIndex(index: PlotIndex): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ layout: index.layout, scope: index.scope, generation: index.generation, numChunks: index.numChunks }),
  );
  const keysAt = Math.ceil((12 + header.length) / 8) * 8;
  const bytes = new Uint8Array(keysAt + index.keys.length * 8 + 4);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, INDEX_MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, header.length, true);
  bytes.set(header, 12);
  index.keys.forEach((k, i) => view.setFloat64(keysAt + i * 8, k, true));
  return seal(bytes);
}

export function decodeIndex(name: string, bytes: Uint8Array): PlotIndex {
  const view = open(name, bytes, INDEX_MAGIC, 16);
  const headerLength = view.getUint32(8, true);
  const keysAt = Math.ceil((12 + headerLength) / 8) * 8;
  if (keysAt + 4 > bytes.length || (bytes.length - 4 - keysAt) % 8 !== 0) throw new CorruptChunkError(name, 'bad header length');
  let header: { layout: PlotLayout; scope: string; generation: number; numChunks: number };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as typeof header;
  } catch (cause) {
    throw new CorruptChunkError(name, `header does not parse: ${String(cause)}`);
  }
  const keys = new Float64Array((bytes.length - 4 - keysAt) / 8);
  for (let i = 0; i < keys.length; i++) keys[i] = view.getFloat64(keysAt + i * 8, true);
  return { layout: header.layout, scope: header.scope, generation: header.generation, numChunks: header.numChunks, keys };
}

export interface PlotChunk {
  readonly generation: number;
  readonly chunk: number;
  readonly keys: readonly TrigramKey[];
  /** Per key, `width` values in the storage dtype. */
  readonly values: readonly (Float32Array | Uint16Array)[];
}

export function encodeChunk(layout: PlotLayout, c: PlotChunk): Uint8Array {
  const n = c.keys.length;
  const elem = layout.dtype === 'f16' ? 2 : 4;
  const valuesAt = CHUNK_HEADER + n * 8;
  const valueBytes = Math.ceil((n * layout.width * elem) / 4) * 4;
  const bytes = new Uint8Array(valuesAt + valueBytes + 4);
  const view = new DataView(bytes.buffer);
  [CHUNK_MAGIC, VERSION, c.generation, c.chunk, n, layout.width, layout.dtype === 'f16' ? 1 : 0].forEach((v, i) =>
    view.setUint32(i * 4, v, true),
  );
  c.keys.forEach((k, i) => view.setFloat64(CHUNK_HEADER + i * 8, k, true));
  c.values.forEach((v, i) => {
    const at = valuesAt + i * layout.width * elem;
    for (let j = 0; j < layout.width; j++) {
      if (elem === 2) view.setUint16(at + j * 2, v[j], true);
      else view.setFloat32(at + j * 4, v[j], true);
    }
  });
  return seal(bytes);
}

export function decodeChunk(name: string, layout: PlotLayout, expect: { generation: number; chunk: number }, bytes: Uint8Array): PlotChunk {
  const view = open(name, bytes, CHUNK_MAGIC, CHUNK_HEADER + 4);
  const [generation, chunk, n, width, dtype] = [2, 3, 4, 5, 6].map((i) => view.getUint32(i * 4, true));
  if (generation !== expect.generation || chunk !== expect.chunk) {
    throw new CorruptChunkError(name, `holds chunk ${chunk} of generation ${generation}, expected ${expect.chunk} of ${expect.generation}`);
  }
  const elem = dtype === 1 ? 2 : 4;
  if (width !== layout.width || (dtype === 1) !== (layout.dtype === 'f16')) throw new CorruptChunkError(name, 'layout differs from its index');
  const valuesAt = CHUNK_HEADER + n * 8;
  if (valuesAt + Math.ceil((n * width * elem) / 4) * 4 + 4 !== bytes.length) throw new CorruptChunkError(name, 'size does not match its header');
  const keys: TrigramKey[] = [];
  const values: (Float32Array | Uint16Array)[] = [];
  for (let i = 0; i < n; i++) {
    keys.push(view.getFloat64(CHUNK_HEADER + i * 8, true));
    const at = valuesAt + i * width * elem;
    const v = elem === 2 ? new Uint16Array(width) : new Float32Array(width);
    for (let j = 0; j < width; j++) v[j] = elem === 2 ? view.getUint16(at + j * 2, true) : view.getFloat32(at + j * 4, true);
    values.push(v);
  }
  return { generation, chunk, keys, values };
}
