import { describe, expect, it } from 'vitest';
import { f16Bytes, toF16Tensors } from '../../src/formats/f16.js';
import { parseSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import { rawSafetensors } from './helpers.js';

describe('F16 tensors keep their halves on the host', () => {
  const values = Float32Array.from([1, -2, 0.5, 65504, 2 ** -24, -0]);
  const file = writeSafetensors(new Map([['w', { shape: [2, 3], data: values }]]), { dtype: 'F16' });

  it('holds the file bits (2 bytes an element) and decodes them for f32 readers', () => {
    const t = parseSafetensors(file).get('w')!;
    expect(t.f16).toBeInstanceOf(Uint16Array);
    expect(t.f16!.byteLength).toBe(values.length * 2);
    expect(new Uint8Array(t.f16!.buffer, t.f16!.byteOffset, t.f16!.byteLength)).toEqual(f16Bytes(values));
    expect(Array.from(t.data)).toEqual(Array.from(values));
    // Decoded once, then the same array: f32 readers that loop over `data` stay linear.
    expect(t.data).toBe(t.data);
  });

  it("widens them at once with f16: 'decode'", () => {
    const t = parseSafetensors(file, { f16: 'decode' }).get('w')!;
    expect(t.f16).toBeUndefined();
    expect(Array.from(t.data)).toEqual(Array.from(values));
  });

  it('widens BF16 to f32 (exact; f16 would lose range), never holding halves', () => {
    // 1, -2, 3.140625, 1e38-ish (0x7e96 ~ 9.97e37: far past f16's 65504)
    const bf16 = new Uint8Array([0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40, 0x96, 0x7e]);
    const t = parseSafetensors(rawSafetensors({ w: { dtype: 'BF16', shape: [4], data_offsets: [0, 8] } }, bf16)).get('w')!;
    expect(t.f16).toBeUndefined();
    expect(Array.from(t.data.subarray(0, 3))).toEqual([1, -2, 3.140625]);
    expect(t.data[3]).toBeGreaterThan(9e37);
  });

  it('toF16Tensors rounds f32 tensors to what an F16 checkpoint would hold', () => {
    const held = toF16Tensors(new Map([['w', { shape: [3], data: Float32Array.from([1 / 3, 1e5, -1e-8]) }]])).get('w')!;
    expect(held.f16).toBeDefined();
    expect(Array.from(held.data)).toEqual([0.333251953125, Infinity, -0]);
    expect(Array.from(parseSafetensors(writeSafetensors(new Map([['w', held]]), { dtype: 'F16' })).get('w')!.f16!)).toEqual(Array.from(held.f16!));
  });
});
