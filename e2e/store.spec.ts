import { expect, test } from '@playwright/test';

// Real IndexedDB in Chromium: tenants registered in one page load are there after a reload,
// intact; and the multi-tenant LoRA matches its dense reference on the browser's WebGPU.
test('tenant store persists across reloads in IndexedDB', async ({ page }) => {
  await page.goto('/');
  await page.waitForLoadState('networkidle');
  const written = await page.evaluate(async () => {
    const idb = await import('/src/knowledge/task/store-idb.ts' as string);
    const pack = await import('/src/knowledge/task/pack.ts' as string);
    const store = new idb.IdbTenantStore({ batchRecords: 16 });
    await store.clear();
    const records = Array.from({ length: 40 }, (_, t) => {
      const r = 1 + (t % 5);
      const A = Float32Array.from({ length: r * 8 }, (_, i) => Math.sin(t + i));
      const B = Float32Array.from({ length: 8 * r }, (_, i) => Math.cos(t * 3 + i));
      const adapter = { modules: new Map([['h.0.attn.c_attn', { r, inDim: 8, outDim: 8, scale: 2, A, B }]]), head: new Map() };
      return pack.packTenant(`tenant-${t}`, adapter, { baseModelId: 'tiny', baseModelHash: 'h', domain: 'root', dtype: t % 2 ? 'f16' : 'f32' });
    });
    const progress: number[] = [];
    await store.put(records, (p: { done: number }) => progress.push(p.done));
    return { progress, count: await store.count() };
  });
  expect(written).toEqual({ progress: [16, 32, 40], count: 40 });

  await page.reload();
  const read = await page.evaluate(async () => {
    const idb = await import('/src/knowledge/task/store-idb.ts' as string);
    const pack = await import('/src/knowledge/task/pack.ts' as string);
    const store = new idb.IdbTenantStore();
    const metas = await store.list();
    const rec = await store.get('tenant-7');
    const adapter = pack.unpackTenant(rec);
    const A: Float32Array = adapter.modules.get('h.0.attn.c_attn').A;
    let maxErr = 0;
    for (let i = 0; i < A.length; i++) maxErr = Math.max(maxErr, Math.abs(A[i] - Math.sin(7 + i)));
    await store.clear();
    return { listed: metas.length, rank: rec.meta.maxRank, dtype: rec.meta.dtype, maxErr };
  });
  expect(read.listed).toBe(40);
  expect(read.rank).toBe(3);
  expect(read.dtype).toBe('f16');
  expect(read.maxErr).toBeLessThan(1e-3);
});

test('multi-tenant LoRA matches the dense reference in Chromium WebGPU', async ({ page }) => {
  await page.goto('/');
  await page.waitForLoadState('networkidle');
  const maxErr = await page.evaluate(async () => {
    const dev = await import('/src/gpu/device.ts' as string);
    const buf = await import('/src/gpu/buffers.ts' as string);
    const { AdapterPool } = await import('/src/knowledge/task/pool.ts' as string);
    const { MultiTenantLora } = await import('/src/knowledge/task/multi-lora.ts' as string);
    const ctx = await dev.createGpuContext(navigator.gpu);
    const H = 12;
    const dims = { inDim: 12, outDim: 37 };
    const ranks = [1, 3, 7, 16];
    const mods = ranks.map((r, t) => ({
      r,
      ...dims,
      scale: 0.5 + t,
      A: Float32Array.from({ length: r * dims.inDim }, (_, i) => Math.sin(t * 31 + i)),
      B: Float32Array.from({ length: dims.outDim * r }, (_, i) => Math.cos(t * 17 + i)),
    }));
    const pool = await AdapterPool.create(ctx, { pageFloats: H, budgetBytes: 64 * 1024 });
    mods.forEach((m, t) => pool.load(`t${t}`, { modules: new Map([['mod', m]]), head: new Map() }));
    pool.pin(['t0', 't1', 't2', 't3']);
    const lora = new MultiTenantLora(ctx, pool);
    const segments = [
      { tenantId: 't2', rowStart: 0, rowCount: 5 },
      { tenantId: 't0', rowStart: 6, rowCount: 3 },
      { tenantId: 't3', rowStart: 9, rowCount: 0 },
      { tenantId: 't1', rowStart: 9, rowCount: 7 },
      { tenantId: 't3', rowStart: 16, rowCount: 2 },
    ];
    const rows = 18;
    lora.setBatch(segments);
    const x = Float32Array.from({ length: rows * dims.inDim }, (_, i) => Math.sin(i * 0.37));
    const y0 = Float32Array.from({ length: rows * dims.outDim }, (_, i) => Math.cos(i * 0.11));
    const gx = await buf.uploadBuffer(ctx, x, 'x');
    const gy = await buf.uploadBuffer(ctx, y0, 'y');
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    lora.apply(pass, 'mod', gx, gy, rows, dims.inDim, dims.outDim);
    pass.end();
    ctx.submit([enc.finish()]);
    const y: Float32Array = await buf.readF32(ctx, gy, rows * dims.outDim);
    const ref = Float64Array.from(y0);
    for (const s of segments) {
      const m = mods[Number(s.tenantId.slice(1))];
      for (let i = s.rowStart; i < s.rowStart + s.rowCount; i++) {
        for (let c = 0; c < dims.outDim; c++) {
          let acc = 0;
          for (let k = 0; k < m.r; k++) {
            let t = 0;
            for (let j = 0; j < dims.inDim; j++) t += x[i * dims.inDim + j] * m.A[k * dims.inDim + j];
            acc += t * m.B[c * m.r + k];
          }
          ref[i * dims.outDim + c] += m.scale * acc;
        }
      }
    }
    let err = 0;
    for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(y[i] - ref[i]) / (1 + Math.abs(ref[i])));
    return err;
  });
  expect(maxErr).toBeLessThan(1e-4);
});
