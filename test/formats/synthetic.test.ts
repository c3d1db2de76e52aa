import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import { directorySource, loadAdapter, loadModel } from '../../src/formats/model-source.js';
import { DEFAULT_ADAPTERS, makeAdapterFiles, makeBertFiles, makeGpt2Files } from '../../src/model/synthetic.js';

const run = promisify(execFile);
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hmi-models-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

function same(a: Record<string, string | Uint8Array>, b: Record<string, string | Uint8Array>): void {
  expect(Object.keys(b)).toEqual(Object.keys(a));
  for (const k of Object.keys(a)) expect(Buffer.from(b[k]).equals(Buffer.from(a[k])), k).toBe(true);
}

describe('synthetic models', () => {
  it('are deterministic for a seed and differ across seeds', () => {
    const opts = { hiddenSize: 8, numLayers: 1, numHeads: 2, intermediateSize: 8, maxPositions: 8 };
    same(makeBertFiles(opts), makeBertFiles(opts));
    same(makeGpt2Files({ nEmbd: 8, nLayer: 1, nHead: 2, nPositions: 8 }), makeGpt2Files({ nEmbd: 8, nLayer: 1, nHead: 2, nPositions: 8 }));
    const other = makeBertFiles({ ...opts, seed: 2 });
    expect(Buffer.from(other['model.safetensors']).equals(Buffer.from(makeBertFiles(opts)['model.safetensors']))).toBe(false);
    const base = parseHfConfig(JSON.parse(makeBertFiles(opts)['config.json'] as string));
    same(makeAdapterFiles(base, { rank: 2, seed: 3 }), makeAdapterFiles(base, { rank: 2, seed: 3 }));
  });

  it('give adapters that change the base outputs: B is not zero', () => {
    const base = parseHfConfig(JSON.parse(makeGpt2Files({ nEmbd: 8, nLayer: 2, nHead: 2, nPositions: 8 })['config.json'] as string));
    const files = makeAdapterFiles(base, { rank: 2, seed: 3 });
    const cfg = JSON.parse(files['adapter_config.json'] as string) as { r: number; lora_alpha: number };
    expect(cfg).toMatchObject({ r: 2, lora_alpha: 4 });
    const bytes = files['adapter_model.safetensors'] as Uint8Array;
    expect(bytes.some((b, i) => i > 200 && b !== 0)).toBe(true);
  });

  it('scripts/make-models.mjs writes loadable defaults, byte-identical across runs, and skips when up to date', async () => {
    const a = join(root, 'a');
    const b = join(root, 'b');
    const first = await run('node', ['scripts/make-models.mjs', a]);
    expect(first.stdout).toContain('hbert-mini/model.safetensors');
    await run('node', ['scripts/make-models.mjs', b]);
    const files = await listFiles(a);
    expect(files).toEqual(await listFiles(b));
    for (const f of files) expect((await readFile(join(a, f))).equals(await readFile(join(b, f))), f).toBe(true);
    for (const spec of DEFAULT_ADAPTERS) expect(files).toContain(`adapters/${spec.base}/${spec.name}/adapter_model.safetensors`);

    const before = (await stat(join(a, 'hbert-mini/model.safetensors'))).mtimeMs;
    const again = await run('node', ['scripts/make-models.mjs', a]);
    expect(again.stdout).toContain('up to date');
    expect((await stat(join(a, 'hbert-mini/model.safetensors'))).mtimeMs).toBe(before);

    const bert = await loadModel(directorySource(join(a, 'hbert-mini')));
    expect(bert.config).toMatchObject({ family: 'bert', hiddenSize: 128, numLayers: 4, numHeads: 4, intermediateSize: 512, maxPositions: 128, typeVocabSize: 2, numLabels: 2 });
    const gpt = await loadModel(directorySource(join(a, 'hgpt-mini')));
    expect(gpt.config).toMatchObject({ family: 'gpt2', hiddenSize: 128, numLayers: 4, numHeads: 4, maxPositions: 256, vocabSize: 1000 });
    const index = JSON.parse(await readFile(join(a, 'index.json'), 'utf8')) as { models: Array<{ id: string; hash: string }> };
    expect(index.models.find((m) => m.id === 'hbert-mini')!.hash).toBe(bert.hash);
    const ranks = new Set<number>();
    for (const spec of DEFAULT_ADAPTERS) {
      const base = spec.base === 'hbert-mini' ? bert.config : gpt.config;
      const ad = await loadAdapter(directorySource(join(a, 'adapters', spec.base, spec.name)), base);
      for (const m of ad.modules.values()) ranks.add(m.r);
    }
    expect([...ranks].sort()).toEqual([4, 8]);
  });
});
