// The runtime half of the accuracy benchmark in a page: scripts/bench.mjs writes the input
// (bench/results/tmp/accuracy-input.json, served by Vite), opens
// /bench/accuracy/index.html?input=<url>&bundle=<url> in headless Chromium and waits for
// window.__benchResult.
import type { AccuracyInput } from '../lib/accuracy-input.js';
import { runAccuracy } from '../lib/accuracy.js';
import { runBenchPage } from '../lib/page.js';

runBenchPage(async (q, log) => {
  const inputUrl = q.get('input');
  if (!inputUrl) throw new Error('the page needs ?input=<url of the accuracy input JSON>');
  const res = await fetch(new URL(inputUrl, location.href));
  if (!res.ok) throw new Error(`cannot fetch ${inputUrl}: HTTP ${res.status}`);
  const input = (await res.json()) as AccuracyInput;
  const bundle = new URL(q.get('bundle') ?? '/models/', location.href).href;
  return runAccuracy(
    {
      where: 'chromium',
      async gpu() {
        if (!navigator.gpu) throw new Error('navigator.gpu is missing: WebGPU is not enabled in this browser');
        return navigator.gpu;
      },
      bundle,
      log,
    },
    input,
  );
});
