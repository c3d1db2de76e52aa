/**
 * Node side of `npm run bench -- realsize` (imported by scripts/bench.mjs through tsx): the
 * checkpoints, the run on Dawn, and the report once the page (bench/realsize/, in Chromium)
 * has run too.
 */
import { join } from 'node:path';
import { nodeEnv } from '../lib/env-node.js';
import { prepareRealsizeModels, type RealsizeModelDirs } from '../lib/realsize-models.js';
import { buildRealsizeReport, writeRealsizeReport } from '../lib/realsize-report.js';
import { runRealsize, type RealsizeOptions, type RealsizeRun } from '../lib/realsize.js';

export { DEFAULT_REALSIZE_OPTIONS } from '../lib/realsize.js';

const log = (m: string): void => console.log(`  ${m}`);

export function prepareModels(root: string, seed: number): Promise<RealsizeModelDirs> {
  return prepareRealsizeModels(join(root, 'bench/realsize-models'), seed, log);
}

export function runRealsizeNode(root: string, dirs: RealsizeModelDirs, options: RealsizeOptions): Promise<RealsizeRun> {
  return runRealsize({ ...nodeEnv(root), bertModel: dirs.bert, gptModel: dirs.gpt2 }, options);
}

/** Checks every run against the f64 references, writes bench/results/realsize.{json,md}, returns the table. */
export async function reportRealsize(resultsDir: string, dirs: RealsizeModelDirs, runs: readonly RealsizeRun[], command: string): Promise<string> {
  const report = await buildRealsizeReport(dirs, runs, command, log);
  return writeRealsizeReport(resultsDir, report);
}
