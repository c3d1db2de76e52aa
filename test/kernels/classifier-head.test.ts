import { describe, expect, it } from 'vitest';
import { encodeClassifierHead, type ClassifierHeadParams } from '../../src/kernels/classifier-head.js';
import { classifierHeadRef } from '../../src/kernels/cpu/classifier-head.js';
import { run } from '../../src/gpu/dispatch.js';
import { readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';
import { pagedBatch, randomAdapter } from '../knowledge/task/fixtures.js';

async function headOnGpu(pool: Float32Array, requests: Uint32Array, table: Uint32Array, pooled: Float32Array, logits0: Float32Array, p: ClassifierHeadParams): Promise<Float32Array> {
  const ctx = await testContext();
  const bufs = await Promise.all([
    uploadBuffer(ctx, pooled, 'pooled'),
    uploadBuffer(ctx, pool, 'pool'),
    uploadBuffer(ctx, requests, 'requests'),
    uploadBuffer(ctx, table, 'table'),
    uploadBuffer(ctx, logits0, 'logits'),
  ]);
  const [gpooled, gpool, greq, gtable, glogits] = bufs;
  run(ctx, (pass) => encodeClassifierHead(ctx, pass, { pooled: gpooled, pool: gpool, requests: greq, table: gtable, logits: glogits }, p));
  const out = await readF32(ctx, glogits, logits0.length);
  for (const buf of bufs) buf.destroy();
  return out;
}

describe('classifier_head kernel', () => {
  for (const { H, hidden, tenants, numRequests } of [
    { H: 15, hidden: 15, tenants: 9, numRequests: 13 },
    { H: 15, hidden: 37, tenants: 5, numRequests: 1 },
    { H: 8, hidden: 8, tenants: 20, numRequests: 41 },
  ]) {
    it(`matches the CPU reference and W @ pooled + b: H=${H}, hidden=${hidden}, ${numRequests} requests`, async () => {
      // Label counts 1..20 (some above H, so the bias row spans pages); tenant 3 has no head.
      const adapters = Array.from({ length: tenants }, (_, t) => randomAdapter(t + 1, [], t === 3 ? undefined : { numLabels: 1 + ((t * 7) % 20), hidden }));
      const b = pagedBatch(H, adapters, 'none', [], 11 + hidden);
      const tenantOf = (q: number): number => (q * 5) % tenants;
      const requests = new Uint32Array(numRequests * 4);
      for (let q = 0; q < numRequests; q++) requests.set(b.heads.subarray(tenantOf(q) * 4, tenantOf(q) * 4 + 4), q * 4);
      const maxLabels = Math.max(...Array.from({ length: numRequests }, (_, q) => requests[q * 4]));
      const pooled = randomFloats(numRequests * hidden, 4);
      const logits0 = randomFloats(numRequests * maxLabels, 5, 50);
      const p: ClassifierHeadParams = { numRequests, inDim: hidden, pageFloats: H, maxLabels, shard: 0 };
      const out = await headOnGpu(b.pool, requests, b.table, pooled, logits0, p);
      const ref = classifierHeadRef({ pooled, pool: b.pool, requests, table: b.table, logits: logits0 }, p);
      expectClose(out, ref, 1e-5, 1e-5);
      for (let q = 0; q < numRequests; q++) {
        const head = adapters[tenantOf(q)].head;
        const w = head.get('classifier.weight');
        const bias = head.get('classifier.bias');
        for (let l = 0; l < maxLabels; l++) {
          let e = 0;
          if (w && bias && l < w.shape[0]) {
            e = bias.data[l];
            for (let j = 0; j < hidden; j++) e += w.data[l * hidden + j] * pooled[q * hidden + j];
          }
          expect(Math.abs(ref[q * maxLabels + l] - e)).toBeLessThan(1e-9);
        }
      }
    });
  }

  it('leaves requests of other pool buffers untouched and clamps bad page indices', async () => {
    const H = 6;
    const adapters = [randomAdapter(1, [], { numLabels: 3, hidden: 6 }), randomAdapter(2, [], { numLabels: 4, hidden: 6 })];
    const b = pagedBatch(H, adapters, 'none', [], 2);
    const table = b.table.slice();
    table[b.heads[1]] = 0xffffffff;
    const requests = new Uint32Array([...b.heads.subarray(0, 4), ...b.heads.subarray(4, 8)]);
    requests[7] = 1;
    const pooled = randomFloats(12, 3);
    const logits0 = randomFloats(8, 4, 50);
    const p: ClassifierHeadParams = { numRequests: 2, inDim: 6, pageFloats: H, maxLabels: 4, shard: 0 };
    const out = await headOnGpu(b.pool, requests, table, pooled, logits0, p);
    expectClose(out, classifierHeadRef({ pooled, pool: b.pool, requests, table, logits: logits0 }, p), 1e-5, 1e-5);
    expect(Array.from(out.subarray(4))).toEqual(Array.from(logits0.subarray(4)));
  });
});
