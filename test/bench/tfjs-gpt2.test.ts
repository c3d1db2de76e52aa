import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { TfjsGpt2, type TfjsGpt2Tenant } from '../../bench/lib/tfjs-gpt2.js';
import { directorySource, loadModel } from '../../src/formats/model-source.js';
import type { LoraAdapter, TensorMap } from '../../src/formats/types.js';
import type { Gpt2Config } from '../../src/formats/model-config.js';
import { gpt2ForwardRef, greedyDecode, Gpt2KvCacheRef, lastRow } from '../../src/model/cpu/gpt2-ref.js';
import { makeGpt2Files } from '../../src/model/synthetic.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';

// Seed 1: its greedy tokens vary within a row, so a padded row decoded with a wrong position or
// mask gives other tokens (seeds 5 and 7 hide a wrong prefill position; 4 has a near-tie).
const SHAPE = { nEmbd: 24, nLayer: 3, nHead: 3, nPositions: 32, vocabSize: 300, seed: 1 };
/** Uneven lengths, so rows 1 and 2 are left-padded by 6 and 4 columns. */
const PROMPTS = [[5, 9, 2, 17, 3, 11, 8], [4], [12, 6, 1]];
const MAX_TOKENS = 5;
/** Smallest top-1 / top-2 gap of the reference logits for its argmax to be a fair target in f32. */
const MIN_GAP = 1e-3;

let config: Gpt2Config;
let weights: TensorMap;
let model: TfjsGpt2;
let adapter: LoraAdapter;
let tenant: TfjsGpt2Tenant;

function topTwoGap(logits: ArrayLike<number>): number {
  let a = -Infinity;
  let b = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (v > a) [a, b] = [v, a];
    else if (v > b) b = v;
  }
  return a - b;
}

/** Greedy tokens of the f64 reference for one prompt alone, with the smallest argmax gap seen. */
function referenceGreedy(prompt: readonly number[]): { tokens: number[]; gap: number } {
  const cache = new Gpt2KvCacheRef(config);
  let gap = Infinity;
  const tokens = greedyDecode(prompt, MAX_TOKENS, [], (all, fresh) => {
    const ids = all.slice(all.length - fresh);
    const logits = lastRow(gpt2ForwardRef(config, weights, ids, { adapter, cache }).logits, ids.length, config.vocabSize);
    gap = Math.min(gap, topTwoGap(logits));
    return logits;
  });
  return { tokens, gap };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  const dir = await mkdtemp(join(tmpdir(), 'hmi-gpt-'));
  for (const [name, content] of Object.entries(makeGpt2Files(SHAPE))) await writeFile(join(dir, name), content);
  const loaded = await loadModel(directorySource(dir));
  config = loaded.config as Gpt2Config;
  weights = loaded.weights;
  model = TfjsGpt2.create(config, weights);
  // Split 1: the LoRA adapts layers 1..2, with every target for index 31.
  adapter = syntheticTenant(config, 1, 31, { count: 32 }).adapter;
  tenant = model.tenant(adapter);
});

afterAll(() => {
  tenant.dispose();
  model.dispose();
  expect(tf.memory().numTensors).toBe(0);
});

describe('the vsTfjs baseline: hGPT greedy decoding with tfjs ops', () => {
  it('gives the f64 reference next-token logits for a tenant with a LoRA', async () => {
    const ids = PROMPTS[0];
    const got = await model.nextLogits(tenant, ids);
    const want = lastRow(gpt2ForwardRef(config, weights, ids, { adapter }).logits, ids.length, config.vocabSize);
    expect(got.length).toBe(config.vocabSize);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4);
    // The LoRA must matter, or the comparison above would not test it.
    const base = lastRow(gpt2ForwardRef(config, weights, ids).logits, ids.length, config.vocabSize);
    expect(Math.max(...Array.from(want, (v, i) => Math.abs(v - base[i])))).toBeGreaterThan(1e-2);
  });

  it('decodes a left-padded batch of uneven prompts as each prompt alone', async () => {
    const got = await model.generate(tenant, PROMPTS, MAX_TOKENS);
    expect(got.length).toBe(PROMPTS.length);
    PROMPTS.forEach((prompt, b) => {
      const want = referenceGreedy(prompt);
      expect(want.gap).toBeGreaterThan(MIN_GAP);
      expect(got[b]).toEqual(want.tokens);
      expect(got[b].length).toBe(MAX_TOKENS);
    });
  });

  it('frees every tensor it allocates while generating', async () => {
    const before = tf.memory().numTensors;
    await model.generate(tenant, PROMPTS, MAX_TOKENS);
    await model.nextLogits(tenant, PROMPTS[2]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses an empty prompt or a bad token count before allocating anything', async () => {
    const before = tf.memory().numTensors;
    await expect(model.generate(tenant, [[1, 2], []], 2)).rejects.toThrow(/empty/);
    await expect(model.generate(tenant, PROMPTS, -1)).rejects.toThrow(/maxTokens/);
    await expect(model.generate(tenant, PROMPTS, 1.5)).rejects.toThrow(/maxTokens/);
    await expect(model.nextLogits(tenant, [])).rejects.toThrow(/empty/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('frees the KV cache when a decode step fails midway', async () => {
    const before = tf.memory().numTensors;
    const forward = (model as unknown as { forward: (...a: unknown[]) => unknown }).forward;
    let calls = 0;
    // The third forward (second decode step) throws, as a device or shape failure would.
    (model as unknown as { forward: (...a: unknown[]) => unknown }).forward = function (this: TfjsGpt2, ...a: unknown[]) {
      if (++calls === 3) throw new Error('boom');
      return forward.apply(this, a);
    };
    try {
      await expect(model.generate(tenant, PROMPTS, MAX_TOKENS)).rejects.toThrow('boom');
    } finally {
      (model as unknown as { forward: unknown }).forward = forward;
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
