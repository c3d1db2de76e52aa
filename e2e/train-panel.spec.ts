import { expect, test, type Locator, type Page } from '@playwright/test';
import { mountFakeDashboard, NO_BUNDLE } from './fixtures/mount.js';

// The dashboard's "Train a tenant" panel in Chromium, on a worker runtime hosting the test fake
// (e2e/fixtures/fake-runtime.ts: its tenants.train reports a few steps with a falling loss and
// a validation per epoch, then registers the tenant), so the real worker boundary carries the
// training, its progress and its abort.

async function mount(page: Page, model: string, tenants = 10): Promise<Locator> {
  await mountFakeDashboard(page, model, `tenants="${tenants}"`);
  const el = page.locator('hmi-dashboard');
  await expect(el).toHaveAttribute('data-state', 'ready');
  return el;
}

/** `n` labelled mails as JSONL, alternating labels. */
function jsonl(n: number, extra = ''): string {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify(i % 2 === 0 ? { text: `win a free prize number ${i} now${extra}`, label: 'spam' } : { text: `lunch on day ${i}?${extra}`, label: 'ham' }),
  ).join('\n');
}

test.describe('train panel (fake runtime)', () => {
  test('pasted JSONL trains a tenant: live chart and status, then it is a trained tenant in the table and in Try it', async ({ page }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const el = await mount(page, `${NO_BUNDLE}hbert-mini/`);
    const panel = el.locator('.train-card');
    await expect(panel.getByRole('heading', { name: 'Train a tenant' })).toBeVisible();
    await expect(panel.getByLabel('Tenant id')).toHaveValue('my-tenant');
    await expect(panel.getByRole('button', { name: 'Train' })).toBeDisabled();
    await expect(panel.getByRole('button', { name: 'Abort' })).toBeDisabled();
    // The domain select offers the runtime's domains and "none".
    await expect(panel.getByLabel('Domain').locator('option')).toHaveText(['none (every layer)', 'general']);

    await panel.getByLabel('Training data').fill(jsonl(24));
    await expect(panel.locator('.data-status')).toHaveText('24 examples in the pasted data · labels ham (12), spam (12)');
    await panel.getByLabel('Tenant id').fill('mail-filter');
    await panel.getByLabel('Epochs').fill('3');
    await panel.getByLabel('Rank').fill('4');
    await panel.getByLabel('Seed').fill('7');
    await panel.getByRole('button', { name: 'Train' }).click();

    const status = panel.locator('.train-status');
    await expect(status).toContainText('Trained mail-filter');
    await expect(status).toContainText('22 examples + 2 held out');
    await expect(status).toContainText('validation accuracy 95%');
    await expect(panel.locator('.train-chart canvas').first()).toBeVisible();
    // One loss point per step (3) and a validation per epoch: the legend shows the last values.
    await expect(panel.locator('.train-chart .u-legend')).toContainText('loss');
    await expect(panel.locator('.train-chart .u-legend')).toContainText('accuracy');
    await expect(panel.locator('.train-outcome')).toContainText('mail-filter is registered and served');

    // The table: a trained tenant (first, as trained tenants sort first), rank 4, not synthetic.
    const row = el.locator('table[aria-label="Tenants"] tbody tr[data-tenant="mail-filter"]');
    await expect(row).toHaveAttribute('data-kind', 'trained');
    await expect(row.locator('.badge-trained')).toHaveText('trained');
    await expect(el.locator('table[aria-label="Tenants"] tbody tr').first()).toHaveAttribute('data-tenant', 'mail-filter');
    // Try it: offered as a trained pick and selected, with its labels; it classifies into them.
    await expect(el.locator('.try-card .picks button[data-tenant="mail-filter"]')).toBeVisible();
    await expect(el.getByLabel('Tenant', { exact: true })).toHaveValue('mail-filter');
    await expect(el.locator('.try-card .tenant-about')).toContainText('labels ham, spam');
    await el.getByRole('button', { name: 'Classify' }).click();
    await expect(el.locator('.try-output .label')).toHaveText(/^(ham|spam)$/);
    // The knowledge panel says what it was trained on.
    await expect(el.locator('.knowledge-card tr[data-tenant="mail-filter"]')).toContainText('Trained in the dashboard on 24 labelled texts');
    expect(errors).toEqual([]);
  });

  test('bad JSONL shows the line and what is wrong, and Train stays disabled', async ({ page }) => {
    const el = await mount(page, `${NO_BUNDLE}hbert-mini/`);
    const panel = el.locator('.train-card');
    await panel.getByLabel('Training data').fill('{"text": "win a prize", "label": "spam"}\n{"text": "lunch?", "label": "ham"\n{"text": "x", "label": "ham"}');
    const problem = panel.locator('.data-status [role=alert]');
    await expect(problem).toContainText('TrainDataError: line 2: invalid JSON');
    await expect(panel.getByRole('button', { name: 'Train' })).toBeDisabled();
    await panel.getByLabel('Training data').fill('{"text": "win a prize", "label": "spam"}\n\n{"text": "no label"}');
    await expect(problem).toContainText('line 3: no "label" field');
    // A dropped file: its error names it.
    await panel.locator('[data-drop=train]').evaluate((zone) => {
      const dt = new DataTransfer();
      dt.items.add(new File(['text,label\r\nfine,a\r\n"never closed,b\r\n'], 'mail.csv', { type: 'text/csv' }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await expect(problem).toContainText('TrainDataError: mail.csv, line 3: a quoted field opens here and never closes');
    // Fixed: the error goes and Train is offered.
    await panel.getByLabel('Training data').fill('{"text": "win a prize", "label": "spam"}\n{"text": "lunch?", "label": "ham"}');
    await expect(panel.locator('.data-status')).toHaveText('2 examples in the pasted data · labels ham (1), spam (1)');
    await expect(panel.getByRole('button', { name: 'Train' })).toBeEnabled();
  });

  test('Abort stops the training in the worker: nothing is stored and the panel can train again', async ({ page }) => {
    const el = await mount(page, `${NO_BUNDLE}hbert-mini/`);
    const panel = el.locator('.train-card');
    // "slow" makes every fake step take 400 ms.
    await panel.getByLabel('Training data').fill(jsonl(6, ' slow'));
    await panel.getByLabel('Tenant id').fill('never-stored');
    await panel.getByLabel('Epochs').fill('20');
    await panel.getByRole('button', { name: 'Train' }).click();
    await expect(panel.locator('.train-status')).toContainText(/Training · epoch \d+\/20 · step \d+\/20 · loss \d\.\d{4}/);
    await expect(panel.getByRole('button', { name: 'Train' })).toBeDisabled();
    await expect(panel.getByLabel('Training data')).toBeDisabled();
    await panel.getByRole('button', { name: 'Abort' }).click();
    await expect(panel.locator('.train-status')).toHaveText('Aborted: nothing was stored.');
    await expect(panel.locator('.train')).toHaveAttribute('data-state', 'aborted');
    await expect(panel.getByRole('button', { name: 'Abort' })).toBeDisabled();
    await expect(panel.getByRole('button', { name: 'Train' })).toBeEnabled();
    const listed = await page.evaluate(async () => {
      const d = document.querySelector('hmi-dashboard') as unknown as { runtime: { tenants: { list(): Promise<{ id: string }[]> } } };
      return (await d.runtime.tenants.list()).map((t) => t.id);
    });
    expect(listed).not.toContain('never-stored');
    await expect(el.locator('table[aria-label="Tenants"] tbody tr[data-tenant="never-stored"]')).toHaveCount(0);
  });

  test('on an hGPT model a dropped .csv of plain texts trains a tenant that Try it then generates with', async ({ page }) => {
    const el = await mount(page, `${NO_BUNDLE}hgpt-mini/`);
    const panel = el.locator('.train-card');
    const csv = 'text\r\n"Call me Ishmael."\r\n"Some years ago, never mind how long"\r\n"It is a way I have\r\nof driving off the spleen"\r\n';
    await panel.locator('input[type=file]').setInputFiles({ name: 'moby.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await expect(panel.locator('.data-status')).toHaveText('3 examples in moby.csv');
    // The textarea shows the file (its value with LF line ends); the file's own text is what is parsed.
    await expect(panel.getByLabel('Training data')).toHaveValue(csv.replace(/\r\n/g, '\n'));
    await panel.getByLabel('Tenant id').fill('whaler');
    await panel.getByLabel('Epochs').fill('1');
    await panel.getByRole('button', { name: 'Train' }).click();
    await expect(panel.locator('.train-status')).toContainText('Trained whaler');
    await expect(el.locator('table[aria-label="Tenants"] tbody tr[data-tenant="whaler"]')).toHaveAttribute('data-kind', 'trained');
    await expect(el.getByLabel('Tenant', { exact: true })).toHaveValue('whaler');
    await el.getByRole('button', { name: 'Generate' }).click();
    await expect(el.locator('.try-output')).toContainText('length');
  });
});

test.describe('train panel (real runtime)', () => {
  test('the demo trains a small hBERT tenant in the email domain on the GPU, then serves it in Try it', async ({ page }) => {
    await page.goto('/?tenants=10&autostart=0');
    const el = page.locator('hmi-dashboard');
    await expect(el).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
    const panel = el.locator('.train-card');
    await panel.getByLabel('Training data').fill(jsonl(8));
    await expect(panel.locator('.data-status')).toHaveText('8 examples in the pasted data · labels ham (4), spam (4)');
    await panel.getByLabel('Tenant id').fill('mail-e2e');
    await panel.getByLabel('Domain').selectOption('email');
    await panel.getByLabel('Epochs').fill('1');
    await panel.getByLabel('Rank').fill('4');
    await panel.getByRole('button', { name: 'Train' }).click();
    await expect(panel.locator('.train-status')).toContainText('Trained mail-e2e', { timeout: 150_000 });
    await expect(panel.locator('.train-chart canvas').first()).toBeVisible();
    const row = el.locator('table[aria-label="Tenants"] tbody tr[data-tenant="mail-e2e"]');
    await expect(row).toHaveAttribute('data-kind', 'trained');
    await expect(row).toContainText('email');
    await expect(el.getByLabel('Tenant', { exact: true })).toHaveValue('mail-e2e');
    await el.getByLabel('Text', { exact: true }).fill('win a free prize now');
    await el.getByRole('button', { name: 'Classify' }).click();
    await expect(el.locator('.try-output .label')).toHaveText(/^(ham|spam)$/, { timeout: 60_000 });
    await expect(el.locator('.try-output .score .score-label')).toHaveText(['ham', 'spam']);
  });
});
