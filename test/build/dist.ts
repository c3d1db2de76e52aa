/**
 * The production build, made once per test file into a temp folder: the tests check what users
 * get (minified by the real config), and a fresh build is cheaper (about 2 s) than deciding
 * whether dist/ is stale.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Built {
  readonly outDir: string;
  /** Imports a file of the build by its path under outDir. */
  load(file: string): Promise<Record<string, unknown>>;
  remove(): Promise<void>;
}

/** Builds into `outDir`, or a new temp folder. */
export async function buildDist(outDir?: string): Promise<Built> {
  outDir ??= await mkdtemp(join(tmpdir(), 'hmi-dist-'));
  // A child process, as `npm run build` runs it: the test runner's NODE_ENV=test must not leak into the build.
  const env = { ...process.env };
  delete env.NODE_ENV;
  await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: ROOT,
    env,
    maxBuffer: 16 << 20,
  });
  const dir = outDir;
  return {
    outDir,
    load: (file) => import(/* @vite-ignore */ pathToFileURL(join(dir, file)).href) as Promise<Record<string, unknown>>,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
