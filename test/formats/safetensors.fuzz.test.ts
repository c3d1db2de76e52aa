import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SafetensorsError } from '../../src/formats/errors.js';
import { parseSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import { rawSafetensors } from './helpers.js';

/** Every input yields tensors whose sizes match their shapes, or a SafetensorsError: nothing else. */
function check(bytes: Uint8Array): void {
  let result: ReturnType<typeof parseSafetensors>;
  try {
    result = parseSafetensors(bytes, { maxHeaderBytes: 1 << 20, skipNonFloat: bytes.length % 2 === 0 });
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    return;
  }
  for (const [, t] of result) {
    expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
  }
}

const valid = writeSafetensors(
  new Map([
    ['a', { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
    ['b', { shape: [4], data: new Float32Array([-1, 0, 1, 2]) }],
    ['c', { shape: [], data: new Float32Array([9]) }],
  ]),
  { metadata: { format: 'pt' } },
);
const validF16 = writeSafetensors(new Map([['w', { shape: [3, 1], data: new Float32Array([1, 2, 3]) }]]), { dtype: 'F16' });
const headerLen = new DataView(valid.buffer).getUint32(0, true);
const header = JSON.parse(new TextDecoder().decode(valid.subarray(8, 8 + headerLen))) as Record<string, unknown>;

const jsonValue = fc.oneof(
  fc.integer({ min: -10, max: 100 }),
  fc.double(),
  fc.string(),
  fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'U8', null, true),
  fc.array(fc.oneof(fc.integer({ min: -2, max: 40 }), fc.double(), fc.string()), { maxLength: 4 }),
);

const params = { seed: 20261125, numRuns: 1500 };

describe('parseSafetensors fuzz', () => {
  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => check(b)), params);
  });

  it('random bytes behind a plausible length prefix', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 220 }), (body, len) => {
        const b = new Uint8Array(8 + body.length);
        new DataView(b.buffer).setUint32(0, len, true);
        b.set(body, 8);
        check(b);
      }),
      params,
    );
  });

  it('bit flips, byte overwrites and truncations of valid files', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(valid, validF16),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), { minLength: 1, maxLength: 6 }),
        fc.option(fc.nat()),
        (base, edits, cut) => {
          const b = base.slice();
          for (const [pos, v, flip] of edits) {
            const i = pos % b.length;
            b[i] = flip ? b[i] ^ (1 << (v & 7)) : v;
          }
          check(cut === null ? b : b.subarray(0, cut % (b.length + 1)));
        },
      ),
      params,
    );
  });

  it('header edits: fields replaced, removed or added', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('a', 'b', 'c', '__metadata__', 'new'),
        fc.constantFrom('dtype', 'shape', 'data_offsets', 'format', 'extra'),
        fc.option(jsonValue),
        fc.nat({ max: 64 }),
        (tensor, field, value, dataLen) => {
          const h = structuredClone(header) as Record<string, Record<string, unknown> | undefined>;
          const entry = { ...(h[tensor] ?? {}) };
          if (value === null) delete entry[field];
          else entry[field] = value;
          h[tensor] = entry;
          check(rawSafetensors(h, dataLen));
        },
      ),
      params,
    );
  });

  it('arbitrary JSON headers', () => {
    fc.assert(fc.property(fc.json(), fc.nat({ max: 64 }), (text, dataLen) => check(rawSafetensors(text, dataLen))), params);
  });
});
