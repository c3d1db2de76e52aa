import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ModelLoadError, SafetensorsError, TokenizerError, WeightShapeError } from '../../src/formats/errors.js';
import { fnv1a64 } from '../../src/formats/hash.js';
import { directorySource, loadAdapter, loadModel, urlSource, type ModelSource } from '../../src/formats/model-source.js';
import { bertVocab, GPT2_EOS, makeAdapterFiles, makeBertFiles, makeGpt2Files, type ModelFiles } from '../../src/model/synthetic.js';

let root: string;

async function writeDir(name: string, files: ModelFiles): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [f, content] of Object.entries(files)) await writeFile(join(dir, f), content);
  return dir;
}

/** These fakes serve different files under one URL: a cache would mix them up. */
const uncachedUrlSource = (base: string, fetchImpl: typeof fetch): ModelSource => urlSource(base, fetchImpl, { cache: false });

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
    const a = await loadModel(uncachedUrlSource('http://models.test/m', fakeFetch(bertFiles)));
    const b = await loadModel(uncachedUrlSource('http://models.test/m/', fakeFetch(other)));
    expect(a.hash).not.toBe(b.hash);
  });

  it('names the missing file and the location', async () => {
    const files = { ...bertFiles };
    delete files['model.safetensors'];
    const dir = await writeDir('incomplete', files);
    const e = await loadModel(directorySource(dir)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelLoadError);
    expect((e as Error).message).toContain(`cannot load model.safetensors from ${dir}`);
    const u = await loadModel(uncachedUrlSource('http://models.test/m', fakeFetch(files))).catch((x: unknown) => x);
    expect(u).toBeInstanceOf(ModelLoadError);
    expect((u as Error).message).toBe('cannot load model.safetensors from http://models.test/m/model.safetensors: HTTP 404 Not Found');
  });

  it('reports network errors and bad JSON as ModelLoadError', async () => {
    const n = await loadModel(uncachedUrlSource('http://models.test/m', fakeFetch(bertFiles, 'tokenizer.json'))).catch((x: unknown) => x);
    expect((n as Error).message).toMatch(/cannot load tokenizer.json from http:\/\/models.test\/m\/tokenizer.json: network error: fetch failed/);
    const bad = await loadModel(uncachedUrlSource('http://models.test/m', fakeFetch({ ...bertFiles, 'config.json': '{oops' }))).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(ModelLoadError);
    expect((bad as Error).message).toMatch(/config.json .*invalid JSON/);
  });

  it('keeps validation error classes and says which file failed', async () => {
    const src = (files: ModelFiles): ModelSource => uncachedUrlSource('http://models.test/m', fakeFetch(files));
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
    const s = uncachedUrlSource('http://models.test/m', fakeFetch(bertFiles));
    expect(await s.exists('config.json')).toBe(true);
    expect(await s.exists('nope.json')).toBe(false);
    const d = directorySource(await writeDir('bert2', bertFiles));
    expect(await d.exists('tokenizer.json')).toBe(true);
    expect(await d.exists('missing')).toBe(false);
  });
});

/** The same model with its tokenizer as the older files: vocab.txt, or vocab.json + merges.txt. */
function withoutTokenizerJson(files: ModelFiles): ModelFiles {
  const out = { ...files };
  delete out['tokenizer.json'];
  return out;
}

function asVocabTxt(files: ModelFiles): ModelFiles {
  return { ...withoutTokenizerJson(files), 'vocab.txt': `${bertVocab().join('\n')}\n` };
}

function asVocabJson(files: ModelFiles): ModelFiles {
  const model = (JSON.parse(files['tokenizer.json'] as string) as { model: { vocab: Record<string, number>; merges: string[] } }).model;
  return { ...withoutTokenizerJson(files), 'vocab.json': JSON.stringify(model.vocab), 'merges.txt': `#version: 0.2\n${model.merges.join('\n')}\n` };
}

const TEXTS = ['The cold river, fast!', 'Héllo café 世界 🙂', '[CLS] a [SEP] b', `x ${GPT2_EOS} y`, ' \t two  spaces\n'];

