import { spawnSync } from 'node:child_process';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { expect, test, type Locator, type Page } from '@playwright/test';
import { FIXTURE_TENANTS, makeFixtureBundle, serveBundle, weightsHash } from './fixtures/bundle.js';
import { mountFakeDashboard, NO_BUNDLE } from './fixtures/mount.js';

// <hmi-dashboard> in Chromium. "demo" tests open the demo page on the real runtime and the
// embedded model (public/models/, trained: its index.json lists the trained tenants); "fake
// runtime" tests hand the element a worker runtime hosting the test fake
// (e2e/fixtures/fake-runtime.ts), which pins the UI's behaviour independently of the model,
// with a fixture bundle (e2e/fixtures/bundle.ts) served next to the model URL when they need
// trained tenants, and nothing there (index.json 404) when they need none.

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

/** Where the fake tests' model lives: a bundle is served there, or nothing (every file 404). */
const BUNDLE = '/fixture-bundle/';

function mountWithFake(page: Page, attrs: string, model = `${NO_BUNDLE}hbert-mini/`): Promise<void> {
  return mountFakeDashboard(page, model, attrs, () => recordMetrics(page));
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
    await mountWithFake(page, 'tenants="10"', `${NO_BUNDLE}hgpt-mini/`);
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

  test('without a bundle next to the model there are synthetic tenants only, marked, and no error', async ({ page }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await mountWithFake(page, 'tenants="12"');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    await expect(el.locator('.pager')).toContainText('of 12');
    await expect(el.locator('tbody tr[data-kind=synthetic]')).toHaveCount(12);
    await expect(el.locator('tbody tr[data-kind=trained]')).toHaveCount(0);
    await expect(el.locator('tbody tr[data-tenant=tenant-0] .badge-synthetic')).toHaveText('synthetic');
    const knowledge = el.locator('.knowledge-card');
    await expect(knowledge).toContainText('No trained tenants for this model');
    await expect(knowledge).toContainText('12 synthetic tenants: random weights');
    await expect(knowledge.getByRole('alert')).toHaveCount(0);
    await expect(el.getByRole('group', { name: 'Trained tenants' })).toBeHidden();
    expect(errors).toEqual([]);
  });

  test('an index.json of an older format (no tenants) is no bundle: synthetic tenants only', async ({ page }) => {
    const base = '/old-bundle/';
    const old = JSON.stringify({ generator: 1, models: [{ id: 'hbert-mini', family: 'bert', path: 'hbert-mini/', hash: '0123456789abcdef' }], adapters: [] });
    await serveBundle(page, base, new Map([['index.json', old]]));
    await mountWithFake(page, 'tenants="5"', `${base}hbert-mini/`);
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    await expect(el.locator('.pager')).toContainText('of 5');
    await expect(el.locator('.knowledge-card')).toContainText('No trained tenants for this model');
    await expect(el.locator('.knowledge-card').getByRole('alert')).toHaveCount(0);
  });

  test('a bundle that fails to load is reported in place and the synthetic tenants still run', async ({ page }) => {
    const bundle = makeFixtureBundle();
    bundle.delete('adapters/hbert-mini/spam/adapter_model.safetensors');
    await serveBundle(page, BUNDLE, bundle);
    await mountWithFake(page, 'tenants="5"', `${BUNDLE}hbert-mini/`);
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    const alert = el.locator('.knowledge-card').getByRole('alert');
    await expect(alert).toContainText('the trained tenants could not be loaded');
    await expect(alert).toContainText('spam');
    await expect(el.locator('tbody tr[data-kind=synthetic]')).toHaveCount(5);
  });
});

