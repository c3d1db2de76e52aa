import { describe, expect, it } from 'vitest';
import {
  decodeBf16,
  decodeF16,
  f16BitsToF32,
  f16Bytes,
  f32ToF16Bits,
  packF16,
  packF16Pairs,
  unpackF16Pairs,
} from '../../src/formats/f16.js';

describe('f16', () => {
  it('encodes known values', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [2 ** -24, 0x0001],
      [2 ** -14, 0x0400],
      [0.1, 0x2e66],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [65520, 0x7c00], // halfway to the next binade rounds to even = overflow
      [65519, 0x7bff],
      [1e-9, 0x0000],
    ];
    for (const [x, bits] of cases) expect(f32ToF16Bits(x), `f16(${x})`).toBe(bits);
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(NaN) & 0x3ff).not.toBe(0);
  });

  it('rounds ties to even', () => {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: even mantissa (1) wins.
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3 * 2^-11 lies halfway between mantissas 1 and 2: 2 wins.
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // Subnormal tie: 1.5 * 2^-24 -> 2 * 2^-24.
    expect(f32ToF16Bits(1.5 * 2 ** -24)).toBe(0x0002);
    expect(f32ToF16Bits(0.5 * 2 ** -24)).toBe(0x0000);
  });

  it('round-trips every non-NaN half exactly', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const x = f16BitsToF32(h);
      if (!Number.isNaN(x) && f32ToF16Bits(x) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('decodes f16 and bf16 bytes little-endian', () => {
    expect([...decodeF16(new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00]))]).toEqual([1, -2, 2 ** -24]);
    // bf16 is the high half of an f32: 1.0f = 0x3f800000, -3.5f = 0xc0600000.
    expect([...decodeBf16(new Uint8Array([0x80, 0x3f, 0x60, 0xc0]))]).toEqual([1, -3.5]);
    expect([...decodeF16(f16Bytes([0.25, -1000, 3]))]).toEqual([0.25, -1000, 3]);
  });

  it('packs pairs low-half-first for unpack2x16float, padding an odd tail', () => {
    const packed = packF16Pairs([1, -2, 0.5]);
    expect(packed.length).toBe(2);
    expect(packed[0] >>> 0).toBe(0xc0003c00);
    expect(packed[1]).toBe(0x3800);
    expect([...unpackF16Pairs(packed, 3)]).toEqual([1, -2, 0.5]);
    expect([...packF16([1, 2])]).toEqual([0x3c00, 0x4000]);
  });
});
