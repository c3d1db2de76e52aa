import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDist, ROOT } from './dist.js';

const run = promisify(execFile);

/** npm ping answers only when the registry is reachable (the install fetches the dependencies). */
async function registryReachable(): Promise<boolean> {
  try {
    await run('npm', ['ping'], { timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}

const online = await registryReachable();
let work = '';

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

// What a user gets from `npm install hmi-webgpu`: the package is staged from the sources and a
// fresh build (not the working tree's dist/, which may be stale), packed, installed into an empty
// project and imported by Node through its `exports`.
describe.skipIf(!online)('the packed package', () => {
  it('installs into a fresh project and imports from Node with its names intact', async () => {
    work = await mkdtemp(join(tmpdir(), 'hmi-pack-'));
    const pkg = join(work, 'package');
    await mkdir(pkg);
    for (const entry of ['package.json', 'README.md', 'bin', 'shaders', 'src']) await cp(join(ROOT, entry), join(pkg, entry), { recursive: true });
    await Promise.all([
      buildDist(join(pkg, 'dist')),
      run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist/types')], { cwd: ROOT }),
    ]);
    // The models copied from public/ are most of the tarball's 35 MB and none of what is checked here.
    await rm(join(pkg, 'dist/models'), { recursive: true, force: true });
    const packed = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: pkg, maxBuffer: 64 << 20 });
    const [{ filename, files }] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const paths = new Set(files.map((f) => f.path));
    for (const f of ['dist/index.js', 'dist/node.js', 'dist/dashboard.js', 'dist/worker.js', 'dist/types/index.d.ts', 'bin/hmi.mjs']) expect(paths, f).toContain(f);

    const app = join(work, 'app');
    await mkdir(app);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run('npm', ['install', join(work, filename), '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'], { cwd: app, timeout: 120_000, maxBuffer: 16 << 20 });
    const probe = `
      const lib = await import('hmi-webgpu');
      const node = await import('hmi-webgpu/node');
      const e = new lib.UnknownTenantError('t1');
      console.log(JSON.stringify({
        lib: ['createRuntime', 'createWorkerRuntime', 'HmiRuntime', 'loadModel', 'parseSafetensors'].filter((k) => typeof lib[k] === 'function'),
        node: ['nodeGpu', 'FsTenantStore', 'DirChunkStore'].filter((k) => typeof node[k] === 'function'),
        error: [e.name, e.code, e instanceof lib.HmiError, lib.QueueFullError.name],
      }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: app });
    expect(JSON.parse(stdout)).toEqual({
      lib: ['createRuntime', 'createWorkerRuntime', 'HmiRuntime', 'loadModel', 'parseSafetensors'],
      node: ['nodeGpu', 'FsTenantStore', 'DirChunkStore'],
      error: ['UnknownTenantError', 'UNKNOWN_TENANT', true, 'QueueFullError'],
    });
  });
});
