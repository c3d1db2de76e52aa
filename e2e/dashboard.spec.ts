import { spawnSync } from 'node:child_process';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { expect, test, type Locator, type Page } from '@playwright/test';

// <hmi-dashboard> in Chromium. "demo" tests open the demo page on the real runtime and the
// embedded model; "fake runtime" tests hand the element a worker runtime hosting the test fake
// (e2e/fixtures/fake-runtime.ts), which pins the UI's behaviour independently of the model.

const METRIC_FIELDS = [
  'requestsPerSecond',
  'tokensPerSecond',
  'tenantsRegistered',
  'tenantsResident',
  'queueDepth',
  'p50Ms',
  'p99Ms',
  'poolBytesUsed',
  'poolBytesTotal',
];

function dashboard(page: Page): Locator {
  return page.locator('hmi-dashboard');
}

/** Collects hmi-metrics events on window (they bubble out of the shadow root: composed). */
async function recordMetrics(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { metricsEvents: { detail: Record<string, unknown>; at: number; composed: boolean }[] };
    w.metricsEvents = [];
    window.addEventListener('hmi-metrics', (e) => {
      const ce = e as CustomEvent<Record<string, unknown>>;
      w.metricsEvents.push({ detail: ce.detail, at: performance.now(), composed: ce.composed });
    });
  });
}

async function metricsEvents(page: Page): Promise<{ detail: Record<string, unknown>; at: number; composed: boolean }[]> {
  return page.evaluate(() => (window as unknown as { metricsEvents: { detail: Record<string, unknown>; at: number; composed: boolean }[] }).metricsEvents);
}

async function mountWithFake(page: Page, attrs: string, model = '/models/hbert-mini/'): Promise<void> {
  await page.goto('/e2e/fixtures/blank.html');
  await recordMetrics(page);
  await page.evaluate(
    async ({ attrs, model }) => {
      await import('/src/ui/dashboard.ts' as string);
      const { createWorkerRuntime } = await import('/src/worker/client.ts' as string);
      const rt = await createWorkerRuntime({
        model,
        createWorker: () => new Worker('/e2e/fixtures/fake-worker.ts', { type: 'module' }),
        heartbeatMs: 100,
        heartbeatTimeoutMs: 1000,
      });
      const host = document.createElement('div');
      host.innerHTML = `<hmi-dashboard ${attrs}></hmi-dashboard>`;
      const el = host.firstElementChild as HTMLElement & { runtime: unknown };
      document.body.append(el);
      el.runtime = rt;
    },
    { attrs, model },
  );
}