describe('loadModel tokenizer files', () => {
  const gptOpts = { nEmbd: 16, nLayer: 2, nHead: 2, nPositions: 32, vocabSize: 400 };
  const gptFiles = makeGpt2Files(gptOpts);

  it('builds BERT WordPiece from vocab.txt (+ tokenizer_config.json) with the ids tokenizer.json gives', async () => {
    const ref = await loadModel(directorySource(await writeDir('tok-bert-ref', bertFiles)));
    expect(ref.tokenizerFiles).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    const bare = asVocabTxt(bertFiles);
    delete bare['tokenizer_config.json'];
    for (const [name, files, used] of [
      ['tok-vocab-txt', asVocabTxt(bertFiles), ['vocab.txt', 'tokenizer_config.json']],
      ['tok-vocab-txt-bare', bare, ['vocab.txt']],
    ] as const) {
      const m = await loadModel(directorySource(await writeDir(name, files)));
      expect(m.tokenizerFiles).toEqual(used);
      for (const t of TEXTS) expect(m.tokenizer.encode(t), t).toEqual(ref.tokenizer.encode(t));
    }
    // Over a URL too, with tokenizer.json preferred when both are there.
    const both = await loadModel(uncachedUrlSource('http://models.test/m', fakeFetch({ ...asVocabTxt(bertFiles), 'tokenizer.json': bertFiles['tokenizer.json'] })));
    expect(both.tokenizerFiles[0]).toBe('tokenizer.json');
    const url = await loadModel(uncachedUrlSource('http://models.test/m', fakeFetch(asVocabTxt(bertFiles))));
    expect(url.tokenizer.encode(TEXTS[1])).toEqual(ref.tokenizer.encode(TEXTS[1]));
  });

  it('builds GPT-2 byte-level BPE from vocab.json + merges.txt with the ids tokenizer.json gives', async () => {
    const ref = await loadModel(directorySource(await writeDir('tok-gpt-ref', gptFiles)));
    const m = await loadModel(directorySource(await writeDir('tok-gpt-files', asVocabJson(gptFiles))));
    expect(m.tokenizerFiles).toEqual(['vocab.json', 'merges.txt', 'tokenizer_config.json']);
    for (const t of TEXTS) expect(m.tokenizer.encode(t), t).toEqual(ref.tokenizer.encode(t));
    const cfg = JSON.parse(gptFiles['tokenizer_config.json'] as string) as Record<string, unknown>;
    const prefixed = await loadModel(directorySource(await writeDir('tok-gpt-prefix', { ...asVocabJson(gptFiles), 'tokenizer_config.json': JSON.stringify({ ...cfg, add_prefix_space: true }) })));
    expect(prefixed.tokenizer.encode('river')).toEqual(ref.tokenizer.encode(' river'));
  });

  it('takes GPT-2 bos/eos from the tokenizer when config.json leaves them out', async () => {
    const cfg = JSON.parse(gptFiles['config.json'] as string) as Record<string, unknown>;
    delete cfg.bos_token_id;
    delete cfg.eos_token_id;
    const m = await loadModel(directorySource(await writeDir('tok-gpt-noeos', { ...asVocabJson(gptFiles), 'config.json': JSON.stringify(cfg) })));
    expect(m.config).toMatchObject({ bosTokenId: 399, eosTokenId: 399 });
    expect(m.tokenizer.tokenToId(GPT2_EOS)).toBe(399);
  });

  it('loads a model without tokenizer files: ids only, text is a TokenizerError naming the files needed', async () => {
    const files = withoutTokenizerJson(bertFiles);
    delete files['tokenizer_config.json'];
    const dir = await writeDir('tok-none', files);
    const m = await loadModel(directorySource(dir));
    expect(m.tokenizerFiles).toEqual([]);
    expect(m.tokenizer.vocabSize).toBe(m.config.vocabSize);
    const e = (() => {
      try {
        return m.tokenizer.encode('hello');
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(TokenizerError);
    expect((e as Error).message).toBe(
      `${dir} has no tokenizer files, so the model takes token ids only; text needs tokenizer.json, or vocab.txt (BERT WordPiece), or vocab.json + merges.txt (GPT-2 byte-level BPE)`,
    );
    // A tokenizer_config.json alone is no tokenizer either.
    const cfgOnly = await loadModel(directorySource(await writeDir('tok-config-only', withoutTokenizerJson(bertFiles))));
    expect(cfgOnly.tokenizerFiles).toEqual([]);
  });

  it('refuses half a tokenizer and keeps the vocabulary check for every file set', async () => {
    const half = asVocabJson(gptFiles);
    delete half['merges.txt'];
    const e = await loadModel(directorySource(await writeDir('tok-half', half))).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TokenizerError);
    expect((e as Error).message).toMatch(/has vocab.json but not merges.txt; a tokenizer needs tokenizer.json, or vocab.txt/);
    const big = asVocabTxt(bertFiles);
    big['vocab.txt'] = `${big['vocab.txt'] as string}extra1\nextra2\n`;
    const v = await loadModel(directorySource(await writeDir('tok-big', big))).catch((x: unknown) => x);
    expect(v).toBeInstanceOf(ModelLoadError);
    expect((v as Error).message).toMatch(/cannot load vocab.txt \+ tokenizer_config.json from .*: its ids reach \d+, but the model's vocab_size is \d+/);
    const bad = await loadModel(directorySource(await writeDir('tok-bad', { ...asVocabJson(gptFiles), 'merges.txt': 'a\n' }))).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(TokenizerError);
    expect((bad as Error).message).toMatch(/merges.txt line 1 .*\(vocab.json \+ merges.txt \+ tokenizer_config.json in /);
  });
});
