// The runtime half of the accuracy benchmark in a page: scripts/bench.mjs writes the input
// (bench/results/tmp/accuracy-input.json, served by Vite), opens
// /bench/accuracy/index.html?input=<url>&bundle=<url> in headless Chromium and waits for
// window.__benchResult.
import type { AccuracyInput } from '../lib/accuracy-input.js';
import { runAccuracy } from '../lib/accuracy.js';

type Outcome = { ok: true; result: unknown } | { ok: false; error: string };
const publish = (o: Outcome): void => {
  (window as unknown as { __benchResult?: Outcome }).__benchResult = o;
};

const log = (msg: string): void => {
  console.log(msg);
  const status = document.getElementById('status');
  if (status) status.textContent = msg;
};

async function main(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const inputUrl = q.get('input');
  if (!inputUrl) throw new Error('the page needs ?input=<url of the accuracy input JSON>');
  const res = await fetch(new URL(inputUrl, location.href));
  if (!res.ok) throw new Error(`cannot fetch ${inputUrl}: HTTP ${res.status}`);
  const input = (await res.json()) as AccuracyInput;
  const bundle = new URL(q.get('bundle') ?? '/models/', location.href).href;
  const result = await runAccuracy(
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
  publish({ ok: true, result });
}

main().catch((e: unknown) => publish({ ok: false, error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) }));
