#!/usr/bin/env node
// Screenshot of the demo dashboard under load, for the docs:
//   node scripts/screenshot.mjs [out.png] [--tenants=N] [--seconds=S] [--width=PX] [--dark]
// Serves the project with Vite, opens the demo in the system Chromium (SwiftShader unless
// HMI_HARDWARE=1), waits until the dashboard is ready and has served traffic for a while.
import { chromium } from 'playwright';
import { createServer } from 'vite';

const args = process.argv.slice(2);
const flag = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const out = args.find((a) => !a.startsWith('--')) ?? 'docs/dashboard.png';
const tenants = Number(flag('tenants', '1000'));
const seconds = Number(flag('seconds', '20'));
const dark = args.includes('--dark');
const width = Number(flag('width', '1360'));
const hardware = process.env.HMI_HARDWARE === '1';

// No HMR: an edit elsewhere in the tree must not reload the page halfway through.
const server = await createServer({ server: { port: 0, strictPort: false, hmr: false, watch: null }, logLevel: 'warn' });
await server.listen();
const url = server.resolvedUrls.local[0];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--enable-unsafe-webgpu', hardware ? '--enable-features=Vulkan' : '--enable-unsafe-swiftshader', '--no-sandbox', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width, height: 900 }, deviceScaleFactor: 1, colorScheme: dark ? 'dark' : 'light' });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${url}?tenants=${tenants}`);
  const dashboard = page.locator('hmi-dashboard');
  await dashboard.and(page.locator('[data-state=ready]')).waitFor({ timeout: 600_000 });
  console.log(`screenshot: ready; serving traffic for ${seconds} s`);
  await page.waitForFunction(
    () => Number(document.querySelector('hmi-dashboard')?.shadowRoot?.querySelector('[data-kpi=rps]')?.textContent) > 0,
    undefined,
    { timeout: 300_000 },
  );
  await page.waitForTimeout(seconds * 1000);
  // Show the try-it panel answering too.
  await dashboard.getByRole('button', { name: 'Classify' }).click();
  await dashboard.locator('.try-output .label').waitFor({ timeout: 120_000 });
  await page.waitForTimeout(1500);
  await dashboard.screenshot({ path: out });
  console.log(`screenshot: wrote ${out}`);
} finally {
  await browser.close();
  await server.close();
}
