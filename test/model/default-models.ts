import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Runs scripts/make-models.mjs into a fresh temp dir; returns the dir and its cleanup. */
export function makeDefaultModels(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'hmi-models-'));
  execFileSync(process.execPath, ['scripts/make-models.mjs', dir], { stdio: 'pipe' });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
