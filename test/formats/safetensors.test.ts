import { describe, expect, it } from 'vitest';
import { SafetensorsError } from '../../src/formats/errors.js';
import { f16Bytes } from '../../src/formats/f16.js';
import { parseSafetensors, readSafetensorsMetadata, writeSafetensors } from '../../src/formats/safetensors.js';
import { f32, rawSafetensors } from './helpers.js';

function expectError(bytes: Uint8Array, pattern: RegExp, opts?: { maxHeaderBytes?: number }): void {
  let caught: unknown;
  try {
    parseSafetensors(bytes, opts);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(SafetensorsError);
  expect((caught as Error).message).toMatch(pattern);
}

describe('writeSafetensors / parseSafetensors', () => {
  const tensors = new Map([
    ['b.weight', { shape: [2, 3], data: f32(1, 2, 3, 4, 5, 6) }],
    ['a.bias', { shape: [3], data: f32(-1, 0.5, 1e-3) }],
    ['scalar', { shape: [], data: f32(7) }],
    ['empty', { shape: [0, 4], data: f32() }],
  ]);

  it('round-trips F32 exactly, with sorted keys and an 8-byte aligned data section', () => {
    const bytes = writeSafetensors(tensors, { metadata: { format: 'pt' } });
    const headerLen = new DataView(bytes.buffer).getUint32(0, true);
    expect(headerLen % 8).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLen));
    expect(header).toMatch(/^\{.*\} *$/s);
    expect(Object.keys(JSON.parse(header))).toEqual(['__metadata__', 'a.bias', 'b.weight', 'empty', 'scalar']);
    const back = parseSafetensors(bytes);
    expect([...back.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      expect(back.get(name)!.shape).toEqual(t.shape);
      expect([...back.get(name)!.data]).toEqual([...t.data]);
    }
    expect(readSafetensorsMetadata(bytes)).toEqual({ format: 'pt' });
  });

  it('writes F16 and reads it back rounded to f16', () => {
    const bytes = writeSafetensors(new Map([['x', { shape: [3], data: f32(1, 0.1, -65504) }]]), { dtype: 'F16' });
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + new DataView(bytes.buffer).getUint32(0, true))));
    expect(header.x).toEqual({ dtype: 'F16', shape: [3], data_offsets: [0, 6] });
    expect([...parseSafetensors(bytes).get('x')!.data]).toEqual([1, 0.0999755859375, -65504]);
  });

  it('reads BF16 and F16 written by other tools', () => {
    const bf16 = new Uint8Array([0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40]); // 1, -2, 3.140625
    const f16 = f16Bytes([0.5, 2]);
    const file = rawSafetensors(
      { __metadata__: { format: 'pt' }, w: { dtype: 'BF16', shape: [3], data_offsets: [0, 6] }, h: { dtype: 'F16', shape: [1, 2], data_offsets: [6, 10] } },
      new Uint8Array([...bf16, ...f16]),
    );
    const t = parseSafetensors(file);
    expect([...t.get('w')!.data]).toEqual([1, -2, 3.140625]);
    expect(t.get('h')!.shape).toEqual([1, 2]);
    expect([...t.get('h')!.data]).toEqual([0.5, 2]);
  });

  it('reads F32 data at an unaligned offset', () => {
    const data = new Uint8Array(9);
    new DataView(data.buffer).setFloat32(1, 2.5, true);
    new DataView(data.buffer).setFloat32(5, -1, true);
    const file = rawSafetensors({ pad: { dtype: 'F16', shape: [0], data_offsets: [0, 0] }, x: { dtype: 'F32', shape: [2], data_offsets: [1, 9] } }, data);
    expect([...parseSafetensors(file).get('x')!.data]).toEqual([2.5, -1]);
  });

  it('refuses to write shapes that do not match the data', () => {
    expect(() => writeSafetensors(new Map([['x', { shape: [2, 2], data: f32(1, 2, 3) }]]))).toThrow(SafetensorsError);
  });
});

