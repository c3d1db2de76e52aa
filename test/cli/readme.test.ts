/**
 * Every `hmi` command README.md shows in a code block runs, as written, from the repository's
 * root and exits 0: a README example that fails is the first thing a user meets.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const LAUNCHERS = ['npx hmi ', 'node bin/hmi.mjs ', 'hmi '];

/** Lines of the README's fenced code blocks that start an `hmi` command, in order. */
function readmeCommands(): string[] {
  const out: string[] = [];
  let inBlock = false;
  for (const raw of readFileSync(join(root, 'README.md'), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('```')) {
      inBlock = !inBlock;
      continue;
    }
    if (inBlock && LAUNCHERS.some((l) => line.startsWith(l))) out.push(line);
  }
  return out;
}

/**
 * The launcher becomes `node bin/hmi.mjs`, which is what `npx hmi` runs here (package.json's
 * bin) without npm's exec cache; the rest goes to the shell untouched, quotes and comments too.
 */
function asRun(command: string): string {
  const launcher = LAUNCHERS.find((l) => command.startsWith(l))!;
  return `node bin/hmi.mjs ${command.slice(launcher.length)}`;
}

/** Directories a command writes (--store, --out) that were not there before: removed afterwards. */
const created: string[] = [];
function outputsOf(command: string): string[] {
  return [...command.matchAll(/--(?:store|out)\s+([^\s#]+)/g)].map((m) => resolve(root, m[1]));
}

afterAll(() => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

const commands = readmeCommands();

describe('README.md hmi commands', () => {
  it('are there to run, and `npx hmi` is bin/hmi.mjs', () => {
    expect(commands.length).toBeGreaterThanOrEqual(8);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(resolve(root, pkg.bin.hmi)).toBe(join(root, 'bin/hmi.mjs'));
  });

  it.each(commands)('%s', async (command) => {
    for (const dir of outputsOf(command)) if (!existsSync(dir) && !created.includes(dir)) created.push(dir);
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile('sh', ['-c', asRun(command)], { cwd: root, maxBuffer: 256 << 20 }, (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
    });
    expect(run.code, `${command}\n${run.stderr}`).toBe(0);
    expect(run.stdout.length).toBeGreaterThan(0);
  });
});
