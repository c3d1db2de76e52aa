/**
 * IEEE half (f16) and bfloat16 conversions. f16 is how checkpoints and PLOT entries are
 * stored to halve their size; WGSL reads them with unpack2x16float (element 2i in the low
 * 16 bits of u32 i), so packF16Pairs matches that layout.
 */

import type { HostTensor } from './types.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

let f16Table: Float32Array | null = null;

/** All 65536 halves decoded once: a table lookup beats bit twiddling per element. */
function table(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

/** Decodes one half given as its 16 bits. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Encodes one number as f16 bits, rounding to nearest even; overflow gives ±Infinity. */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit 1 in, then round to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1) === 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1) === 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** Decodes f16 bits (one u16 per element). */
export function decodeF16Bits(bits: Uint16Array): Float32Array {
  const t = table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}

/** f16 bits of little-endian f16 bytes (copied, so the source may be freed and alignment does not matter). */
export function f16BitsOf(bytes: Uint8Array): Uint16Array {
  const out = new Uint16Array(bytes.length >>> 1);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 2));
  } else {
    for (let i = 0; i < out.length; i++) out[i] = bytes[2 * i] | (bytes[2 * i + 1] << 8);
  }
  return out;
}

/** Decodes little-endian f16 values. `bytes.length` must be even. */
export function decodeF16(bytes: Uint8Array): Float32Array {
  const n = bytes.length >>> 1;
  const t = table();
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = t[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  return out;
}

/** Decodes little-endian bfloat16 values (the high half of an f32). */
export function decodeBf16(bytes: Uint8Array): Float32Array {
  const n = bytes.length >>> 1;
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = ((bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16) >>> 0;
  return out;
}

/** Decodes little-endian f32 values from any byte offset (copies, so alignment does not matter). */
export function decodeF32(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length >>> 2);
  new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 4));
  if (!LITTLE_ENDIAN) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  }
  return out;
}

/** f16 bits, one element per u16. */
export function packF16(data: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = f32ToF16Bits(data[i]);
  return out;
}

/** f16 packed two per u32 for WGSL's unpack2x16float; an odd tail is padded with 0. */
export function packF16Pairs(data: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(Math.ceil(data.length / 2));
  for (let i = 0; i < data.length; i += 2) {
    const lo = f32ToF16Bits(data[i]);
    const hi = i + 1 < data.length ? f32ToF16Bits(data[i + 1]) : 0;
    out[i >>> 1] = (lo | (hi << 16)) >>> 0;
  }
  return out;
}

/** Inverse of packF16Pairs: `count` values from pairs of halves. */
export function unpackF16Pairs(packed: Uint32Array, count: number): Float32Array {
  const t = table();
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const w = packed[i >>> 1];
    out[i] = t[i & 1 ? w >>> 16 : w & 0xffff];
  }
  return out;
}

/** Little-endian bytes of f16 values, as safetensors stores them. */
export function f16Bytes(data: ArrayLike<number>): Uint8Array {
  const halves = packF16(data);
  const out = new Uint8Array(halves.length * 2);
  for (let i = 0; i < halves.length; i++) {
    out[2 * i] = halves[i] & 0xff;
    out[2 * i + 1] = halves[i] >>> 8;
  }
  return out;
}

/** Little-endian bytes of f32 values, as safetensors stores them. */
export function f32Bytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.length * 4));
  } else {
    const view = new DataView(out.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  }
  return out;
}

/**
 * A host tensor held as f16 bits. `data` decodes them on first access and keeps the result:
 * the CPU references and other f32 readers work unchanged, and a tensor only moved to the GPU
 * as f16 is never widened.
 */
export function f16HostTensor(shape: readonly number[], bits: Uint16Array): HostTensor {
  let decoded: Float32Array | undefined;
  return {
    shape,
    f16: bits,
    get data(): Float32Array {
      decoded ??= decodeF16Bits(bits);
      return decoded;
    },
  };
}

/** The tensor's values as f16 bits: its own when it holds them, else rounded to nearest even. */
export function hostF16Bits(t: HostTensor): Uint16Array {
  return t.f16 ?? packF16(t.data);
}

/** The tensor's values as f32 without keeping a decoded copy on the tensor (for one-off uploads). */
export function hostF32(t: HostTensor): Float32Array {
  return t.f16 ? decodeF16Bits(t.f16) : t.data;
}

/** The same tensors held as f16 (rounded to nearest even), as an F16 checkpoint would load. */
export function toF16Tensors(tensors: ReadonlyMap<string, HostTensor>): Map<string, HostTensor> {
  return new Map([...tensors].map(([name, t]) => [name, f16HostTensor(t.shape, hostF16Bits(t))]));
}