test.describe('dashboard (fake runtime)', () => {
  test('reaches ready, lists tenants, shows throughput under load and emits hmi-metrics', async ({ page }) => {
    await mountWithFake(page, 'tenants="50" autostart');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    await expect(el.locator('table[aria-label="Tenants"] tbody tr')).toHaveCount(25);
    await expect(el.locator('.pager')).toContainText('of 50');
    await expect.poll(async () => Number(await el.locator('[data-kpi=rps]').textContent())).toBeGreaterThan(0);
    await expect.poll(async () => (await metricsEvents(page)).length).toBeGreaterThanOrEqual(3);
    const events = await metricsEvents(page);
    for (const e of events) {
      expect(Object.keys(e.detail).sort()).toEqual([...METRIC_FIELDS].sort());
      for (const f of METRIC_FIELDS) expect(typeof e.detail[f]).toBe('number');
      expect(e.composed).toBe(true);
    }
    expect(events.at(-1)!.detail.tenantsRegistered).toBe(50);
    expect(events.some((e) => (e.detail.requestsPerSecond as number) > 0)).toBe(true);
    // The table pages and filters.
    await el.getByRole('button', { name: 'Next page' }).click();
    await expect(el.locator('.pager')).toContainText('26–50 of 50');
    await el.getByRole('searchbox', { name: 'Filter tenants' }).fill('tenant-4');
    await expect(el.locator('.pager')).toContainText('of 11');
    await expect(el.locator('[data-counter=completed] dd')).not.toHaveText('0');
    await expect(el.locator('.domain-tree [data-domain=general]')).toContainText('50 tenants');
  });

  test('the try-it panel classifies with a tenant chosen by the user', async ({ page }) => {
    await mountWithFake(page, 'tenants="50"');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    await el.getByLabel('Tenant', { exact: true }).fill('tenant-7');
    await el.getByLabel('Text', { exact: true }).fill('where is my parcel');
    await el.getByRole('button', { name: 'Classify' }).click();
    await expect(el.locator('.try-output .label')).toHaveText(/^LABEL_\d$/);
    await expect(el.locator('.try-output')).toContainText('tenant-7 says');
    const bars = el.locator('.try-output .score');
    expect(await bars.count()).toBeGreaterThanOrEqual(2);
    await expect(el.locator('.try-output .score.best')).toHaveCount(1);
  });

  test('on a GPT-2 model the try-it panel streams generated text and the generator mixes in generate()', async ({ page }) => {
    await mountWithFake(page, 'tenants="10"', '/models/hgpt-mini/');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    await expect(el.getByRole('button', { name: 'Classify' })).toBeDisabled();
    await el.getByLabel('Text', { exact: true }).fill('once upon a time');
    await el.getByRole('button', { name: 'Generate' }).click();
    await expect(el.locator('.try-output')).toContainText('length');
    await expect(el.locator('.try-output .completion')).toHaveText(/^( w\d+){48}$/);
    // hGPT only generates: the mix is fixed at all-generate.
    await expect(el.getByLabel('Generate share')).toBeDisabled();
    await expect(el.getByLabel('Generate share')).toHaveValue('1');
    await el.getByRole('button', { name: 'Start load' }).click();
    await expect.poll(async () => Number(await el.locator('[data-kpi=tps]').textContent())).toBeGreaterThan(0);
    await expect(el.locator('[data-counter=completed] dd')).not.toHaveText('0');
  });

  test('rejections are counted by error name, not thrown', async ({ page }) => {
    await mountWithFake(page, 'tenants="50"');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    // Requests to a tenant that does not exist fail in the runtime; the generator must count them.
    await page.evaluate(() => {
      const d = document.querySelector('hmi-dashboard') as HTMLElement & {
        loadGenerator: { start(s: object): void; stop(): void };
      };
      d.loadGenerator.start({ rate: 50, tenants: 50 });
    });
    await expect(el.locator('[data-counter=completed] dd')).not.toHaveText('0');
    await page.evaluate(async () => {
      const d = document.querySelector('hmi-dashboard') as HTMLElement & { runtime: { tenants: { remove(id: string): Promise<void> } } };
      for (let i = 0; i < 50; i++) await d.runtime.tenants.remove(`tenant-${i}`);
    });
    await expect(el.locator('[data-error=UnknownTenantError]')).toBeVisible();
    await expect(el).toHaveAttribute('data-state', 'ready');
  });

  test('a worker crash shows an error with Retry, and Retry recovers', async ({ page }) => {
    await mountWithFake(page, 'tenants="20" autostart');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    await page.evaluate(() => {
      const d = document.querySelector('hmi-dashboard') as unknown as { runtime: { crashWorkerForTesting(): void } };
      d.runtime.crashWorkerForTesting();
    });
    await expect(el).toHaveAttribute('data-state', 'error');
    const alert = el.getByRole('alert');
    await expect(alert).toContainText('The runtime worker stopped');
    await expect(alert).toContainText('WORKER_CRASHED');
    await alert.getByRole('button', { name: 'Retry' }).click();
    await expect(el).toHaveAttribute('data-state', 'ready');
    await expect(el.getByRole('alert')).toBeHidden();
    await expect(el.locator('.pager')).toContainText('of 20');
  });
});

