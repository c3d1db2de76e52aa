#!/usr/bin/env node
// `npm run bench [-- <scenario>...]`: serves the repo with Vite, opens each scenario's page
// under bench/ in headless system Chromium (SwiftShader unless HMI_HARDWARE=1, as in
// playwright.config.ts), waits for the page to publish window.__benchResult, then lets the
// scenario print its table and write bench/results/<scenario>.json.
// With no argument every scenario runs. A new scenario is one entry in SCENARIOS.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';
import { createServer } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = resolve(root, 'bench/results');

const SCENARIOS = {
  kernels: {
    page: '/bench/kernels/index.html',
    timeoutMs: 30 * 60_000,
    report: reportKernels,
  },
};

/** Rows of bench/kernels/main.ts: our variants against tfjs-backend-webgpu's tf.matMul. */
function reportKernels(result) {
  console.log(`adapter: ${result.adapter}`);
  const head = ['shape', 'variant', 'GFLOP/s', 'tfjs GFLOP/s', 'ours/tfjs', 'autotuned'];
  const body = result.rows.map((r) => [
    r.shape,
    r.variant,
    r.gflops.toFixed(3),
    r.tfjsGflops.toFixed(3),
    (r.gflops / r.tfjsGflops).toFixed(2),
    r.autotuned ? '<- chosen' : '',
  ]);
  printTable(head, body);
  const target = ['M=256 N=256 K=256 kn', 'M=512 N=512 K=512 kn'].map((shape) => {
    const chosen = result.rows.find((r) => r.shape === shape && r.autotuned);
    return chosen ? chosen.gflops / chosen.tfjsGflops : 0;
  });
  const met = target.every((ratio) => ratio >= 3);
  console.log(`target (autotuned >= 3x tfjs at 256^3 and 512^3): ${met ? 'met' : 'NOT met'} (${target.map((r) => `${r.toFixed(2)}x`).join(', ')})`);
  const json = result.rows.map(({ shape, variant, gflops, tfjsGflops, autotuned }) => ({ shape, variant, gflops, tfjsGflops, autotuned }));
  writeResult('kernels', json);
}

function printTable(head, body) {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  console.log(line(head));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of body) console.log(line(row));
}

function writeResult(name, data) {
  mkdirSync(resultsDir, { recursive: true });
  const file = resolve(resultsDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

async function runScenario(browser, baseUrl, name, scenario) {
  console.log(`\n=== bench ${name}: ${scenario.page}`);
  const page = await browser.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'log' || msg.type() === 'error') console.log(`  [page] ${msg.text()}`);
  });
  page.on('pageerror', (err) => console.error(`  [page error] ${err.message}`));
  try {
    await page.goto(new URL(scenario.page, baseUrl).href);
    await page.waitForFunction(() => window.__benchResult !== undefined, undefined, { timeout: scenario.timeoutMs, polling: 500 });
    const outcome = await page.evaluate(() => window.__benchResult);
    if (!outcome.ok) throw new Error(`scenario ${name} failed in the page: ${outcome.error}`);
    scenario.report(outcome.result);
  } finally {
    await page.close();
  }
}

async function main() {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((n) => !(n in SCENARIOS));
  if (unknown.length) {
    console.error(`unknown scenario ${unknown.join(', ')}; available: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
  const names = asked.length ? asked : Object.keys(SCENARIOS);

  const hardware = process.env.HMI_HARDWARE === '1';
  const server = await createServer({
    root,
    configFile: resolve(root, 'vite.config.ts'),
    logLevel: 'warn',
    server: { port: 0, host: 'localhost' },
    // Pre-bundled up front: discovering them on first load would make Vite reload the page mid-run.
    optimizeDeps: { include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu'] },
  });
  let browser;
  try {
    await server.listen();
    const address = server.httpServer?.address();
    if (!address || typeof address === 'string') throw new Error('Vite did not report its port');
    const baseUrl = `http://localhost:${address.port}/`;
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--enable-unsafe-webgpu',
        ...(hardware ? ['--enable-features=Vulkan'] : ['--enable-unsafe-swiftshader']),
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    for (const name of names) await runScenario(browser, baseUrl, name, SCENARIOS[name]);
  } finally {
    await browser?.close();
    await server.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
