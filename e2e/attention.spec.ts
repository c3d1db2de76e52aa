import { expect, test } from '@playwright/test';

// Attention in the browser the users have: both kernel variants, causal (GPT-2 fused qkv,
// prefill and decode) and masked bidirectional (BERT), several sequences per dispatch,
// against the f64 reference evaluated in the same page.
test('attention kernels match the JS reference in Chromium WebGPU', async ({ page }) => {
  await page.goto('/');
  const results = await page.evaluate(async () => {
    const dev = await import('/src/gpu/device.ts' as string);
    const buf = await import('/src/gpu/buffers.ts' as string);
    const disp = await import('/src/gpu/dispatch.ts' as string);
    const att = await import('/src/kernels/attention.ts' as string);
    const ref = await import('/src/kernels/cpu/attention.ts' as string);
    const ctx = await dev.createGpuContext(navigator.gpu);

    let seed = 12345;
    const rand = (n: number): Float32Array =>
      Float32Array.from({ length: n }, () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return (seed / 4294967296) * 2 - 1;
      });

    interface Case {
      name: string;
      numHeads: number;
      headDim: number;
      causal: boolean;
      fused: boolean;
      /** qStart, qLen, kvStart, kvLen per sequence. */
      seqs: number[][];
      qRows: number;
      kvRows: number;
      mask?: number[];
    }
    const cases: Case[] = [
      // GPT-2 prefill: one [T, 3H] buffer bound as q, k and v.
      { name: 'causal fused qkv', numHeads: 3, headDim: 16, causal: true, fused: true, seqs: [[0, 5, 0, 5], [5, 17, 5, 17], [22, 40, 22, 40]], qRows: 62, kvRows: 62 },
      // GPT-2 decode: one new row per sequence over its cache.
      { name: 'causal decode', numHeads: 2, headDim: 64, causal: true, fused: false, seqs: [[0, 1, 0, 9], [1, 1, 12, 40], [2, 2, 60, 17]], qRows: 4, kvRows: 77 },
      // BERT: trailing padding masked; the third sequence is all padding.
      {
        name: 'masked bidirectional',
        numHeads: 3,
        headDim: 5,
        causal: false,
        fused: false,
        seqs: [[0, 17, 0, 17], [17, 40, 17, 40], [57, 3, 57, 3]],
        qRows: 60,
        kvRows: 60,
        mask: Array.from({ length: 60 }, (_, r) => (r < 12 || (r >= 17 && r < 50) ? 1 : 0)),
      },
    ];

    const out: { name: string; variant: string; maxErr: number; zeros: boolean }[] = [];
    for (const c of cases) {
      const width = c.numHeads * c.headDim;
      const layout = c.fused
        ? { qStride: 3 * width, qOffset: 0, kvStride: 3 * width, kOffset: width, vOffset: 2 * width }
        : { qStride: width, qOffset: 0, kvStride: width, kOffset: 0, vOffset: 0 };
      const q = rand(c.qRows * layout.qStride);
      const k = c.fused ? q : rand(c.kvRows * width);
      const v = c.fused ? q : rand(c.kvRows * width);
      const seqs = Uint32Array.from(c.seqs.flat());
      const mask = c.mask ? Uint32Array.from(c.mask) : undefined;
      const gq = await buf.uploadBuffer(ctx, q, 'q');
      const gk = c.fused ? gq : await buf.uploadBuffer(ctx, k, 'k');
      const gv = c.fused ? gq : await buf.uploadBuffer(ctx, v, 'v');
      const gs = await buf.uploadBuffer(ctx, seqs, 'seqs');
      const gm = mask ? await buf.uploadBuffer(ctx, mask, 'mask') : undefined;
      const go = await buf.allocBuffer(ctx, c.qRows * width * 4, 'out');
      const common = { numSeqs: c.seqs.length, qRows: c.qRows, numHeads: c.numHeads, headDim: c.headDim, causal: c.causal, ...layout };
      const want: Float64Array = ref.attentionRef({ q, k, v, seqs, keyMask: mask, ...common });
      for (const variant of ['workgroup', 'thread']) {
        disp.run(ctx, (pass: GPUComputePassEncoder) =>
          att.encodeAttention(ctx, pass, { q: gq, k: gk, v: gv, out: go, seqs: gs, keyMask: gm, kvRows: c.kvRows, variant, ...common }),
        );
        const got: Float32Array = await buf.readF32(ctx, go, c.qRows * width);
        let maxErr = 0;
        for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Number.isFinite(got[i]) ? Math.abs(got[i] - want[i]) : Infinity);
        // Rows 57..59 (all keys masked) must come out as exact zeros.
        const zeros = c.mask ? Array.from(got.subarray(57 * width)).every((x) => x === 0) : true;
        out.push({ name: c.name, variant, maxErr, zeros });
      }
      for (const b of new Set([gq, gk, gv, gs, go, ...(gm ? [gm] : [])])) b.destroy();
    }
    return out;
  });
  expect(results).toHaveLength(6);
  for (const r of results) {
    expect(r.maxErr, `${r.name} (${r.variant})`).toBeLessThan(1e-5);
    expect(r.zeros, `${r.name} (${r.variant}) zero rows`).toBe(true);
  }
});
