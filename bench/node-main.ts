/**
 * Node side of `npm run bench` (imported by scripts/bench.mjs through tsx): runs the runtime
 * scenarios on Dawn, and writes bench/results/latest.{json,md,svg} from any results object.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchOptions } from './lib/context.js';
import { runScenarios } from './lib/driver.js';
import { nodeEnv } from './lib/env-node.js';
import { renderReport } from './lib/report.js';
import type { BenchResults, MatmulRow } from './lib/results.js';

export { DEFAULT_OPTIONS } from './lib/context.js';
export { RUNTIME_SCENARIOS } from './lib/driver.js';
export { emptyResults } from './lib/results.js';

export function runNode(root: string, names: readonly string[], opts: BenchOptions, command: string): Promise<BenchResults> {
  return runScenarios(nodeEnv(root), names, opts, command);
}

/** The kernels scenario's last table (bench/results/kernels.json), or null when it never ran. */
export async function readMatmul(resultsDir: string): Promise<MatmulRow[] | null> {
  try {
    return JSON.parse(await readFile(join(resultsDir, 'kernels.json'), 'utf8')) as MatmulRow[];
  } catch {
    return null;
  }
}

/** Writes `${base}.json`, `.md` and `.svg` under resultsDir; returns the stdout table. */
export async function writeReport(resultsDir: string, results: BenchResults, base: string): Promise<string> {
  const out = renderReport(results);
  await mkdir(resultsDir, { recursive: true });
  await Promise.all([
    writeFile(join(resultsDir, `${base}.json`), out.json),
    writeFile(join(resultsDir, `${base}.md`), out.markdown),
    writeFile(join(resultsDir, `${base}.svg`), out.svg),
  ]);
  return out.text;
}
