import { describe, expect, it } from 'vitest';
import { encodeMatmul, MATMUL_VARIANTS, type MatmulVariant, type WeightLayout } from '../../src/kernels/matmul.js';
import { matmulRef } from '../../src/kernels/cpu/matmul.js';
import { encodeEmbedding, encodeShardedEmbedding } from '../../src/kernels/embedding.js';
import { embeddingRef } from '../../src/kernels/cpu/embedding.js';
import { encodeShardedMatmul, planRowShards, WeightLayoutError, type ShardedWeight } from '../../src/kernels/weight-shards.js';
import { weightRead, type WeightRead } from '../../src/kernels/weight-read.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { decodeF16Bits, packF16 } from '../../src/formats/f16.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

/** Random values rounded to f16, with their bits: the f16 and f32 kernels see the same numbers. */
function halves(n: number, seed: number): { bits: Uint16Array; values: Float32Array } {
  const bits = packF16(randomFloats(n, seed));
  return { bits, values: decodeF16Bits(bits) };
}

function f16Reads(ctx: GpuContext): WeightRead[] {
  return ctx.features.shaderF16 ? ['f16-packed', 'f16-native'] : ['f16-packed'];
}

function expectSameBits(a: Float32Array, b: Float32Array, what: string): void {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const i = ua.findIndex((v, j) => v !== ub[j]);
  if (i >= 0) throw new Error(`${what}: element ${i} is ${a[i]}, its sibling ${b[i]}`);
  expect(a.length).toBe(b.length);
}

/** Splits a [rows, cols] table into row shards of at most `per` rows, each its own buffer. */
async function shardsOf(ctx: GpuContext, data: Float32Array | Uint16Array, rows: number, cols: number, per: number, dtype: 'f32' | 'f16'): Promise<ShardedWeight> {
  const shards = [];
  for (let r = 0; r < rows; r += per) {
    const n = Math.min(per, rows - r);
    shards.push({ buffer: await uploadBuffer(ctx, data.subarray(r * cols, (r + n) * cols), `shard${r}`), row0: r, rows: n });
  }
  return { shape: [rows, cols], dtype, shards };
}

// [M, N, K]: odd tails everywhere, and shapes rb4x4's vec4 path takes (K % 4 == 0, N % 4 == 0).
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 65, 5],
  [33, 97, 63],
  [5, 4, 8],
  [66, 67, 64],
];

describe('matmul f16 weight reads', () => {
  for (const variant of MATMUL_VARIANTS) {
    for (const wLayout of ['kn', 'nk'] as WeightLayout[]) {
      for (const [M, N, K] of SHAPES) {
        it(`${variant} ${wLayout} M=${M} N=${N} K=${K}: f16 equals its f32 sibling bit for bit and the f64 reference`, async () => {
          const ctx = await testContext();
          const x = randomFloats(M * K, M + 11);
          const { bits, values } = halves(K * N, N + 12);
          const bias = randomFloats(N, K + 13);
          const [gx, gw32, gw16, gb] = await Promise.all([
            uploadBuffer(ctx, x, 'x'),
            uploadBuffer(ctx, values, 'w32'),
            uploadBuffer(ctx, bits, 'w16'),
            uploadBuffer(ctx, bias, 'bias'),
          ]);
          const gy = await allocBuffer(ctx, M * N * 4, 'y');
          const common = { x: gx, bias: gb, y: gy, M, N, K, wLayout, variant, activation: 'gelu_tanh' as const, alpha: 0.5 };
          run(ctx, (pass) => encodeMatmul(ctx, pass, { ...common, w: gw32 }));
          const f32 = await readF32(ctx, gy, M * N);
          const ref = matmulRef({ x, w: values, bias, M, N, K, wLayout, alpha: 0.5, activation: 'gelu_tanh' });
          expectClose(f32, ref, 1e-4, 1e-5);
          for (const read of f16Reads(ctx)) {
            run(ctx, (pass) => encodeMatmul(ctx, pass, { ...common, w: gw16, wDtype: 'f16', wRead: read }));
            expectSameBits(await readF32(ctx, gy, M * N), f32, `${read}`);
          }
          for (const b of [gx, gw32, gw16, gb, gy]) b.destroy();
        });
      }
    }
  }

  it('rejects an f16 weight binding too small for its shape, counting 2 bytes an element', async () => {
    const ctx = await testContext();
    const gx = await allocBuffer(ctx, 64, 'x');
    const gw = await allocBuffer(ctx, 16, 'w');
    const gy = await allocBuffer(ctx, 64, 'y');
    expect(() => run(ctx, (pass) => encodeMatmul(ctx, pass, { x: gx, w: gw, y: gy, M: 1, N: 3, K: 3, wLayout: 'nk', wDtype: 'f16' }))).toThrow(/w must hold \[N=3, K=3\] f16 = 18 bytes/);
    expect(() => weightRead(ctx, 'f32', 'f16-packed')).toThrow(/cannot read f32/);
    for (const b of [gx, gw, gy]) b.destroy();
  });
});

