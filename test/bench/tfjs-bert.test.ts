import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { TfjsBert } from '../../bench/lib/tfjs-bert.js';
import { directorySource, loadModel } from '../../src/formats/model-source.js';
import { bertForwardRef } from '../../src/model/cpu/bert-ref.js';
import type { BertConfig } from '../../src/formats/model-config.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { writeBertDir } from '../helpers/models.js';

const SHAPE = { hiddenSize: 24, numLayers: 3, numHeads: 3, intermediateSize: 40, maxPositions: 32 };

function softmax(x: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('the vsTfjs baseline: hBERT forward with tfjs ops', () => {
  it('matches the f64 reference with a tenant LoRA and head, on a padded batch of uneven lengths', async () => {
    const { config, weights } = await loadModel(directorySource(await writeBertDir(SHAPE)));
    const bert = config as BertConfig;
    const model = TfjsBert.create(bert, weights);
    // Split 1: the LoRA adapts layers 1..2, with every target for index 31.
    const adapter = syntheticTenant(bert, 1, 31, { count: 32, numLabels: 3 }).adapter;
    const tenant = model.tenant(adapter);
    const seqs = [[5, 9, 2, 17, 3, 11, 8], [4], [12, 6, 1]];
    const got = await model.classify(tenant, seqs);
    expect(got.length).toBe(seqs.length * 3);
    seqs.forEach((ids, b) => {
      const want = softmax(bertForwardRef(bert, weights, ids, { adapter }).logits!);
      for (let i = 0; i < 3; i++) expect(Math.abs(got[b * 3 + i] - want[i])).toBeLessThan(1e-4);
    });
    tenant.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });
});
