// The runtime scenarios in a page: scripts/bench.mjs opens
// /bench/runtime/index.html?scenarios=a,b&options={json}&command=... in headless Chromium and
// waits for window.__benchResult.
import { DEFAULT_OPTIONS, type BenchOptions } from '../lib/context.js';
import { runScenarios } from '../lib/driver.js';
import { browserEnv } from '../lib/env-browser.js';

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
  const names = (q.get('scenarios') ?? '').split(',').filter(Boolean);
  const opts: BenchOptions = { ...DEFAULT_OPTIONS, ...(JSON.parse(q.get('options') ?? '{}') as Partial<BenchOptions>) };
  const result = await runScenarios(browserEnv(log), names, opts, q.get('command') ?? 'npm run bench');
  publish({ ok: true, result });
}

main().catch((e: unknown) => publish({ ok: false, error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) }));
