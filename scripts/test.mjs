#!/usr/bin/env node
// `npm test`: typecheck, the Node suite (vitest on Dawn) and the browser suite (Playwright on
// system Chromium), then one plain line `N passed, N failed` counting all of them.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

const out = 'test-results/summary';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const only = process.argv[2]; // optional: typecheck | node | e2e
let passed = 0;
let failed = 0;

function step(name, cmd, args, env = {}) {
  if (only && only !== name) return null;
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status ?? 1;
}

const tc = step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
if (tc !== null) tc === 0 ? passed++ : failed++;

const vitestJson = `${out}/vitest.json`;
const vs = step('node', 'npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`]);
if (vs !== null) {
  try {
    const r = JSON.parse(readFileSync(vitestJson, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests + (r.numFailedTestSuites ?? 0);
    if (vs !== 0 && r.numFailedTests === 0 && !r.numFailedTestSuites) failed++;
  } catch {
    failed++;
  }
}

const pwJson = `${out}/playwright.json`;
const ps = step('e2e', 'npx', ['playwright', 'test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: pwJson });
if (ps !== null) {
  try {
    const r = JSON.parse(readFileSync(pwJson, 'utf8'));
    passed += r.stats.expected + (r.stats.flaky ?? 0);
    failed += r.stats.unexpected;
    if (ps !== 0 && r.stats.unexpected === 0) failed++;
  } catch {
    failed++;
  }
}

console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