describe('row-sharded matmul (LM head)', () => {
  for (const variant of MATMUL_VARIANTS) {
    for (const dtype of ['f32', 'f16'] as const) {
      it(`${variant} ${dtype}: [N=103, K=37] in shards of 10 rows writes the unsplit logits bit for bit`, async () => {
        const ctx = await testContext();
        const [M, N, K] = [6, 103, 37];
        const x = randomFloats(M * K, 21);
        const { bits, values } = halves(N * K, 22);
        const bias = randomFloats(N, 23);
        const whole = dtype === 'f16' ? bits : values;
        const unsplit = await shardsOf(ctx, whole, N, K, N, dtype);
        const split = await shardsOf(ctx, whole, N, K, 10, dtype);
        expect(split.shards.length).toBe(11);
        const [gx, gb] = await Promise.all([uploadBuffer(ctx, x, 'x'), uploadBuffer(ctx, bias, 'bias')]);
        const gy = await allocBuffer(ctx, M * N * 4, 'y');
        const args = { x: gx, bias: gb, y: gy, M, N, K, wLayout: 'nk' as const, variant: variant as MatmulVariant };
        run(ctx, (pass) => encodeShardedMatmul(ctx, pass, { ...args, w: unsplit }));
        const a = await readF32(ctx, gy, M * N);
        run(ctx, (pass) => encodeShardedMatmul(ctx, pass, { ...args, w: split }));
        expectSameBits(await readF32(ctx, gy, M * N), a, 'sharded');
        expectClose(a, matmulRef({ x, w: values, bias, M, N, K, wLayout: 'nk' }), 1e-4, 1e-5);
        for (const s of [...unsplit.shards, ...split.shards]) s.buffer.destroy();
        for (const b of [gx, gb, gy]) b.destroy();
      });
    }
  }

  it('refuses a sharded [K, N] weight (a K split would change the sums)', async () => {
    const ctx = await testContext();
    const w = await shardsOf(ctx, new Float32Array(8 * 4), 8, 4, 4, 'f32');
    const gx = await allocBuffer(ctx, 64, 'x');
    const gy = await allocBuffer(ctx, 64, 'y');
    expect(() => run(ctx, (pass) => encodeShardedMatmul(ctx, pass, { x: gx, w, y: gy, M: 1, N: 4, K: 8, wLayout: 'kn' }))).toThrow(WeightLayoutError);
    for (const b of [gx, gy, ...w.shards.map((s) => s.buffer)]) b.destroy();
  });
});

