import { expect, test } from '@playwright/test';

// Every matmul variant inside Chromium's WebGPU (Vite serves the TypeScript) on odd shapes,
// against the f64 CPU reference evaluated in the same page.
test('matmul variants match the CPU reference in Chromium WebGPU', async ({ page }) => {
  await page.goto('/');
  const failures = await page.evaluate(async () => {
    const dev = await import('/src/gpu/device.ts' as string);
    const buf = await import('/src/gpu/buffers.ts' as string);
    const disp = await import('/src/gpu/dispatch.ts' as string);
    const mm = await import('/src/kernels/matmul.ts' as string);
    const cpu = await import('/src/kernels/cpu/matmul.ts' as string);
    const ctx = await dev.createGpuContext(navigator.gpu);
    const rand = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.31 + i * 1.618) * 1.3);
    const epilogues = [
      {},
      { bias: true, alpha: 0.5, activation: 'gelu_erf' },
      { bias: true, accumulate: true, activation: 'gelu_tanh' },
    ] as { bias?: boolean; alpha?: number; accumulate?: boolean; activation?: string }[];
    const out: string[] = [];
    for (const [M, N, K] of [[1, 3, 5], [7, 65, 5], [33, 97, 63], [5, 4, 8], [130, 9, 129]]) {
      const x = rand(M * K, 1);
      const w = rand(K * N, 2);
      const bias = rand(N, 3);
      const y0 = rand(M * N, 4);
      const gx = await buf.uploadBuffer(ctx, x, 'x');
      const gw = await buf.uploadBuffer(ctx, w, 'w');
      const gb = await buf.uploadBuffer(ctx, bias, 'bias');
      const gy = await buf.allocBuffer(ctx, M * N * 4, 'y');
      for (const variant of mm.MATMUL_VARIANTS as string[]) {
        for (const wLayout of ['kn', 'nk']) {
          for (const e of epilogues) {
            buf.writeBuffer(ctx, gy, y0);
            const common = { M, N, K, wLayout, alpha: e.alpha, accumulate: e.accumulate, activation: e.activation };
            disp.run(ctx, (pass: GPUComputePassEncoder) =>
              mm.encodeMatmul(ctx, pass, { ...common, x: gx, w: gw, y: gy, variant, ...(e.bias ? { bias: gb } : {}) }),
            );
            const got: Float32Array = await buf.readF32(ctx, gy, M * N);
            const ref: Float64Array = cpu.matmulRef({ ...common, x, w, y: y0, ...(e.bias ? { bias } : {}) });
            let worst = 0;
            for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]) / (1 + Math.abs(ref[i])));
            if (!(worst <= 1e-4)) out.push(`${variant} ${wLayout} ${M}x${N}x${K} ${JSON.stringify(e)}: worst scaled error ${worst}`);
          }
        }
      }
      for (const b of [gx, gw, gb, gy]) b.destroy();
    }
    ctx.destroy();
    return out;
  });
  expect(failures).toEqual([]);
});
