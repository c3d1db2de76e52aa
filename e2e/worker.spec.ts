import { expect, test, type Page } from '@playwright/test';

// The worker boundary (src/worker/client.ts + host.ts) in Chromium. The first tests host a fake
// runtime (e2e/fixtures/fake-runtime.ts) behind the real boundary code, so they pin the
// boundary's own behaviour; the last ones run the real runtime worker on the embedded model.

const FAKE = '/e2e/fixtures/fake-worker.ts';

async function blank(page: Page): Promise<void> {
  await page.goto('/e2e/fixtures/blank.html');
}

test.describe('worker boundary (fake runtime)', () => {
  test.beforeEach(async ({ page }) => blank(page));

  test('progress crosses, results and typed arrays come back, errors keep class and code', async ({ page }) => {
    const r = await page.evaluate(async (fake) => {
      const { createWorkerRuntime } = await import('/src/worker/client.ts' as string);
      const errors = await import('/src/runtime/errors.ts' as string);
      const progress: { phase: string; done: number; total: number }[] = [];
      const rt = await createWorkerRuntime({
        model: '/models/hbert-mini/',
        createWorker: () => new Worker(fake, { type: 'module' }),
        onProgress: (p: { phase: string; done: number; total: number }) => progress.push(p),
      });
      const synthProgress: number[] = [];
      const added = await rt.tenants.addSynthetic({ count: 25 }, (p: { done: number }) => synthProgress.push(p.done));
      const again = await rt.tenants.addSynthetic({ count: 25 });
      const list = await rt.tenants.list();
      const c = await rt.classify('tenant-3', 'hello there world');
      const emb = await rt.embed('tenant-3', 'hello there');
      let unknown: unknown;
      try {
        await rt.classify('nobody', 'hi');
      } catch (e) {
        unknown = e;
      }
      const u = unknown as Error & { code?: string; tenantId?: string };
      await rt.domains.add({ id: 'legal', policy: 'inherit' });
      const plotProgress: string[] = [];
      const report = await rt.domains.build('legal', ['the contract is void', 'the contract is valid'], (p: { phase: string }) => plotProgress.push(p.phase));
      const domains = await rt.domains.list();
      const devProgress: number[] = [];
      const deviation = await rt.domains.deviation('legal', ['the contract is void'], (p: { done: number }) => devProgress.push(p.done));
      let domainError = '';
      try {
        await rt.domains.add({ id: 'tax', parent: 'nowhere' });
      } catch (e) {
        domainError = `${(e as Error).name}/${(e as Error & { code?: string }).code}`;
      }
      const m = await rt.metrics();
      await rt.dispose();
      let afterDispose = '';
      try {
        await rt.info();
      } catch (e) {
        afterDispose = (e as Error).name;
      }
      return {
        progress,
        added,
        again,
        listed: list.length,
        label: c.label,
        scoreSum: c.scores.reduce((a: number, b: number) => a + b, 0),
        synthLast: synthProgress.at(-1),
        embIsF32: emb.hidden instanceof Float32Array,
        embLen: emb.hidden.length,
        embShape: emb.shape,
        unknownIsClass: unknown instanceof errors.UnknownTenantError,
        unknownName: u.name,
        unknownCode: u.code,
        unknownTenant: u.tenantId,
        unknownMessage: u.message,
        served: m.requestsServed,
        afterDispose,
        report,
        plotProgress,
        domainIds: domains.map((d: { id: string }) => d.id).sort(),
        legalPolicy: domains.find((d: { id: string }) => d.id === 'legal')?.policy,
        deviation,
        devProgress,
        domainError,
      };
    }, FAKE);
    expect(r.progress.length).toBeGreaterThan(0);
    expect(r.progress.at(-1)).toEqual({ phase: 'loading weights', done: 3, total: 3 });
    expect(r.added).toBe(25);
    expect(r.again).toBe(0);
    expect(r.listed).toBe(25);
    expect(r.synthLast).toBe(25);
    expect(r.label).toMatch(/^LABEL_\d$/);
    expect(r.scoreSum).toBeCloseTo(1, 5);
    expect(r.embIsF32).toBe(true);
    expect(r.embLen).toBe(2 * 8);
    expect(r.embShape).toEqual([2, 8]);
    expect(r.unknownIsClass).toBe(true);
    expect(r.unknownName).toBe('UnknownTenantError');
    expect(r.unknownCode).toBe('UNKNOWN_TENANT');
    expect(r.unknownTenant).toBe('nobody');
    expect(r.unknownMessage).toContain('nobody');
    expect(r.served).toBe(2);
    expect(r.afterDispose).toBe('RuntimeDisposedError');
    expect(r.report).toMatchObject({ sequences: 2, tokens: 8 });
    expect(r.plotProgress).toEqual(['plot']);
    expect(r.domainIds).toEqual(['general', 'legal']);
    expect(r.legalPolicy).toBe('inherit');
    expect(r.deviation).toEqual({ meanCosine: 1, maxAbsDiff: 0, rows: 4, inheritedRows: 0 });
    expect(r.devProgress).toEqual([1]);
    expect(r.domainError).toBe('UnknownDomainError/UNKNOWN_DOMAIN');
  });

  test('generate streams chunks across the boundary and stops on abort', async ({ page }) => {
    const r = await page.evaluate(async (fake) => {
      const { createWorkerRuntime } = await import('/src/worker/client.ts' as string);
      const rt = await createWorkerRuntime({ model: '/models/hgpt-mini/', createWorker: () => new Worker(fake, { type: 'module' }) });
      await rt.tenants.addSynthetic({ count: 2 });
      const full: { text: string; done: boolean; finishReason?: string }[] = [];
      for await (const c of rt.generate('tenant-1', 'once upon a time', { maxTokens: 12 })) full.push(c);
      const ac = new AbortController();
      const partial: { done: boolean; finishReason?: string }[] = [];
      for await (const c of rt.generate('tenant-1', 'once upon a time', { maxTokens: 10_000, signal: ac.signal })) {
        partial.push(c);
        if (partial.length === 3) ac.abort();
      }
      // Breaking out early must release the stream and leave the runtime usable.
      for await (const c of rt.generate('tenant-0', 'again', { maxTokens: 50 })) if (c.tokenId >= 0) break;
      const after = await rt.classify('tenant-0', 'still alive');
      await rt.dispose();
      return { full, partialLen: partial.length, partialEnd: partial.at(-1), after: after.tenantId };
    }, FAKE);
    expect(r.full.length).toBe(13);
    expect(r.full.slice(0, 12).every((c) => !c.done && c.text.length > 0)).toBe(true);
    expect(r.full.at(-1)).toMatchObject({ done: true, finishReason: 'length' });
    expect(r.partialLen).toBeLessThan(100);
    expect(r.partialEnd).toMatchObject({ done: true, finishReason: 'abort' });
    expect(r.after).toBe('tenant-0');
  });

  test('completions.create works across the boundary, whole or streamed, and aborts', async ({ page }) => {
    const r = await page.evaluate(async (fake) => {
      const { createWorkerRuntime } = await import('/src/worker/client.ts' as string);
      const rt = await createWorkerRuntime({ model: '/models/hgpt-mini/', createWorker: () => new Worker(fake, { type: 'module' }) });
      await rt.tenants.addSynthetic({ count: 2 });
      const whole = await rt.completions.create({ model: 'tenant-1', prompt: 'once upon a time', max_tokens: 5 });
      const stream = await rt.completions.create({ model: 'tenant-1', prompt: 'once upon a time', max_tokens: 5, stream: true });
      const chunks: { text: string; finish: string | null }[] = [];
      for await (const c of stream) chunks.push({ text: c.choices[0].text, finish: c.choices[0].finish_reason });
      const ac = new AbortController();
      const long = await rt.completions.create({ model: 'tenant-0', prompt: 'go on', max_tokens: 100_000, stream: true }, { signal: ac.signal });
      let n = 0;
      let lastFinish: string | null = null;
      for await (const c of long) {
        if (++n === 3) ac.abort();
        lastFinish = c.choices[0].finish_reason;
      }
      // Aborted before the call: the abort must still reach the worker's request.
      const pre = new AbortController();
      pre.abort();
      const cut = await rt.completions.create({ model: 'tenant-0', prompt: 'go on', max_tokens: 100_000 }, { signal: pre.signal });
      let unknown = '';
      try {
        await rt.completions.create({ model: 'nobody', prompt: 'hi' });
      } catch (e) {
        unknown = (e as Error).name;
      }
      await rt.dispose();
      return { whole, chunks, n, lastFinish, unknown, cut };
    }, FAKE);
    expect(r.whole.object).toBe('text_completion');
    expect(r.whole.model).toBe('tenant-1');
    expect(r.whole.choices[0].text).toMatch(/^( w\d+){5}$/);
    expect(r.whole.choices[0].finish_reason).toBe('length');
    expect(r.whole.usage).toEqual({ prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
    expect(r.chunks.map((c) => c.text).join('')).toBe(r.whole.choices[0].text);
    expect(r.chunks.at(-1)!.finish).toBe('length');
    expect(r.n).toBeLessThan(100);
    expect(r.lastFinish).toBe('abort');
    expect(r.cut.choices[0].finish_reason).toBe('abort');
    expect(r.cut.usage.completion_tokens).toBeLessThan(100);
    expect(r.unknown).toBe('UnknownTenantError');
  });

  test('a bad model URL rejects with the model error, and each later call retries with a fresh worker', async ({ page }) => {
    const r = await page.evaluate(async (fake) => {
      const { WorkerRuntime } = await import('/src/worker/client.ts' as string);
      let spawned = 0;
      const rt = new WorkerRuntime({
        model: '/models/missing/',
        createWorker: () => {
          spawned++;
          return new Worker(fake, { type: 'module' });
        },
      });
      const attempt = async (): Promise<{ name: string; code: string; message: string }> => {
        try {
          await rt.info();
          return { name: 'none', code: '', message: '' };
        } catch (e) {
          const err = e as Error & { code?: string };
          return { name: err.name, code: err.code ?? '', message: err.message };
        }
      };
      const first = await attempt();
      const second = await attempt();
      await rt.dispose();
      return { ...first, secondName: second.name, spawned };
    }, FAKE);
    expect(r.name).toBe('ModelLoadError');
    expect(r.code).toBe('MODEL_LOAD');
    expect(r.message).toContain('/models/missing/');
    // The failed worker was dropped: the next call tried again with a fresh one.
    expect(r.secondName).toBe('ModelLoadError');
    expect(r.spawned).toBe(2);
  });

  test('a crash rejects in-flight calls with WorkerCrashedError and the next call restarts the worker', async ({ page }) => {
    const r = await page.evaluate(async (fake) => {
      const { createWorkerRuntime } = await import('/src/worker/client.ts' as string);
      const { WorkerCrashedError } = await import('/src/worker/errors.ts' as string);
      let spawned = 0;
      const rt = await createWorkerRuntime({
        createWorker: () => {
          spawned++;
          return new Worker(fake, { type: 'module' });
        },
        heartbeatMs: 100,
        heartbeatTimeoutMs: 1000,
      });
      await rt.tenants.addSynthetic({ count: 3 });
      const inflight = [rt.classify('tenant-0', 'slow one'), rt.classify('tenant-1', 'slow two')].map((p) =>
        p.then(
          () => 'resolved',
          (e: Error & { code?: string }) => ({ isClass: e instanceof WorkerCrashedError, name: e.name, code: e.code, message: e.message }),
        ),
      );
      const stream = (async () => {
        try {
          for await (const c of rt.generate('tenant-2', 'slow stream', { maxTokens: 100_000 })) void c;
          return 'finished';
        } catch (e) {
          return (e as Error).name;
        }
      })();
      rt.crashWorkerForTesting();
      const rejected = await Promise.all(inflight);
      const streamEnd = await stream;
      const crashes = rt.crashCount;
      // The worker restarts on the next call; the fake keeps tenants in memory, so register again.
      await rt.tenants.addSynthetic({ count: 3 });
      const after = await rt.classify('tenant-0', 'fast again');
      await rt.dispose();
      return { rejected, streamEnd, crashes, spawned, after: after.tenantId };
    }, FAKE);
    for (const x of r.rejected) {
      expect(x).toMatchObject({ isClass: true, name: 'WorkerCrashedError', code: 'WORKER_CRASHED' });
      expect((x as { message: string }).message).toContain('heartbeat');
    }
    expect(r.streamEnd).toBe('WorkerCrashedError');
    expect(r.crashes).toBe(1);
    expect(r.spawned).toBe(2);
    expect(r.after).toBe('tenant-0');
  });

  test('a worker that fails to load rejects creation with WorkerCrashedError instead of hanging', async ({ page }) => {
    const r = await page.evaluate(async () => {
      const { createWorkerRuntime } = await import('/src/worker/client.ts' as string);
      try {
        await createWorkerRuntime({ createWorker: () => new Worker('/e2e/fixtures/broken-worker.ts', { type: 'module' }) });
        return 'created';
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
    });
    expect(r).toMatch(/^WorkerCrashedError: /);
  });
});

test.describe('worker boundary (real runtime)', () => {
  test.beforeEach(async ({ page }) => blank(page));

  test('the runtime worker loads the embedded model, classifies, and recovers from a crash', async ({ page }) => {
    const r = await page.evaluate(async () => {
      const { createWorkerRuntime } = await import('/src/worker/client.ts' as string);
      const phases = new Set<string>();
      const rt = await createWorkerRuntime({
        model: '/models/hbert-mini/',
        storeName: 'hmi-e2e-worker',
        heartbeatMs: 200,
        heartbeatTimeoutMs: 3000,
        onProgress: (p: { phase: string }) => phases.add(p.phase),
      });
      const info = await rt.info();
      await rt.tenants.addSynthetic({ count: 4 });
      const c = await rt.classify('tenant-1', 'the delivery was late');
      const pending = rt.classify('tenant-2', 'a request caught by the crash').then(
        () => 'resolved',
        (e: Error) => e.name,
      );
      rt.crashWorkerForTesting();
      const crashed = await pending;
      // Tenants persist in IndexedDB: the restarted worker knows them without registering again.
      const again = await rt.classify('tenant-1', 'the delivery was late');
      await rt.dispose();
      return { family: info.family, phases: [...phases], label: c.label, scores: c.scores.length, crashed, sameLabel: again.label === c.label };
    });
    expect(r.family).toBe('bert');
    expect(r.phases.length).toBeGreaterThan(0);
    expect(r.label.length).toBeGreaterThan(0);
    expect(r.scores).toBeGreaterThanOrEqual(2);
    // The classify needs GPU round trips, so it is still in flight when the worker stops.
    expect(r.crashed).toBe('WorkerCrashedError');
    expect(r.sameLabel).toBe(true);
  });
});
