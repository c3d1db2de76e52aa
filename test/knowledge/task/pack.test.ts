import { describe, expect, it } from 'vitest';
import { crc32 } from '../../../src/knowledge/task/checksum.js';
import { packTenant, unpackTenant, verifyRecord } from '../../../src/knowledge/task/pack.js';
import { CorruptTenantRecordError, InvalidAdapterError } from '../../../src/knowledge/task/errors.js';
import type { LoraAdapter } from '../../../src/formats/types.js';
import { randomAdapter } from './fixtures.js';

const BASE = { baseModelId: 'bert-tiny', baseModelHash: 'abc123', domain: 'root' };
const MODULES = [
  { path: 'encoder.layer.1.attention.self.query', r: 3, inDim: 15, outDim: 15 },
  { path: 'encoder.layer.1.intermediate.dense', r: 7, inDim: 15, outDim: 37 },
];

function expectSameAdapter(a: LoraAdapter, b: LoraAdapter, exact: boolean): void {
  expect([...b.modules.keys()].sort()).toEqual([...a.modules.keys()].sort());
  for (const [path, m] of a.modules) {
    const n = b.modules.get(path);
    expect(n && { r: n.r, inDim: n.inDim, outDim: n.outDim, scale: n.scale }).toEqual({ r: m.r, inDim: m.inDim, outDim: m.outDim, scale: m.scale });
    for (const [x, y] of [
      [m.A, n?.A],
      [m.B, n?.B],
    ] as const) {
      if (exact) expect(y).toEqual(x);
      else x.forEach((v, i) => expect(Math.abs((y as Float32Array)[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -24));
    }
  }
  expect([...b.head.keys()].sort()).toEqual([...a.head.keys()].sort());
}

describe('checksum', () => {
  it('is the standard CRC-32', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const whole = new TextEncoder().encode('hello world');
    expect(crc32(whole.subarray(5), crc32(whole.subarray(0, 5)))).toBe(crc32(whole));
  });
});

describe('tenant packing', () => {
  it('round-trips an f32 adapter exactly, with labels and metadata', () => {
    const a = { ...randomAdapter(3, MODULES, { numLabels: 3, hidden: 15 }), labels: ['neg', 'neu', 'pos'] };
    const rec = packTenant('t1', a, BASE);
    expect(rec.meta).toMatchObject({ id: 't1', domain: 'root', maxRank: 7, numLabels: 3, labels: ['neg', 'neu', 'pos'], dtype: 'f32', bytes: rec.payload.byteLength });
    expect(rec.meta.modules.map((m) => m.r)).toEqual([3, 7]);
    const back = unpackTenant(rec);
    expectSameAdapter(a, back, true);
    expect(back.labels).toEqual(['neg', 'neu', 'pos']);
    expect(back.head.get('classifier.weight')?.data).toEqual(a.head.get('classifier.weight')?.data);
  });

  it('round-trips f16 storage within half precision, at about half the bytes', () => {
    const a = randomAdapter(4, MODULES, { numLabels: 2, hidden: 15 });
    const f32 = packTenant('t', a, BASE);
    const f16 = packTenant('t', a, { ...BASE, dtype: 'f16' });
    expect(f16.meta.dtype).toBe('f16');
    expect(f16.payload.byteLength).toBeLessThan(f32.payload.byteLength * 0.6);
    expectSameAdapter(a, unpackTenant(f16), false);
  });

  it('rejects NaN, Inf, values beyond f16 and inconsistent shapes at registration', () => {
    const bad = (mut: (a: LoraAdapter) => void, dtype: 'f32' | 'f16' = 'f32'): unknown => {
      const a = randomAdapter(5, MODULES, { numLabels: 2, hidden: 15 });
      mut(a);
      try {
        packTenant('evil', a, { ...BASE, dtype });
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const first = (a: LoraAdapter) => [...a.modules.values()][0];
    for (const e of [
      bad((a) => (first(a).A[4] = NaN)),
      bad((a) => (first(a).B[0] = -Infinity)),
      bad((a) => ((a.head.get('classifier.bias') as { data: Float32Array }).data[1] = Infinity)),
      bad((a) => (first(a).A[0] = 70000), 'f16'),
      bad((a) => ((a.modules as Map<string, unknown>).set('x', { ...first(a), A: new Float32Array(3) }))),
      bad((a) => a.head.set('classifier.bias', { shape: [5], data: new Float32Array(5) })),
    ]) {
      expect(e).toBeInstanceOf(InvalidAdapterError);
      expect(String((e as Error).message)).toContain('"evil"');
    }
    expect(bad(() => undefined)).toBeUndefined();
  });

  it('detects any damaged byte and names the tenant', () => {
    const rec = packTenant('tenant-42', randomAdapter(6, MODULES), BASE);
    for (const at of [0, 20, rec.payload.byteLength - 1]) {
      const payload = rec.payload.slice(0);
      new Uint8Array(payload)[at] ^= 0x10;
      const damaged = { meta: rec.meta, payload };
      expect(() => verifyRecord(damaged)).toThrow(CorruptTenantRecordError);
      expect(() => unpackTenant(damaged)).toThrow(/tenant-42/);
    }
    expect(() => unpackTenant({ meta: rec.meta, payload: rec.payload.slice(0, 100) })).toThrow(CorruptTenantRecordError);
  });
});
