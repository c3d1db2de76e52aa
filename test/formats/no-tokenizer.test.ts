/** A checkpoint without tokenizer files serves token ids; text is a TokenizerError naming the files needed. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/create-runtime.js';
import { TokenizerError } from '../../src/formats/errors.js';
import { directorySource, loadModel } from '../../src/formats/model-source.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { makeBertFiles, makeGpt2Files, type ModelFiles } from '../../src/model/synthetic.js';
import type { HmiRuntime } from '../../src/runtime/runtime.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';

let root: string;
let gpu: GPU;

async function writeModel(name: string, files: ModelFiles, withTokenizer: boolean): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [f, content] of Object.entries(files)) {
    if (!withTokenizer && f.startsWith('tokenizer')) continue;
    await writeFile(join(dir, f), content);
  }
  return dir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hmi-no-tok-'));
  gpu = await nodeGpu();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const open = async (model: string): Promise<HmiRuntime> => (await createRuntime({ gpu, model, store: new MemoryTenantStore(), autotune: false })) as HmiRuntime;

/** Runs `f` on runtimes of the same weights with and without tokenizer files, then disposes both. */
async function withAndWithout(name: string, files: ModelFiles, f: (withTok: HmiRuntime, bare: HmiRuntime, tokDir: string) => Promise<void>): Promise<void> {
  const tokDir = await writeModel(`${name}-tok`, files, true);
  const withTok = await open(tokDir);
  const bare = await open(await writeModel(`${name}-bare`, files, false));
  try {
    await f(withTok, bare, tokDir);
  } finally {
    await withTok.dispose();
    await bare.dispose();
  }
}

describe('a model without tokenizer files', () => {
  it('classifies token ids exactly as the same model with its tokenizer, and refuses text', async () => {
    const files = makeBertFiles({ hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 64, maxPositions: 32 });
    await withAndWithout('bert', files, async (withTok, bare, tokDir) => {
      const tenant = syntheticTenant(withTok.config, withTok.split, 0, { count: 1, seed: 7 });
      await withTok.tenants.add(tenant);
      await bare.tenants.add(tenant);
      const text = 'the cold river ran fast';
      const ids = (await loadModel(directorySource(tokDir))).tokenizer.encode(text);
      const expected = await withTok.classify(tenant.id, text);
      const got = await bare.classify(tenant.id, ids);
      expect(got.scores).toEqual(expected.scores);
      const e = await Promise.resolve()
        .then(() => bare.classify(tenant.id, text))
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TokenizerError);
      expect((e as Error).message).toMatch(/has no tokenizer files, so the model takes token ids only; text needs tokenizer.json, or vocab.txt \(BERT WordPiece\), or vocab.json \+ merges.txt/);
    });
  });

  it('generates from token ids (the tokens; no text without a tokenizer)', async () => {
    const files = makeGpt2Files({ nEmbd: 32, nLayer: 2, nHead: 2, nPositions: 32, vocabSize: 300 });
    await withAndWithout('gpt', files, async (withTok, bare, tokDir) => {
      await withTok.tenants.add({ id: 't', adapter: { modules: new Map(), head: new Map() } });
      await bare.tenants.add({ id: 't', adapter: { modules: new Map(), head: new Map() } });
      const prompt = (await loadModel(directorySource(tokDir))).tokenizer.encode('The morning');
      const run = async (rt: HmiRuntime): Promise<{ ids: number[]; text: string }> => {
        const ids: number[] = [];
        let text = '';
        for await (const c of rt.generate('t', prompt, { maxTokens: 4 })) {
          if (c.tokenId >= 0) ids.push(c.tokenId);
          text += c.text;
        }
        return { ids, text };
      };
      const a = await run(withTok);
      const b = await run(bare);
      expect(b.ids).toEqual(a.ids);
      expect(b.text).toBe('');
    });
  });
});
