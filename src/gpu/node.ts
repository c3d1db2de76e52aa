/**
 * Node entry to WebGPU: Dawn from the `webgpu` package. Kept out of the browser bundle;
 * only the CLI, the Node tests and the Node benchmark import it.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** A directory only this user can enter (0700), as the XDG base directory spec asks of XDG_RUNTIME_DIR. */
function isPrivateDir(dir: string): boolean {
  try {
    const s = lstatSync(dir);
    return s.isDirectory() && s.uid === process.getuid?.() && (s.mode & 0o777) === 0o700;
  } catch {
    return false;
  }
}

function isUsableRuntimeDir(dir: string | undefined): boolean {
  if (dir === undefined || !isAbsolute(dir)) return false;
  try {
    const s = statSync(dir);
    return s.isDirectory() && (process.getuid === undefined || s.uid === process.getuid());
  } catch {
    return false;
  }
}

/**
 * Dawn's start-up reaches libwayland-client, which prints "error: XDG_RUNTIME_DIR is invalid or
 * not set in the environment." to stderr on every run of a headless machine or container. A
 * missing or unusable XDG_RUNTIME_DIR is pointed at a private directory of ours first (one per
 * user, reused, so runs do not litter the temp dir), which keeps the CLI's output clean.
 */
export function ensureXdgRuntimeDir(): void {
  if (process.platform !== 'linux' || isUsableRuntimeDir(process.env.XDG_RUNTIME_DIR)) return;
  const shared = join(tmpdir(), `hmi-runtime-${process.getuid?.() ?? 'user'}`);
  try {
    mkdirSync(shared, { mode: 0o700 });
  } catch {
    // Already there: ours to reuse only if nobody else could have made or opened it.
  }
  process.env.XDG_RUNTIME_DIR = isPrivateDir(shared) ? shared : mkdtempSync(join(tmpdir(), 'hmi-runtime-'));
}

export async function nodeGpu(): Promise<GPU> {
  // Debian's lavapipe is too old for Dawn; Chromium's SwiftShader ICD works. A machine with
  // a real GPU keeps its own ICDs unless HMI_SWIFTSHADER=1 asks for the software path.
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD) && process.env.HMI_HARDWARE !== '1') {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  ensureXdgRuntimeDir();
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  return create([]);
}
