// The runtime scenarios in a page: scripts/bench.mjs opens
// /bench/runtime/index.html?scenarios=a,b&options={json}&command=... in headless Chromium and
// waits for window.__benchResult.
import { DEFAULT_OPTIONS, type BenchOptions } from '../lib/context.js';
import { runScenarios } from '../lib/driver.js';
import { browserEnv } from '../lib/env-browser.js';
import { runBenchPage } from '../lib/page.js';

runBenchPage(async (q, log) => {
  const names = (q.get('scenarios') ?? '').split(',').filter(Boolean);
  const opts: BenchOptions = { ...DEFAULT_OPTIONS, ...(JSON.parse(q.get('options') ?? '{}') as Partial<BenchOptions>) };
  return runScenarios(browserEnv(log), names, opts, q.get('command') ?? 'npm run bench');
});
