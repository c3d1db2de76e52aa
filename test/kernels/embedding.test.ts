import { describe, expect, it } from 'vitest';
import { encodeEmbedding, type EmbeddingArgs } from '../../src/kernels/embedding.js';
import { embeddingRef } from '../../src/kernels/cpu/embedding.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

function ids(n: number, seed: number, max: number): Uint32Array {
  return Uint32Array.from(randomFloats(n, seed), (v) => Math.floor(((v + 1) / 2) * max));
}

describe('embedding kernel', () => {
  for (const withTypes of [false, true]) {
    for (const rows of [1, 7, 33]) {
      for (const dim of [1, 3, 65, 769]) {
        it(`matches the CPU reference for ${rows}x${dim}${withTypes ? ' with token types' : ''}`, async () => {
          const ctx = await testContext();
          const vocabRows = 50;
          const posRows = 40;
          const typeRows = 2;
          const word = randomFloats(vocabRows * dim, 1);
          const pos = randomFloats(posRows * dim, 2);
          const type = randomFloats(typeRows * dim, 3);
          const tokenIds = ids(rows, rows + dim, vocabRows);
          const positions = Uint32Array.from({ length: rows }, (_, i) => (i * 7) % posRows);
          const types = ids(rows, 9, typeRows);
          if (rows > 1) {
            // Past the tables: the kernel clamps instead of reading out of bounds.
            tokenIds[rows - 1] = 1_000_000;
            positions[0] = posRows;
            types[rows - 1] = 5;
          }
          const gIds = await uploadBuffer(ctx, tokenIds, 'ids');
          const gPos = await uploadBuffer(ctx, positions, 'positions');
          const gTypes = await uploadBuffer(ctx, types, 'types');
          const gWord = await uploadBuffer(ctx, word, 'word');
          const gPosT = await uploadBuffer(ctx, pos, 'pos');
          const gTypeT = await uploadBuffer(ctx, type, 'type');
          const gOut = await allocBuffer(ctx, rows * dim * 4, 'out');
          const typeArgs = withTypes ? { types: gTypes, typeTable: gTypeT, typeRows } : {};
          run(ctx, (pass) =>
            encodeEmbedding(ctx, pass, { ids: gIds, positions: gPos, wordTable: gWord, posTable: gPosT, out: gOut, rows, dim, vocabRows, posRows, ...typeArgs }),
          );
          const out = await readF32(ctx, gOut, rows * dim);
          const ref = embeddingRef({
            ids: tokenIds,
            positions,
            wordTable: word,
            posTable: pos,
            rows,
            dim,
            vocabRows,
            posRows,
            ...(withTypes ? { types, typeTable: type, typeRows } : {}),
          });
          expectClose(out, ref, 1e-6, 1e-7);
          for (const b of [gIds, gPos, gTypes, gWord, gPosT, gTypeT, gOut]) b.destroy();
        });
      }
    }
  }

  it('rejects bad shapes with ShapeError', async () => {
    const ctx = await testContext();
    const b = await allocBuffer(ctx, 64, 'b');
    const out = await allocBuffer(ctx, 64, 'out');
    const base: EmbeddingArgs = { ids: b, positions: b, wordTable: b, posTable: b, out, rows: 4, dim: 2, vocabRows: 8, posRows: 8 };
    ctx.device.pushErrorScope('validation');
    run(ctx, (pass) => encodeEmbedding(ctx, pass, base));
    run(ctx, (pass) => encodeEmbedding(ctx, pass, { ...base, types: b, typeTable: b, typeRows: 2 }));
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => run(ctx, (pass) => encodeEmbedding(ctx, pass, { ...base, out: b }))).toThrow(/different GPUBuffer/);
    expect(() => run(ctx, (pass) => encodeEmbedding(ctx, pass, { ...base, vocabRows: 9 }))).toThrow(ShapeError);
    expect(() => run(ctx, (pass) => encodeEmbedding(ctx, pass, { ...base, posRows: 0 }))).toThrow(ShapeError);
    expect(() => run(ctx, (pass) => encodeEmbedding(ctx, pass, { ...base, typeTable: b, typeRows: 2 }))).toThrow(ShapeError);
    b.destroy();
    out.destroy();
  });
});