test.describe('dashboard (real runtime)', () => {
  test('the demo loads, registers tenants, and shows tenants and throughput under load', async ({ page }) => {
    await page.addInitScript(() => {
      const w = window as unknown as { states: string[]; progress: string[] };
      w.states = [];
      w.progress = [];
      window.addEventListener('hmi-state', (e) => {
        w.states.push((e as CustomEvent<{ state: string }>).detail.state);
        const bar = document.querySelector('hmi-dashboard')?.shadowRoot?.querySelector('.progress');
        if (bar && !(bar as HTMLElement).hidden) w.progress.push(bar.textContent ?? '');
      });
    });
    // A fresh origin storage: the tenants are registered now, the first time.
    await page.goto('/?tenants=50');
    await recordMetrics(page);
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
    const seen = await page.evaluate(() => {
      const w = window as unknown as { states: string[]; progress: string[] };
      return { states: w.states, progress: w.progress };
    });
    expect(seen.states).toEqual(['loading', 'registering', 'ready']);
    expect(seen.progress.some((t) => t.startsWith('Registering tenants'))).toBe(true);
    await expect(el.locator('.pager')).toContainText('of 50');
    await expect.poll(async () => Number(await el.locator('[data-kpi=rps]').textContent()), { timeout: 120_000 }).toBeGreaterThan(0);
    await expect.poll(async () => (await metricsEvents(page)).length).toBeGreaterThanOrEqual(2);
    for (const e of await metricsEvents(page)) {
      expect(Object.keys(e.detail).sort()).toEqual([...METRIC_FIELDS].sort());
      expect(e.detail.tenantsRegistered).toBe(50);
    }
    await expect(el.locator('.model-info dl')).toContainText('BERT');
  });

  test('the try-it panel classifies on the real model', async ({ page }) => {
    await page.goto('/?tenants=50&autostart=0');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
    await el.getByLabel('Tenant', { exact: true }).fill('tenant-3');
    await el.getByRole('button', { name: 'Classify' }).click();
    await expect(el.locator('.try-output .label')).not.toBeEmpty({ timeout: 60_000 });
    await expect(el.locator('.try-output .score.best')).toHaveCount(1);
  });

  test('when the runtime worker dies the demo says so with Retry, and Retry brings it back', async ({ page }) => {
    await page.goto('/?tenants=50');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
    await page.evaluate(() => {
      const d = document.querySelector('hmi-dashboard') as unknown as { runtime: { crashWorkerForTesting(): void } };
      d.runtime.crashWorkerForTesting();
    });
    // Detected by the missed heartbeat (default 10 s without an answer).
    await expect(el).toHaveAttribute('data-state', 'error', { timeout: 60_000 });
    const alert = el.getByRole('alert');
    await expect(alert).toContainText('WorkerCrashedError');
    await alert.getByRole('button', { name: 'Retry' }).click();
    await expect(el).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
    await expect(el.locator('.pager')).toContainText('of 50');
    await expect.poll(async () => Number(await el.locator('[data-kpi=rps]').textContent()), { timeout: 120_000 }).toBeGreaterThan(0);
  });

  test('without WebGPU the demo says so plainly and what to do', async ({ page }) => {
    await page.addInitScript(() => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
    await page.goto('/?tenants=50');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'unsupported');
    const alert = el.getByRole('alert');
    await expect(alert).toContainText('does not offer WebGPU');
    await expect(alert).toContainText('Chrome');
    await expect(alert).toContainText('Safari');
    await expect(alert).toContainText('Firefox');
  });

  test('a bad model URL shows the error in place with a Retry that tries again', async ({ page }) => {
    await page.goto('/?tenants=50&model=/models/does-not-exist/');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'error', { timeout: 60_000 });
    const alert = el.getByRole('alert');
    await expect(alert).toContainText('Could not start the runtime');
    await expect(alert).toContainText('does-not-exist');
    await alert.getByRole('button', { name: 'Retry' }).click();
    await expect(el).toHaveAttribute('data-state', /loading|error/);
    await expect(el).toHaveAttribute('data-state', 'error', { timeout: 60_000 });
  });
});

test.describe('library build', () => {
  let site = '';
  let server: Server | null = null;

  test.afterAll(async () => {
    server?.close();
    if (site) await rm(site, { recursive: true, force: true });
  });

  test('dist/ copied next to a plain HTML page works from a static server, no bundler', async ({ page }) => {
    site = await mkdtemp(join(tmpdir(), 'hmi-site-'));
    const build = spawnSync('npx', ['vite', 'build', '--outDir', join(site, 'dist'), '--emptyOutDir', '--logLevel', 'warn'], { encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    await writeFile(
      join(site, 'index.html'),
      '<!doctype html><meta charset="utf-8"><script type="module" src="./dist/dashboard.js"></script><hmi-dashboard tenants="50" autostart></hmi-dashboard>',
    );
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.map': 'application/json' };
    server = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^([/\\])+/, '') || 'index.html';
      readFile(join(site, path)).then(
        (body) => {
          res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' });
          res.end(body);
        },
        () => {
          res.writeHead(404);
          res.end();
        },
      );
    });
    const port = await new Promise<number>((resolve) => server!.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)));
    // localhost (not 127.0.0.1) so the page is a secure context and navigator.gpu exists.
    await page.goto(`http://localhost:${port}/`);
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
    await expect(el.locator('.pager')).toContainText('of 50');
    await expect.poll(async () => Number(await el.locator('[data-kpi=rps]').textContent()), { timeout: 120_000 }).toBeGreaterThan(0);
  });
});
