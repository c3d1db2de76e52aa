#!/usr/bin/env node
// `npm run bench [-- <scenario>...] [--node] [--full] [--requests=N] [--slices=N]
//   [--tenants=1,100,...] [--sequential=..] [--merged=..] [--cold=N] [--generate=..] [--generate-requests=N]
//   [--train-batch-tokens=N]
//   [--accuracy-n=N] [--accuracy-windows=N] [--accuracy-style-windows=N]
//   [--accuracy-train=0|1] [--accuracy-train-n=N] [--accuracy-train-test-n=N] [--bundle=DIR]`
//
// Runtime scenarios (multiTenantOverhead, vsSequential, vsMergedSwap, prefetchHidden,
// memoryPerTenant, trainWhileServing; slots generate, plotSpeedup, vsTfjs) are TypeScript modules under
// bench/scenarios/, run by bench/lib/driver.ts either in headless system Chromium (the page
// bench/runtime/index.html served by Vite; the default) or, with --node, in this process on
// Dawn (tsx compiles them; bin/wgsl-hook.mjs serves the shader imports).
// `kernels` opens bench/kernels/ in Chromium and writes bench/results/kernels.json; `matmul`
// puts that table into latest.json (running kernels first only if it never ran). `micro`
// (only when named) opens bench/kernels/micro.html: every non-matmul kernel, checked against
// its CPU reference and timed, into bench/results/micro.{json,md}.
// `accuracy` (only when named) measures what HMI costs in accuracy on the shipped bundle
// (public/models/, or --bundle=DIR): training/data.mjs's test splits built here (at most
// --accuracy-n examples per task), the runtime half in bench/accuracy/ in Chromium (or, with
// --node, here on Dawn), into bench/results/accuracy.{json,md}. Its `trained` column (spam;
// the tasks of bench/accuracy/offline-subsets.json) trains a tenant with runtime.tenants.train
// on the offline adapter's data (the long part: --accuracy-train=0 skips it; --accuracy-train-n=N
// trains on N of those examples, a plumbing check whose report goes to bench/results/tmp/) and
// scores it and the shipped tenant on --accuracy-train-test-n test examples (default: all).
// `realsize` (only when named) generates random F16 checkpoints in the shapes of BERT-base and
// GPT-2 small once into bench/realsize-models/ (gitignored), loads them under a 128 MiB buffer
// cap in Node (Dawn) and then in Chromium (bench/realsize/, the models fetched from Vite; not
// with --node), and writes load times, GPU bytes, throughput, the f64 reference check and
// multiTenantOverhead at 1,000 BERT-base tenants (Node) to bench/results/realsize.{json,md}.
// The default run ends in bench/results/latest.{json,md,svg} (latest-node with --node, full with
// --full); a run of named scenarios in partial.{json,md,svg}; and a table on stdout.
// With no scenario named, every runtime scenario and matmul run. SwiftShader unless HMI_HARDWARE=1.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';
import { register as registerTsx } from 'tsx/esm/api';
import { createServer } from 'vite';

registerTsx();
// After tsx, so it runs first (the last registered hook is outermost).
register('../bin/wgsl-hook.mjs', import.meta.url);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = resolve(root, 'bench/results');

