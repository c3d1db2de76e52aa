import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ModelLoadError, SafetensorsError, WeightShapeError } from '../../src/formats/errors.js';
import { fnv1a64 } from '../../src/formats/hash.js';
import { directorySource, loadAdapter, loadModel, urlSource, type ModelSource } from '../../src/formats/model-source.js';
import { makeAdapterFiles, makeBertFiles, makeGpt2Files, type ModelFiles } from '../../src/model/synthetic.js';

let root: string;

async function writeDir(name: string, files: ModelFiles): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [f, content] of Object.entries(files)) await writeFile(join(dir, f), content);
  return dir;
}

/** An in-memory fetch serving `files` under http://models.test/m/. */
function fakeFetch(files: ModelFiles, fail?: string): typeof fetch {
  return (async (input: RequestInfo | URL) => {
    const url = String(input);
    if (fail !== undefined && url.endsWith(fail)) throw new TypeError('fetch failed');
    const name = decodeURIComponent(url.replace('http://models.test/m/', ''));
    const body = files[name];
    if (body === undefined) return new Response('not found', { status: 404, statusText: 'Not Found' });
    return new Response(typeof body === 'string' ? body : body.slice());
  }) as typeof fetch;
}

const bertOpts = { hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24, maxPositions: 32 };
const bertFiles = makeBertFiles(bertOpts);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hmi-formats-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('fnv1a64', () => {
  it('matches the reference vectors', () => {
    expect(fnv1a64(new Uint8Array())).toBe('cbf29ce484222325');
    expect(fnv1a64(new TextEncoder().encode('a'))).toBe('af63dc4c8601ec8c');
    expect(fnv1a64(new TextEncoder().encode('foobar'))).toBe('85944171f73967e8');
  });
});

describe('loadModel', () => {
  it('loads a synthetic BERT from a directory', async () => {
    const dir = await writeDir('bert', bertFiles);
    const m = await loadModel(directorySource(dir));
    expect(m.config).toMatchObject({ family: 'bert', hiddenSize: 16, numLayers: 2, numLabels: 2, labels: ['negative', 'positive'] });
    expect(m.weights.get('encoder.layer.1.output.dense.weight')!.shape).toEqual([16, 24]);
    expect(m.weights.get('classifier.weight')!.shape).toEqual([2, 16]);
    expect(m.tokenizer.encode('the cold river')).toHaveLength(5);
    expect(m.hash).toBe(fnv1a64(bertFiles['model.safetensors'] as Uint8Array));
    expect(m.hash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('loads a synthetic GPT-2 without tokenizer_config.json, and its adapter', async () => {
    const files = makeGpt2Files({ nEmbd: 16, nLayer: 2, nHead: 2, nPositions: 32, vocabSize: 400 });
    delete files['tokenizer_config.json'];
    const dir = await writeDir('gpt2', files);
    const m = await loadModel(directorySource(dir));
    expect(m.config).toMatchObject({ family: 'gpt2', vocabSize: 400, eosTokenId: 399, intermediateSize: 64 });
    expect(m.tokenizer.decode(m.tokenizer.encode('héllo 🙂'))).toBe('héllo 🙂');
    const adir = await writeDir('gpt2-adapter', makeAdapterFiles(m.config, { rank: 2, seed: 5 }));
    const a = await loadAdapter(directorySource(adir), m.config);
    expect([...a.modules.keys()]).toEqual(['h.1.attn.c_attn']);
  });

  it('gives different hashes to different weights', async () => {
    const other = makeBertFiles({ ...bertOpts, seed: 99 });
    const a = await loadModel(urlSource('http://models.test/m', fakeFetch(bertFiles)));
    const b = await loadModel(urlSource('http://models.test/m/', fakeFetch(other)));
    expect(a.hash).not.toBe(b.hash);
  });

  it('names the missing file and the location', async () => {
    const files = { ...bertFiles };
    delete files['model.safetensors'];
    const dir = await writeDir('incomplete', files);
    const e = await loadModel(directorySource(dir)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelLoadError);
    expect((e as Error).message).toContain(`cannot load model.safetensors from ${dir}`);
    const u = await loadModel(urlSource('http://models.test/m', fakeFetch(files))).catch((x: unknown) => x);
    expect(u).toBeInstanceOf(ModelLoadError);
    expect((u as Error).message).toBe('cannot load model.safetensors from http://models.test/m/model.safetensors: HTTP 404 Not Found');
  });

  it('reports network errors and bad JSON as ModelLoadError', async () => {
    const n = await loadModel(urlSource('http://models.test/m', fakeFetch(bertFiles, 'tokenizer.json'))).catch((x: unknown) => x);
    expect((n as Error).message).toMatch(/cannot load tokenizer.json from http:\/\/models.test\/m\/tokenizer.json: network error: fetch failed/);
    const bad = await loadModel(urlSource('http://models.test/m', fakeFetch({ ...bertFiles, 'config.json': '{oops' }))).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(ModelLoadError);
    expect((bad as Error).message).toMatch(/config.json .*invalid JSON/);
  });

  it('keeps validation error classes and says which file failed', async () => {
    const src = (files: ModelFiles): ModelSource => urlSource('http://models.test/m', fakeFetch(files));
    const cfg = JSON.parse(bertFiles['config.json'] as string) as Record<string, unknown>;
    const e1 = await loadModel(src({ ...bertFiles, 'config.json': JSON.stringify({ ...cfg, model_type: 't5' }) })).catch((x: unknown) => x);
    expect(e1).toBeInstanceOf(ConfigError);
    expect((e1 as Error).message).toMatch(/\(config.json in http:\/\/models.test\/m\/\)$/);
    const e2 = await loadModel(src({ ...bertFiles, 'config.json': JSON.stringify({ ...cfg, hidden_size: 32, num_attention_heads: 2 }) })).catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(WeightShapeError);
    const e3 = await loadModel(src({ ...bertFiles, 'model.safetensors': new Uint8Array(4) })).catch((x: unknown) => x);
    expect(e3).toBeInstanceOf(SafetensorsError);
    const e4 = await loadModel(src({ ...bertFiles, 'config.json': JSON.stringify({ ...cfg, vocab_size: 100 }) })).catch((x: unknown) => x);
    expect(e4).toBeInstanceOf(WeightShapeError);
  });

  it('exists() reflects the source', async () => {
    const s = urlSource('http://models.test/m', fakeFetch(bertFiles));
    expect(await s.exists('config.json')).toBe(true);
    expect(await s.exists('nope.json')).toBe(false);
    const d = directorySource(await writeDir('bert2', bertFiles));
    expect(await d.exists('tokenizer.json')).toBe(true);
    expect(await d.exists('missing')).toBe(false);
  });
});
