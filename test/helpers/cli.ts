import { execFile } from 'node:child_process';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `bin/hmi.mjs` in a child process, as a user would; never rejects. */
export function hmi(...args: string[]): Promise<CliRun> {
  return new Promise((done) => {
    execFile(process.execPath, ['bin/hmi.mjs', ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