const PAGES = {
  kernels: {
    page: '/bench/kernels/index.html',
    timeoutMs: 30 * 60_000,
    report: reportKernels,
  },
  // Not in the default run: only `npm run bench -- micro`.
  micro: {
    page: '/bench/kernels/micro.html',
    timeoutMs: 15 * 60_000,
    report: reportMicro,
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

/** Rows of bench/kernels/micro.ts: every non-matmul kernel variant, GPU vs its f64 JS reference. */
function reportMicro(result, { write = true } = {}) {
  console.log(`adapter: ${result.adapter} (rounds of ~${result.targetRoundMs} ms, per-dispatch median)`);
  const num = (v, digits) => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));
  const head = ['kernel', 'variant', 'shape', 'us/dispatch', 'GB/s', 'GFLOP/s', 'cpu us', 'gpu/cpu speedup', 'max abs diff', 'check'];
  const body = result.rows.map((r) => [
    r.kernel,
    r.variant,
    r.shape,
    num(r.gpuUs, 1),
    num(r.gbps, 3),
    num(r.gflops, 3),
    num(r.cpuUs, 0),
    Number.isNaN(r.speedup) ? '-' : `${r.speedup.toFixed(2)}x`,
    Number.isNaN(r.maxAbsDiff) ? '-' : r.maxAbsDiff.toExponential(1),
    r.error ? `ERROR: ${r.error}` : r.pass ? 'ok' : `FAIL (> ${r.tolerance.toExponential(1)})`,
  ]);
  printTable(head, body);
  const failed = result.rows.filter((r) => !r.pass);
  if (!write) {
    if (failed.length) throw new Error(`micro: ${failed.length} kernel check(s) failed: ${failed.map((r) => `${r.kernel} ${r.variant}`).join(', ')}`);
    return;
  }
  writeResult('micro', result);
  const md = [
    '# Kernel micro-benchmark (`npm run bench -- micro`)',
    '',
    `Adapter: ${result.adapter}. Per-dispatch median over rounds of N dispatches in one pass (N sized for ~${result.targetRoundMs} ms a round); GB/s from compulsory bytes (inputs read + outputs written once); cpu = the f64 JS reference (src/kernels/cpu/) on the same inputs. SwiftShader numbers are CPU-bound: compare rows, not absolutes.`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...body.map((row) => `| ${row.map((c) => c.replaceAll('|', '/')).join(' | ')} |`),
    '',
  ].join('\n');
  const mdFile = resolve(resultsDir, 'micro.md');
  writeFileSync(mdFile, md);
  console.log(`wrote ${mdFile}`);
  if (failed.length) throw new Error(`micro: ${failed.length} kernel check(s) failed: ${failed.map((r) => `${r.kernel} ${r.variant}`).join(', ')}`);
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

async function runPage(browser, baseUrl, name, path, timeoutMs) {
  console.log(`\n=== bench ${name} in Chromium: ${path}`);
  const page = await browser.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'log' || msg.type() === 'error') console.log(`  [page] ${msg.text()}`);
  });
  page.on('pageerror', (err) => console.error(`  [page error] ${err.message}`));
  try {
    await page.goto(new URL(path, baseUrl).href);
    await page.waitForFunction(() => window.__benchResult !== undefined, undefined, { timeout: timeoutMs, polling: 500 });
    const outcome = await page.evaluate(() => window.__benchResult);
    if (!outcome.ok) throw new Error(`${name} failed in the page: ${outcome.error}`);
    return outcome.result;
  } finally {
    await page.close();
  }
}