describe('embedding f16 word table and row shards', () => {
  for (const dim of [1, 3, 65]) {
    for (const withTypes of [false, true]) {
      it(`dim=${dim}${withTypes ? ' with types' : ''}: f16 and 7 shards equal the unsplit f32 gather bit for bit`, async () => {
        const ctx = await testContext();
        const [rows, vocabRows, posRows, typeRows] = [29, 50, 40, 2];
        const { bits, values } = halves(vocabRows * dim, dim + 31);
        const pos = randomFloats(posRows * dim, 32);
        const type = randomFloats(typeRows * dim, 33);
        const ids = Uint32Array.from({ length: rows }, (_, i) => (i * 17) % vocabRows);
        ids[rows - 1] = 1_000_000; // clamped to the last row, which the last shard holds
        const positions = Uint32Array.from({ length: rows }, (_, i) => i % posRows);
        const types = Uint32Array.from({ length: rows }, (_, i) => i % typeRows);
        const [gIds, gPos, gTypes, gPosT, gTypeT] = await Promise.all([
          uploadBuffer(ctx, ids, 'ids'),
          uploadBuffer(ctx, positions, 'pos'),
          uploadBuffer(ctx, types, 'types'),
          uploadBuffer(ctx, pos, 'posT'),
          uploadBuffer(ctx, type, 'typeT'),
        ]);
        const gOut = await allocBuffer(ctx, rows * dim * 4, 'out');
        const t = withTypes ? { types: gTypes, typeTable: gTypeT, typeRows } : {};
        const base = { ids: gIds, positions: gPos, posTable: gPosT, out: gOut, rows, dim, posRows, ...t };
        const w32 = await shardsOf(ctx, values, vocabRows, dim, vocabRows, 'f32');
        run(ctx, (pass) => encodeEmbedding(ctx, pass, { ...base, wordTable: w32.shards[0].buffer, vocabRows }));
        const f32 = await readF32(ctx, gOut, rows * dim);
        const ref = embeddingRef({ ids, positions, wordTable: values, posTable: pos, rows, dim, vocabRows, posRows, ...(withTypes ? { types, typeTable: type, typeRows } : {}) });
        expectClose(f32, ref, 1e-6, 1e-7);
        const w16 = await shardsOf(ctx, bits, vocabRows, dim, vocabRows, 'f16');
        for (const read of f16Reads(ctx)) {
          run(ctx, (pass) => encodeEmbedding(ctx, pass, { ...base, wordTable: w16.shards[0].buffer, vocabRows, wordDtype: 'f16', wordRead: read }));
          expectSameBits(await readF32(ctx, gOut, rows * dim), f32, read);
        }
        for (const [data, dtype] of [[values, 'f32'], [bits, 'f16']] as const) {
          const split = await shardsOf(ctx, data, vocabRows, dim, 8, dtype);
          expect(split.shards.length).toBe(7);
          run(ctx, (pass) => encodeShardedEmbedding(ctx, pass, { ...base, word: split }));
          expectSameBits(await readF32(ctx, gOut, rows * dim), f32, `${dtype} shards`);
          for (const s of split.shards) s.buffer.destroy();
        }
        for (const b of [gIds, gPos, gTypes, gPosT, gTypeT, gOut, ...w32.shards.map((s) => s.buffer), ...w16.shards.map((s) => s.buffer)]) b.destroy();
      });
    }
  }
});

describe('planRowShards', () => {
  it('packs whole rows up to the limit, every shard within it', () => {
    const plan = planRowShards(50257, 768, 'f32', 128 * 1024 * 1024);
    expect(plan.length).toBe(2);
    expect(plan.every((s) => s.bytes <= 128 * 1024 * 1024)).toBe(true);
    expect(plan.reduce((n, s) => n + s.rows, 0)).toBe(50257);
    expect(planRowShards(50257, 768, 'f16', 128 * 1024 * 1024).length).toBe(1);
    // An odd number of halves still fits: the 4-byte rounding is counted.
    const odd = planRowShards(9, 3, 'f16', 20);
    expect(odd.every((s) => s.bytes <= 20)).toBe(true);
    expect(odd.map((s) => s.rows)).toEqual([3, 3, 3]);
    expect(() => planRowShards(2, 100, 'f32', 64)).toThrow(WeightLayoutError);
  });
});