test.describe('dashboard (fake runtime, trained bundle)', () => {
  test('trained tenants are listed under their domains with labels and training; synthetic ones are marked', async ({ page }) => {
    await serveBundle(page, BUNDLE, makeFixtureBundle());
    await mountWithFake(page, 'tenants="20"', `${BUNDLE}hbert-mini/`);
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    // 20 synthetic + the bundle's two hBERT tenants; the trained ones first.
    await expect(el.locator('.pager')).toContainText('of 22');
    const rows = el.locator('table[aria-label="Tenants"] tbody tr');
    await expect(rows.nth(0)).toHaveAttribute('data-tenant', 'party');
    await expect(rows.nth(1)).toHaveAttribute('data-tenant', 'spam');
    await expect(el.locator('tbody tr[data-tenant=spam] .badge-trained')).toHaveText('trained');
    await expect(el.locator('tbody tr[data-tenant=tenant-3] .badge-synthetic')).toHaveText('synthetic');
    await el.getByRole('searchbox', { name: 'Filter tenants' }).fill('synthetic');
    await expect(el.locator('.pager')).toContainText('of 20');
    await el.getByRole('searchbox', { name: 'Filter tenants' }).fill('trained');
    await expect(el.locator('.pager')).toContainText('of 2');

    // The domain tree: email, politics and literature under general, each with its trained tenants.
    const tree = el.locator('.domain-tree');
    for (const d of ['email', 'politics', 'literature']) await expect(tree.locator(`[data-domain=${d}]`)).toHaveAttribute('aria-level', '2');
    await expect(tree.locator('[data-domain=email] .named')).toHaveText('spam');
    await expect(tree.locator('[data-domain=politics] .named')).toHaveText('party');
    await expect(tree.locator('[data-domain=email]')).toContainText('email texts (fixture)');
    await expect(tree.locator('[data-domain=general]')).toContainText('20 tenants');

    // What each trained tenant knows.
    const knowledge = el.locator('.knowledge-card');
    await expect(knowledge).toContainText('Base model hbert-mini: masked language modelling on the fixture corpora');
    const trained = knowledge.getByRole('table', { name: 'Trained tenants' });
    await expect(trained.locator('tbody tr')).toHaveCount(2);
    await expect(trained.locator('tr[data-tenant=spam]')).toContainText('ham, spam');
    await expect(trained.locator('tr[data-tenant=spam]')).toContainText('SpamAssassin mails, ham or spam (fixture)');
    await expect(trained.locator('tr[data-tenant=party]')).toContainText('Democratic, Democratic-Republican, Republican');
    await expect(knowledge).toContainText('20 synthetic tenants: random weights');
    await expect(knowledge).toContainText('accuracy table in the README');
  });

  test('try it offers a trained tenant\'s examples in one click and names every label; a synthetic answer is said to be random', async ({ page }) => {
    await serveBundle(page, BUNDLE, makeFixtureBundle());
    await mountWithFake(page, 'tenants="10"', `${BUNDLE}hbert-mini/`);
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    const tenant = el.getByLabel('Tenant', { exact: true });
    // A trained tenant is selected by default.
    await expect(tenant).toHaveValue('party');
    await el.getByRole('group', { name: 'Trained tenants' }).getByRole('button', { name: 'spam' }).click();
    await expect(tenant).toHaveValue('spam');
    await expect(el.locator('.tenant-about')).toContainText('trained');
    await expect(el.locator('.tenant-about')).toContainText('labels ham, spam');
    const examples = el.getByRole('group', { name: 'Examples' }).getByRole('button');
    await expect(examples).toHaveCount(FIXTURE_TENANTS.spam.examples.length);
    await examples.first().click();
    await expect(el.getByLabel('Text', { exact: true })).toHaveValue(FIXTURE_TENANTS.spam.examples[0]);
    await expect(el.locator('.try-output')).toContainText('spam says');
    await expect(el.locator('.try-output .score .score-label')).toHaveText(['ham', 'spam']);
    await expect(el.locator('.try-output .label')).toHaveText(/^(ham|spam)$/);
    await expect(el.locator('.try-output .synthetic-note')).toHaveCount(0);
    await expect(el.locator('.try-output')).not.toContainText('#');

    // The knowledge panel opens a tenant in try it.
    await el.locator('.knowledge-card').getByRole('button', { name: 'party' }).click();
    await expect(tenant).toHaveValue('party');
    await expect(el.getByLabel('Text', { exact: true })).toHaveValue(FIXTURE_TENANTS.party.examples[0]);
    await el.getByRole('button', { name: 'Classify' }).click();
    await expect(el.locator('.try-output .score .score-label')).toHaveText([...FIXTURE_TENANTS.party.labels]);

    // The picker's suggestions say which are synthetic.
    await tenant.fill('tenant-');
    const options = await el.locator('datalist option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).label));
    expect(options.length).toBeGreaterThan(0);
    for (const label of options) expect(label).toContain('synthetic');
    await tenant.fill('tenant-3');
    await expect(el.locator('.tenant-about')).toContainText('synthetic');
    await expect(el.getByRole('group', { name: 'Examples' })).toBeHidden();
    await el.getByRole('button', { name: 'Classify' }).click();
    await expect(el.locator('.try-output')).toContainText('tenant-3 says');
    await expect(el.locator('.try-output .synthetic-note')).toContainText('random by construction');
    await expect(el.locator('.try-output .score .score-label').first()).toHaveText(/^LABEL_0$/);
  });

  test('the load generator targets the synthetic tenants', async ({ page }) => {
    await serveBundle(page, BUNDLE, makeFixtureBundle());
    await mountWithFake(page, 'tenants="20"', `${BUNDLE}hbert-mini/`);
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    await page.evaluate(() => {
      const d = document.querySelector('hmi-dashboard') as HTMLElement & { loadGenerator: { start(s: object): void } };
      d.loadGenerator.start({ rate: 100, tenants: 20, skew: 0 });
    });
    await expect.poll(async () => Number(await el.locator('[data-counter=completed] dd').textContent())).toBeGreaterThanOrEqual(40);
    const byKind = await page.evaluate(async () => {
      const d = document.querySelector('hmi-dashboard') as unknown as { loadGenerator: { stop(): void }; runtime: { tenants: { list(): Promise<{ synthetic: boolean; requests: number }[]> } } };
      d.loadGenerator.stop();
      const list = await d.runtime.tenants.list();
      const sum = (synthetic: boolean): number => list.filter((t) => t.synthetic === synthetic).reduce((a, t) => a + t.requests, 0);
      return { synthetic: sum(true), trained: sum(false) };
    });
    expect(byKind.synthetic).toBeGreaterThanOrEqual(40);
    expect(byKind.trained).toBe(0);
  });

  test('on an hGPT model the style tenants stream their continuation of an example prompt', async ({ page }) => {
    await serveBundle(page, BUNDLE, makeFixtureBundle());
    await mountWithFake(page, 'tenants="10"', `${BUNDLE}hgpt-mini/`);
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready');
    await expect(el.locator('.pager')).toContainText('of 12');
    const picks = el.getByRole('group', { name: 'Trained tenants' }).getByRole('button');
    await expect(picks).toHaveText(['moby-dick', 'style-abraham-lincoln']);
    await picks.nth(1).click();
    await expect(el.locator('.tenant-about')).toContainText("Abraham Lincoln's addresses (fixture)");
    await el.getByRole('group', { name: 'Examples' }).getByRole('button').first().click();
    await expect(el.locator('.try-output .prompt')).toHaveText(FIXTURE_TENANTS['style-abraham-lincoln'].examples[0]);
    await expect(el.locator('.try-output .completion')).toHaveText(/^( w\d+){48}$/);
    await expect(el.locator('.try-output .synthetic-note')).toHaveCount(0);
    await expect(el.locator('.domain-tree [data-domain=literature] .named')).toHaveText('moby-dick');
    await expect(el.locator('.knowledge-card')).toContainText('generates text');
  });
});

interface ShippedTenant {
  id: string;
  model: string;
  task: string;
  labels?: string[];
  examples?: string[];
}

/** The trained tenants public/models/index.json ships for a model. */
async function shippedTenants(page: Page, model: string): Promise<ShippedTenant[]> {
  const res = await page.request.get('/models/index.json');
  expect(res.ok(), 'public/models/index.json (the trained bundle) is missing').toBe(true);
  const index = (await res.json()) as { tenants?: ShippedTenant[] };
  return (index.tenants ?? []).filter((t) => t.model === model);
}

test.describe('dashboard (real runtime)', () => {
  test('the demo loads, registers tenants, and shows tenants and throughput under load', async ({ page }) => {
    const trained = await shippedTenants(page, 'hbert-mini');
    expect(trained.length).toBeGreaterThan(0);
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
    await expect(el.locator('.pager')).toContainText(`of ${50 + trained.length}`);
    // The trained tenants, first in the table and in the knowledge panel; the synthetic ones marked.
    await expect(el.locator('tbody tr[data-kind=trained]')).toHaveCount(trained.length);
    await expect(el.locator('tbody tr[data-tenant=tenant-0] .badge-synthetic')).toHaveText('synthetic');
    const table = el.locator('.knowledge-card').getByRole('table', { name: 'Trained tenants' });
    for (const t of trained) {
      await expect(table.locator(`tr[data-tenant="${t.id}"]`)).toContainText((t.labels ?? []).join(', '));
    }
    for (const d of ['email', 'politics']) await expect(el.locator(`.domain-tree [data-domain=${d}]`)).toHaveAttribute('aria-level', '2');
    await expect.poll(async () => Number(await el.locator('[data-kpi=rps]').textContent()), { timeout: 120_000 }).toBeGreaterThan(0);
    await expect.poll(async () => (await metricsEvents(page)).length).toBeGreaterThanOrEqual(2);
    for (const e of await metricsEvents(page)) {
      expect(Object.keys(e.detail).sort()).toEqual([...METRIC_FIELDS].sort());
      expect(e.detail.tenantsRegistered).toBe(50 + trained.length);
    }
    await expect(el.locator('.model-info dl')).toContainText('BERT');
  });

  test('the try-it panel classifies a trained tenant\'s example, names its labels, and a synthetic one on the real model', async ({ page }) => {
    const trained = await shippedTenants(page, 'hbert-mini');
    const spam = trained.find((t) => t.id === 'spam') ?? trained[0];
    await page.goto('/?tenants=50&autostart=0');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
    await el.getByRole('group', { name: 'Trained tenants' }).getByRole('button', { name: spam.id, exact: true }).click();
    await el.getByRole('group', { name: 'Examples' }).getByRole('button').first().click();
    await expect(el.locator('.try-output .label')).not.toBeEmpty({ timeout: 60_000 });
    await expect(el.locator('.try-output .score .score-label')).toHaveText(spam.labels ?? []);
    await expect(el.locator('.try-output .score.best')).toHaveCount(1);
    // A text longer than the model's positions is truncated, not refused.
    await el.getByLabel('Text', { exact: true }).fill('please read this long mail again and again '.repeat(60));
    await el.getByRole('button', { name: 'Classify' }).click();
    await expect(el.locator('.try-output .score.best')).toHaveCount(1, { timeout: 60_000 });
    await expect(el.locator('.try-output .error-text')).toHaveCount(0);
    await el.getByLabel('Tenant', { exact: true }).fill('tenant-3');
    await el.getByRole('button', { name: 'Classify' }).click();
    await expect(el.locator('.try-output .synthetic-note')).toContainText('random by construction', { timeout: 60_000 });
    await expect(el.locator('.try-output .score.best')).toHaveCount(1);
    await expect(el.locator('.try-output')).not.toContainText('#');
  });

  test('on hGPT a style tenant streams its continuation of an example prompt', async ({ page }) => {
    const trained = await shippedTenants(page, 'hgpt-mini');
    const style = trained.find((t) => t.id.startsWith('style-')) ?? trained[0];
    await page.goto('/?model=/models/hgpt-mini/&tenants=10&autostart=0');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
    await expect(el.locator('tbody tr[data-kind=trained]')).toHaveCount(Math.min(25, trained.length));
    await el.getByRole('group', { name: 'Trained tenants' }).getByRole('button', { name: style.id, exact: true }).click();
    await el.getByRole('group', { name: 'Examples' }).getByRole('button').first().click();
    await expect(el.locator('.try-output .prompt')).toHaveText(style.examples?.[0] ?? '');
    await expect(el.locator('.try-output .completion')).not.toBeEmpty({ timeout: 60_000 });
    await expect(el.locator('.try-output .caret')).toHaveCount(0, { timeout: 120_000 });
    await expect(el.locator('.try-output .error-text')).toHaveCount(0);
  });

  test('a custom model with no index.json next to it runs with synthetic tenants only, without errors', async ({ page }) => {
    // A small synthetic model served where no bundle is (its ../index.json is a 404).
    const files = makeFixtureBundle({ withWeights: true, hash: weightsHash });
    const model = new Map([...files].filter(([p]) => p.startsWith('hbert-mini/')));
    await serveBundle(page, '/custom-models/', model);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto('/?model=/custom-models/hbert-mini/&tenants=12&autostart=0');
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
    await expect(el.locator('.pager')).toContainText('of 12');
    await expect(el.locator('tbody tr[data-kind=synthetic]')).toHaveCount(12);
    await expect(el.locator('.knowledge-card')).toContainText('No trained tenants for this model');
    await el.getByRole('button', { name: 'Classify' }).click();
    await expect(el.locator('.try-output .score.best')).toHaveCount(1, { timeout: 60_000 });
    // The index.json 404 is logged by the browser as a failed resource; nothing else may be.
    expect(errors.filter((e) => !/404|Not Found/i.test(e))).toEqual([]);
  });

  test('when the runtime worker dies the demo says so with Retry, and Retry brings it back', async ({ page }) => {
    const trained = await shippedTenants(page, 'hbert-mini');
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
    await expect(el.locator('.pager')).toContainText(`of ${50 + trained.length}`);
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
  let port = 0;

  // One production build served by a plain static server for the tests below.
  test.beforeAll(async () => {
    site = await mkdtemp(join(tmpdir(), 'hmi-site-'));
    const build = spawnSync('npx', ['vite', 'build', '--outDir', join(site, 'dist'), '--emptyOutDir', '--logLevel', 'warn'], { encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    await writeFile(
      join(site, 'index.html'),
      '<!doctype html><meta charset="utf-8"><script type="module" src="./dist/dashboard.js"></script><hmi-dashboard tenants="50" autostart></hmi-dashboard>',
    );
    await writeFile(join(site, 'blank.html'), '<!doctype html><meta charset="utf-8"><title>blank</title>');
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
    port = await new Promise<number>((resolve) => server!.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)));
  });

  test.afterAll(async () => {
    server?.close();
    if (site) await rm(site, { recursive: true, force: true });
  });

  test('dist/ copied next to a plain HTML page works from a static server, no bundler', async ({ page }) => {
    const trained = await shippedTenants(page, 'hbert-mini');
    // localhost (not 127.0.0.1) so the page is a secure context and navigator.gpu exists.
    await page.goto(`http://localhost:${port}/`);
    const el = dashboard(page);
    await expect(el).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
    await expect(el.locator('.pager')).toContainText(`of ${50 + trained.length}`);
    await expect.poll(async () => Number(await el.locator('[data-kpi=rps]').textContent()), { timeout: 120_000 }).toBeGreaterThan(0);
  });

  test('errors from the built worker keep their class names, so instanceof and the crash check by name hold', async ({ page }) => {
    await page.goto(`http://localhost:${port}/blank.html`);
    const r = await page.evaluate(async () => {
      const lib = await import('./dist/index.js' as string);
      const rt = await lib.createWorkerRuntime({ model: new URL('./dist/models/hbert-mini/', location.href).href, autotune: false, heartbeatMs: 100, heartbeatTimeoutMs: 2000 });
      const caught = async (p: Promise<unknown>): Promise<Error & { code?: string; tenantId?: string }> =>
        p.then(
          () => {
            throw new Error('resolved');
          },
          (e: Error) => e,
        );
      const unknown = await caught(rt.classify('nobody', 'hi'));
      rt.crashWorkerForTesting();
      // The closed worker never answers: the missed heartbeat rejects the call.
      const crashed = await caught(rt.info());
      await rt.dispose();
      return {
        unknown: [unknown.name, unknown.code, unknown.tenantId, unknown instanceof lib.UnknownTenantError, unknown instanceof lib.HmiError],
        crashed: [crashed.name, crashed.code, crashed instanceof lib.WorkerCrashedError],
      };
    });
    expect(r.unknown).toEqual(['UnknownTenantError', 'UNKNOWN_TENANT', 'nobody', true, true]);
    expect(r.crashed).toEqual(['WorkerCrashedError', 'WORKER_CRASHED', true]);
  });
});