/** Vite + headless Chromium, started on first use and shared by every page of the run. */
function browserSession() {
  let started = null;
  const start = async () => {
    const hardware = process.env.HMI_HARDWARE === '1';
    const server = await createServer({
      root,
      configFile: resolve(root, 'vite.config.ts'),
      logLevel: 'warn',
      // No SPA fallback: a missing file must be a 404, not index.html (a model directory without
      // tokenizer files, as bench/realsize-models/, would otherwise seem to have them).
      appType: 'mpa',
      // No watcher, no HMR: an edit anywhere in the repo (colleagues work in it) must not reload a page mid-run.
      server: { port: 0, host: 'localhost', hmr: false, watch: null },
      // Pre-bundled up front: discovering them on first load would make Vite reload the page mid-run.
      optimizeDeps: { include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu', 'idb-keyval', '@huggingface/tokenizers'] },
    });
    await server.listen();
    const address = server.httpServer?.address();
    if (!address || typeof address === 'string') throw new Error('Vite did not report its port');
    const browser = await chromium.launch({
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
    return { server, browser, baseUrl: `http://localhost:${address.port}/` };
  };
  return {
    get: () => (started ??= start()),
    close: async () => {
      if (!started) return;
      const { server, browser } = await started;
      await browser.close();
      await server.close();
    },
  };
}

/** `--flag=1` / `--flag=0` (also true/false, yes/no). */
function booleanFlag(flag, v) {
  if (['1', 'true', 'yes'].includes(v)) return true;
  if (['0', 'false', 'no'].includes(v)) return false;
  throw new Error(`${flag} must be 1 or 0, got ${v}`);
}

function positiveInt(flag, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got ${v}`);
  return n;
}

/**
 * The URL path Vite serves a file of the repo under. `asIs`: only public/ (served at the root)
 * is sent byte for byte; elsewhere Vite transforms a file without a known extension as a module
 * (a PLOT chunk would come back as an HTTP 500 and read as a miss).
 */
function servedPath(path, { asIs = false } = {}) {
  const pub = relative(resolve(root, 'public'), path);
  const rel = pub.startsWith('..') ? relative(root, path) : pub;
  if (rel.startsWith('..') || (asIs && pub.startsWith('..'))) {
    throw new Error(`${path} is outside ${asIs ? resolve(root, 'public') : root}, so the page cannot read it as it is: use --node, or put it there`);
  }
  return `/${rel.split(sep).join('/')}`;
}

/**
 * `accuracy`: the input and the bag-of-words floor here (training/data.mjs, test splits), the
 * runtime half in the page bench/accuracy/ (or in this process with --node), the report here.
 */
async function runAccuracyBench(session, flags, command) {
  const accuracy = await import('../bench/accuracy/node.ts');
  const data = await import('../training/data.mjs');
  const shapes = await import('../training/shapes.mjs');
  const bundle = flags.bundle ?? resolve(root, 'public/models');
  const sizes = { ...accuracy.DEFAULT_ACCURACY_SIZES, ...flags.accuracy };
  // Checked before any work: the page reads the bundle over HTTP.
  const bundleUrl = flags.node ? null : `${servedPath(bundle, { asIs: true })}/`;
  const trainLine = sizes.train ? `; trained column on ${sizes.trainN ?? 'all the offline'} train examples, compared on ${sizes.trainTestN === accuracy.DEFAULT_ACCURACY_SIZES.trainTestN ? 'the whole test split' : `at most ${sizes.trainTestN} test examples`}` : '; no trained column';
  console.log(`\n=== bench accuracy: bundle ${bundle}; at most ${sizes.n} test examples per task, ${sizes.windows} windows of held-out speeches, ${sizes.styleWindows} per style tenant${trainLine}`);
  const started = Date.now();
  const prepared = await accuracy.prepareAccuracy(bundle, sizes, data, shapes, (m) => console.log(`  ${m}`));
  let run;
  if (flags.node) {
    console.log('\n=== bench accuracy in Node (Dawn)');
    run = await accuracy.runAccuracyNode(bundle, prepared.input);
  } else {
    const inputFile = resolve(resultsDir, 'tmp/accuracy-input.json');
    mkdirSync(dirname(inputFile), { recursive: true });
    writeFileSync(inputFile, JSON.stringify(prepared.input));
    const { browser, baseUrl } = await session.get();
    const query = new URLSearchParams({ input: servedPath(inputFile), bundle: bundleUrl });
    // The trained column alone can take most of an hour on SwiftShader.
    run = await runPage(browser, baseUrl, 'accuracy', `/bench/accuracy/index.html?${query}`, (sizes.train ? 4 : 1) * 60 * 60_000);
  }
  // Only a run on the shipped bundle is bench/results/accuracy (what the README quotes); --node
  // adds -node as latest-node does, and another bundle's run goes to tmp/, never committed.
  // A trained column on fewer examples than the offline adapter's is a plumbing check: tmp/ too.
  const dir = bundle === resolve(root, 'public/models') && !(sizes.train && sizes.trainN !== null) ? resultsDir : resolve(resultsDir, 'tmp');
  const base = `accuracy${flags.node ? '-node' : ''}`;
  const table = await accuracy.writeAccuracyReport(dir, base, prepared, run, { command, bundle: relative(root, bundle) || bundle });
  console.log(`\n${table}\nwrote ${resolve(dir, `${base}.json`)}, ${base}.md (${Math.round((Date.now() - started) / 1000)} s)`);
}

/** `realsize`: checkpoints and the references here, the runtime in Node and then in the page bench/realsize/. */
async function runRealsizeBench(session, flags, command) {
  const realsize = await import('../bench/realsize/node.ts');
  const options = realsize.DEFAULT_REALSIZE_OPTIONS;
  const started = Date.now();
  console.log('\n=== bench realsize: BERT-base and GPT-2 small shapes, random F16 weights, 128 MiB buffers');
  const dirs = await realsize.prepareModels(root, options.seed);
  console.log('\n=== bench realsize in Node (Dawn)');
  const runs = [await realsize.runRealsizeNode(root, dirs, options)];
  if (!flags.node) {
    const { browser, baseUrl } = await session.get();
    // multiTenantOverhead stays in Node: 1,000 BERT-base tenants on SwiftShader in the page would add minutes.
    const query = new URLSearchParams({ bert: `${servedPath(dirs.bert)}/`, gpt: `${servedPath(dirs.gpt2)}/`, options: JSON.stringify({ ...options, overheadTenants: 0 }) });
    runs.push(await runPage(browser, baseUrl, 'realsize', `/bench/realsize/index.html?${query}`, 30 * 60_000));
  }
  console.log('\n=== bench realsize: f64 reference checks');
  const table = await realsize.reportRealsize(resultsDir, dirs, runs, command);
  console.log(`\n${table}\nwrote ${resolve(resultsDir, 'realsize.json')}, realsize.md (${Math.round((Date.now() - started) / 1000)} s)`);
}

function parseArgs(argv, bench) {
  const names = [];
  const flags = { node: false, full: false, kernels: null, bundle: null, accuracy: {} };
  const opts = { ...bench.DEFAULT_OPTIONS };
  const list = (v) => v.split(',').map(Number);
  for (const a of argv) {
    const [k, v] = a.split('=');
    if (a === '--node') flags.node = true;
    else if (a === '--full') flags.full = true;
    else if (k === '--requests') opts.requests = Number(v);
    else if (k === '--slices') opts.slices = Number(v);
    else if (k === '--tenants') opts.tenantCounts = list(v);
    else if (k === '--sequential') opts.sequentialTenants = list(v);
    else if (k === '--merged') opts.mergedTenants = list(v);
    else if (k === '--cold') opts.coldTenants = Number(v);
    else if (k === '--generate') opts.generateTenants = list(v);
    else if (k === '--generate-requests') opts.generateRequests = Number(v);
    else if (k === '--train-batch-tokens') opts.trainBatchTokens = positiveInt(k, v);
    else if (k === '--kernels') flags.kernels = v;
    else if (k === '--accuracy-n') flags.accuracy.n = positiveInt(k, v);
    else if (k === '--accuracy-windows') flags.accuracy.windows = positiveInt(k, v);
    else if (k === '--accuracy-style-windows') flags.accuracy.styleWindows = positiveInt(k, v);
    else if (k === '--accuracy-train') flags.accuracy.train = booleanFlag(k, v);
    else if (k === '--accuracy-train-n') flags.accuracy.trainN = positiveInt(k, v);
    else if (k === '--accuracy-train-test-n') flags.accuracy.trainTestN = positiveInt(k, v);
    else if (k === '--bundle') flags.bundle = resolve(v);
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else names.push(a);
  }
  if (flags.full) {
    opts.tenantCounts = [...new Set([...opts.tenantCounts, 100000])];
    opts.generateTenants = [...new Set([...opts.generateTenants, 100000])];
  }
  return { names, flags, opts };
}

async function main() {
  const bench = await import('../bench/node-main.ts');
  const { names: asked, flags, opts } = parseArgs(process.argv.slice(2), bench);
  const runtimeNames = Object.keys(bench.RUNTIME_SCENARIOS);
  const known = [...Object.keys(PAGES), 'accuracy', 'realsize', 'matmul', ...runtimeNames];
  const unknown = asked.filter((n) => !known.includes(n));
  if (unknown.length) {
    console.error(`unknown scenario ${unknown.join(', ')}; available: ${known.join(', ')}`);
    process.exit(2);
  }
  const names = asked.length ? asked : [...runtimeNames, 'matmul'];
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const session = browserSession();
  try {
    if (names.includes('kernels') || (names.includes('matmul') && !existsSync(resolve(resultsDir, 'kernels.json')))) {
      const { browser, baseUrl } = await session.get();
      PAGES.kernels.report(await runPage(browser, baseUrl, 'kernels', PAGES.kernels.page, PAGES.kernels.timeoutMs));
    }
    // Pages other than kernels run only when named (the default list never names them).
    for (const [name, entry] of Object.entries(PAGES)) {
      if (name === 'kernels' || !names.includes(name)) continue;
      const { browser, baseUrl } = await session.get();
      // micro --kernels=a,b: only those kernels' rows, printed, not written over the full table.
      const page = name === 'micro' && flags.kernels ? `${entry.page}?kernels=${encodeURIComponent(flags.kernels)}` : entry.page;
      entry.report(await runPage(browser, baseUrl, name, page, entry.timeoutMs), { write: !(name === 'micro' && flags.kernels) });
    }
    // Only when named, as micro.
    if (names.includes('accuracy')) await runAccuracyBench(session, flags, command);
    if (names.includes('realsize')) await runRealsizeBench(session, flags, command);
    const runtime = names.filter((n) => runtimeNames.includes(n));
    const wantsReport = runtime.length > 0 || names.includes('matmul');
    if (!wantsReport) return;
    let results;
    if (runtime.length === 0) {
      results = bench.emptyResults();
      results.machine = { ...results.machine, command };
    } else if (flags.node) {
      console.log(`\n=== bench ${runtime.join(', ')} in Node (Dawn)`);
      results = await bench.runNode(root, runtime, opts, command);
    } else {
      const { browser, baseUrl } = await session.get();
      const query = new URLSearchParams({ scenarios: runtime.join(','), options: JSON.stringify(opts), command });
      results = await runPage(browser, baseUrl, runtime.join(', '), `/bench/runtime/index.html?${query}`, 60 * 60_000);
    }
    if (names.includes('matmul')) {
      results.matmul = await bench.readMatmul(resultsDir);
      const when = results.matmul ? statSync(resolve(resultsDir, 'kernels.json')).mtime.toISOString() : null;
      results.notes.push(when ? `matmul: the kernels table of bench/results/kernels.json (written ${when} by \`npm run bench:kernels\`, in Chromium), not re-measured unless \`kernels\` is named.` : 'matmul: no kernels table yet.');
    }
    // Only the whole default run is `latest` (what the README quotes); a run of named scenarios
    // goes to `partial` so it never overwrites the full table.
    const base = `${asked.length ? 'partial' : flags.full ? 'full' : 'latest'}${flags.node ? '-node' : ''}`;
    const table = await bench.writeReport(resultsDir, results, base);
    console.log(`\n${table}\nwrote ${resolve(resultsDir, `${base}.json`)}, ${base}.md, ${base}.svg`);
  } finally {
    await session.close();
  }
}

main()
  .then(() => process.exit(0))
  .catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
