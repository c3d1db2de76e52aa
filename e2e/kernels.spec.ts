import { expect, test } from '@playwright/test';

// Runs the kernels inside the page (Vite serves the TypeScript) and checks them against
// the CPU references, in the browser the users have.
test('add kernel matches its CPU reference in Chromium WebGPU', async ({ page }) => {
  await page.goto('/');
  const result = await page.evaluate(async () => {
    const dev = await import('/src/gpu/device.ts' as string);
    const buf = await import('/src/gpu/buffers.ts' as string);
    const disp = await import('/src/gpu/dispatch.ts' as string);
    const add = await import('/src/kernels/add.ts' as string);
    const ctx = await dev.createGpuContext(navigator.gpu);
    const n = 1001;
    const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.5));
    const ga = await buf.uploadBuffer(ctx, a, 'a');
    const gb = await buf.uploadBuffer(ctx, b, 'b');
    const go = await buf.allocBuffer(ctx, n * 4, 'o');
    disp.run(ctx, (pass: GPUComputePassEncoder) => add.encodeAdd(ctx, pass, ga, gb, go, n));
    const out: Float32Array = await buf.readF32(ctx, go, n);
    let maxErr = 0;
    for (let i = 0; i < n; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - Math.fround(a[i] + b[i])));
    return { maxErr, arch: ctx.adapterInfo.architecture as string };
  });
  expect(result.maxErr).toBe(0);
  expect(result.arch.length).toBeGreaterThan(0);
});