describe('parseSafetensors validation', () => {
  const ok = { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('rejects files too short for the length prefix', () => {
    expectError(new Uint8Array(5), /5 bytes, too short/);
  });
  it('rejects a header length past the end of the file', () => {
    expectError(rawSafetensors(ok, 8, 1000), /header length 1000 .* runs past the end/);
  });
  it('rejects a header length over the limit', () => {
    expectError(rawSafetensors(ok, 8, 2 ** 40), /exceeds the limit/);
    expectError(rawSafetensors(ok, 8), /exceeds the limit of 10 bytes/, { maxHeaderBytes: 10 });
  });
  it('rejects invalid UTF-8 and invalid JSON', () => {
    const bad = rawSafetensors('{"x":1}', 0);
    bad[10] = 0xff;
    expectError(bad, /not valid UTF-8/);
    expectError(rawSafetensors('{"x": ', 0), /not valid JSON/);
  });
  it('rejects a header that is not an object', () => {
    expectError(rawSafetensors([1, 2], 0), /not a JSON object/);
    expectError(rawSafetensors('null', 0), /not a JSON object/);
  });
  it('rejects entries without dtype, shape or data_offsets', () => {
    expectError(rawSafetensors({ x: 3 }, 0), /tensor "x": header entry is 3/);
    expectError(rawSafetensors({ x: { shape: [1], data_offsets: [0, 4] } }, 4), /tensor "x": missing or non-string "dtype"/);
    expectError(rawSafetensors({ x: { dtype: 'F32', data_offsets: [0, 4] } }, 4), /tensor "x": missing or non-array "shape"/);
    expectError(rawSafetensors({ x: { dtype: 'F32', shape: [1] } }, 4), /tensor "x": "data_offsets" must be \[begin, end\]/);
  });
  it('names the tensor and dtype of an unsupported dtype', () => {
    expectError(rawSafetensors({ 'ids.weight': { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8), /tensor "ids.weight": dtype "I64" is not supported/);
  });
  it('skips validated integer buffers only when asked', () => {
    const h = {
      'embeddings.position_ids': { dtype: 'I64', shape: [1, 2], data_offsets: [0, 16] },
      w: { dtype: 'F32', shape: [1], data_offsets: [16, 20] },
    };
    expect([...parseSafetensors(rawSafetensors(h, 20), { skipNonFloat: true }).keys()]).toEqual(['w']);
    expectError(rawSafetensors(h, 20), /tensor "embeddings.position_ids": dtype "I64" is not supported/);
    const bad = { ...h, 'embeddings.position_ids': { dtype: 'I64', shape: [1, 3], data_offsets: [0, 16] } };
    expect(() => parseSafetensors(rawSafetensors(bad, 20), { skipNonFloat: true })).toThrow(/needs 24 bytes/);
    expect(() => parseSafetensors(rawSafetensors({ x: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, 1), { skipNonFloat: true })).toThrow(/"Q4" is not supported/);
  });
  it('rejects negative, fractional or non-numeric dimensions', () => {
    expectError(rawSafetensors({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /not a non-negative integer/);
    expectError(rawSafetensors({ x: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 4), /not a non-negative integer/);
    expectError(rawSafetensors({ x: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, 8), /not a non-negative integer/);
  });
  it('rejects bad offsets', () => {
    expectError(rawSafetensors({ x: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, 4), /not non-negative integers/);
    expectError(rawSafetensors({ x: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, 8), /begin 8 > end 4/);
    expectError(rawSafetensors({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4), /end 8 is past the 4-byte data section/);
  });
  it('rejects a byte count that does not match the shape', () => {
    expectError(rawSafetensors({ x: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 6] } }, 8), /shape \[2, 2\] of F16 needs 8 bytes, data_offsets \[0, 6\] hold 6/);
  });
  it('rejects overlapping tensors, naming both and the file offsets', () => {
    const h = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    const file = rawSafetensors(h, 12);
    const dataStart = file.length - 12;
    expectError(file, new RegExp(`tensor "b" \\(file bytes ${dataStart + 4}\\.\\.${dataStart + 12}\\) overlaps tensor "a"`));
  });
  it('rejects non-string metadata', () => {
    expectError(rawSafetensors({ __metadata__: { n: 1 }, ...ok }, 8), /"__metadata__" entry "n"/);
  });
});
