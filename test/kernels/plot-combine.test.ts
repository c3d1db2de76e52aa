import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { encodePlotCombine, f16SlotWords, packCombineMeta } from '../../src/kernels/plot-combine.js';
import { plotCombineRef } from '../../src/kernels/cpu/plot-combine.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { packF16Pairs, unpackF16Pairs } from '../../src/formats/f16.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

const LENGTHS = [1, 2, 3, 17];

interface Case {
  hidden: number;
  slots: number;
  values: Float32Array;
  meta: Uint32Array;
  pos: Float32Array;
  posRows: number;
  typeRow: Float32Array;
  ln: Float32Array;
  numLn: number;
  rows: number;
}

function makeCase(hidden: number, seed: number): Case {
  const rows = LENGTHS.reduce((a, b) => a + b, 0);
  // Fewer slots than rows, and some rows share a slot, as repeated tri-grams do.
  const slots = Math.max(1, rows - 5);
  const slotOf = Uint32Array.from({ length: rows }, (_, r) => (r * 7 + 3) % slots);
  const numLn = 2;
  return {
    hidden,
    slots,
    values: randomFloats(slots * 3 * hidden, seed, 2),
    meta: packCombineMeta(LENGTHS, slotOf, [0, 1, 1, 0]),
    pos: randomFloats(20 * hidden, seed + 1),
    posRows: 20,
    typeRow: randomFloats(hidden, seed + 2),
    ln: Float32Array.from(randomFloats(numLn * 2 * hidden, seed + 3), (v, i) => (Math.floor(i / hidden) % 2 === 0 ? 1 + v * 0.5 : v)),
    numLn,
    rows,
  };
}

async function runCase(c: Case, dtype: 'f32' | 'f16', workgroupSize?: number): Promise<Float32Array> {
  const ctx = await testContext();
  const values = dtype === 'f16' ? packSlots(c.values, c.slots, c.hidden) : c.values;
  const bufs = await Promise.all([
    uploadBuffer(ctx, values, 'values'),
    uploadBuffer(ctx, c.meta, 'meta'),
    uploadBuffer(ctx, c.pos, 'pos'),
    uploadBuffer(ctx, c.typeRow, 'type'),
    uploadBuffer(ctx, c.ln, 'ln'),
    allocBuffer(ctx, c.rows * c.hidden * 4, 'out'),
  ]);
  const [gv, gm, gp, gt, gl, go] = bufs;
  run(ctx, (pass) =>
    encodePlotCombine(ctx, pass, {
      values: gv,
      dtype,
      slots: c.slots,
      meta: gm,
      pos: gp,
      posRows: c.posRows,
      typeRow: gt,
      ln: gl,
      numLn: c.numLn,
      out: go,
      rows: c.rows,
      hidden: c.hidden,
      eps: 1e-12,
      workgroupSize,
    }),
  );
  const out = await readF32(ctx, go, c.rows * c.hidden);
  for (const b of bufs) b.destroy();
  return out;
}

function packSlots(values: Float32Array, slots: number, hidden: number): Uint32Array {
  const words = f16SlotWords(hidden);
  const out = new Uint32Array(slots * words);
  for (let s = 0; s < slots; s++) out.set(packF16Pairs(values.subarray(s * 3 * hidden, (s + 1) * 3 * hidden)), s * words);
  return out;
}

function unpackSlots(packed: Uint32Array, slots: number, hidden: number): Float32Array {
  const words = f16SlotWords(hidden);
  const out = new Float32Array(slots * 3 * hidden);
  for (let s = 0; s < slots; s++) out.set(unpackF16Pairs(packed.subarray(s * words, (s + 1) * words), 3 * hidden), s * 3 * hidden);
  return out;
}

