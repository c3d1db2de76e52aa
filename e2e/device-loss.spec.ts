import { expect, test } from '@playwright/test';

// Device loss on the browser's WebGPU: destroy the runtime's device while batches are queued
// and running; every request must still complete with the same answer, and the runtime keeps
// serving on the recreated device.
test('the runtime recovers from a lost GPU device mid-batch in Chromium', async ({ page }) => {
  await page.goto('/e2e/fixtures/blank.html');
  const r = await page.evaluate(async () => {
    const { createRuntime } = await import('/src/create-runtime.ts' as string);
    const { MemoryTenantStore } = await import('/src/knowledge/task/store-memory.ts' as string);
    const rt = await createRuntime({ model: '/models/hbert-mini/', store: new MemoryTenantStore(), tokenBudget: 128 });
    await rt.tenants.addSynthetic({ count: 6, seed: 3 });
    const texts = ['the delivery arrived late', 'great support team', 'how do I reset my password', 'the box was crushed'];
    const ids = Array.from({ length: 6 }, (_, i) => `tenant-${i}`);
    const ask = (): Promise<number[][]> => Promise.all(ids.map((id, i) => rt.classify(id, texts[i % texts.length]).then((x: { scores: number[] }) => x.scores)));
    const before = await ask();
    const inflight = ask();
    await new Promise((resolve) => setTimeout(resolve, 5));
    (rt as unknown as { engine: { ctx: { device: GPUDevice } } }).engine.ctx.device.destroy();
    const during = await inflight;
    const after = await ask();
    const m = await rt.metrics();
    await rt.dispose();
    return { before, during, after, recoveries: m.deviceRecoveries as number };
  });
  expect(r.during).toEqual(r.before);
  expect(r.after).toEqual(r.before);
  expect(r.recoveries).toBe(1);
});