describe('plot_combine kernel', () => {
  for (const hidden of [1, 5, 37, 128]) {
    it(`matches the CPU reference, f32, H=${hidden}, sequences of ${LENGTHS.join('/')}`, async () => {
      const c = makeCase(hidden, hidden * 11);
      const out = await runCase(c, 'f32');
      expectClose(out, plotCombineRef({ ...c, eps: 1e-12 }), 1e-4, 2e-5);
    });
    it(`matches the CPU reference on decoded halves, f16, H=${hidden}`, async () => {
      const c = makeCase(hidden, hidden * 13);
      const out = await runCase(c, 'f16');
      const decoded = unpackSlots(packSlots(c.values, c.slots, c.hidden), c.slots, c.hidden);
      expectClose(out, plotCombineRef({ ...c, values: decoded, eps: 1e-12 }), 1e-4, 2e-5);
    });
  }
  // One kernel under two value preludes: on values an f16 cache holds exactly, they agree to the bit.
  for (const hidden of [5, 37]) {
    it(`f16 and f32 give bit-identical rows on f16-exact values, H=${hidden}`, async () => {
      const c = makeCase(hidden, hidden * 17);
      const exact = { ...c, values: unpackSlots(packSlots(c.values, c.slots, c.hidden), c.slots, c.hidden) };
      expect(await runCase(exact, 'f16')).toEqual(await runCase(exact, 'f32'));
    });
  }
  // 64 is the GPU size, 4 the CPU adapters'; 3 and 1 leave a ragged last sweep and no partner.
  for (const wg of [64, 4, 3, 1]) {
    for (const dtype of ['f32', 'f16'] as const) {
      it(`gives the same rows with ${wg} invocations per row, ${dtype}, H=37`, async () => {
        const c = makeCase(37, 401 + wg);
        const values = dtype === 'f16' ? unpackSlots(packSlots(c.values, c.slots, c.hidden), c.slots, c.hidden) : c.values;
        expectClose(await runCase(c, dtype, wg), plotCombineRef({ ...c, values, eps: 1e-12 }), 1e-4, 2e-5);
      });
    }
  }
  it('rejects a workgroup size outside 1..256', async () => {
    await expect(runCase(makeCase(5, 3), 'f32', 512)).rejects.toThrow(ShapeError);
  });

  it('drops neighbours across sequence edges: a length-1 sequence sees only its own entry', async () => {
    const hidden = 5;
    const c = makeCase(hidden, 99);
    const ref = plotCombineRef({ ...c, eps: 1e-12 });
    // Row 0 is a sequence of one token: its result may not change when other slots do.
    const selfSlot = c.meta[0];
    const perturbed = Float32Array.from(c.values, (v, i) => (Math.floor(i / (3 * hidden)) === selfSlot ? v : v + 3));
    const out = await runCase({ ...c, values: perturbed }, 'f32');
    expectClose(out.subarray(0, hidden), ref.subarray(0, hidden), 1e-4, 2e-5);
    expect(Math.abs(out[hidden] - ref[hidden])).toBeGreaterThan(0);
  });

  it('covers more rows than one grid dimension holds (2D dispatch)', async () => {
    const hidden = 3;
    const lengths = [65536 - 7, 17];
    const rows = lengths[0] + lengths[1];
    const slots = 97;
    const c: Case = {
      hidden,
      slots,
      values: randomFloats(slots * 3 * hidden, 5, 2),
      meta: packCombineMeta(lengths, Uint32Array.from({ length: rows }, (_, r) => (r * 31) % slots), [0, 1]),
      pos: randomFloats(40 * hidden, 6),
      posRows: 40,
      typeRow: randomFloats(hidden, 7),
      ln: Float32Array.from(randomFloats(4 * hidden, 8), (v) => 1 + 0.5 * v),
      numLn: 2,
      rows,
    };
    const out = await runCase(c, 'f32');
    expectClose(out, plotCombineRef({ ...c, eps: 1e-12 }), 1e-4, 2e-5);
  });

  it('packs per-sequence flags and positions', () => {
    const meta = packCombineMeta([1, 3], [4, 5, 6, 7], [0, 2]);
    expect(Array.from(meta)).toEqual([4, 0, 0, 0, 5, 2, 0, 2, 6, 3, 1, 2, 7, 1, 2, 2]);
  });
});
