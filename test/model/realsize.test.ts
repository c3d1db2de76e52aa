// Real-size shapes on a device capped at 128 MiB per buffer, as many phones and laptops give:
// random-weight F16 checkpoints shaped as BERT-base and GPT-2 small, written and read back as
// safetensors (so the f16 halves are kept from the file to the GPU), against the f64
// references on a few tokens. Minutes on SwiftShader and ~1.5 GB of host memory: opt-in with
// HMI_REALSIZE=1.
import { describe, expect, it } from 'vitest';
import { createGpuContext } from '../../src/gpu/device.js';
import { nodeGpu } from '../../src/gpu/node.js';
import type { BertConfig, Gpt2Config, ModelConfig } from '../../src/formats/model-config.js';
import { normalizeWeights } from '../../src/formats/hf-weights.js';
import { parseSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import type { TensorMap } from '../../src/formats/types.js';
import { BaseWeights } from '../../src/knowledge/general/base-weights.js';
import { bertForwardRef } from '../../src/model/cpu/bert-ref.js';
import { gpt2ForwardRef } from '../../src/model/cpu/gpt2-ref.js';
import { BertModel } from '../../src/model/bert.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { bertConfig, gpt2Config, randomBertWeights, randomGpt2Weights } from './random-model.js';

const CAP = 128 * 1024 * 1024;
const BERT_BASE: BertConfig = bertConfig({ vocabSize: 30522, hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, maxPositions: 512, numLabels: 2 });
const GPT2_SMALL: Gpt2Config = gpt2Config({ vocabSize: 50257, hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, maxPositions: 1024 });

/** The weights as an F16 checkpoint file loads them. */
function f16Checkpoint(config: ModelConfig, weights: TensorMap): TensorMap {
  const file = writeSafetensors(weights, { dtype: 'F16' });
  return normalizeWeights(config, parseSafetensors(file));
}

/** Max |a - b| against the reference's magnitude: f32 sums over K=3072 of large random activations. */
function expectNear(got: ArrayLike<number>, ref: ArrayLike<number>, rtol = 1e-3): void {
  let diff = 0;
  let mag = 1;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - ref[i]));
    mag = Math.max(mag, Math.abs(ref[i]));
  }
  expect(diff).toBeLessThanOrEqual(rtol * mag);
}

describe.skipIf(process.env.HMI_REALSIZE !== '1')('real-size F16 checkpoints under 128 MiB limits', () => {
  it('GPT-2 small: f16 on the GPU, no buffer above the cap, logits match the f64 reference', async () => {
    const ctx = await createGpuContext(await nodeGpu(), { label: 'realsize', capLimits: { maxStorageBufferBindingSize: CAP, maxBufferSize: CAP } });
    try {
      const weights = f16Checkpoint(GPT2_SMALL, randomGpt2Weights(GPT2_SMALL, 3));
      expect(weights.get('wte.weight')!.f16).toBeDefined();
      const base = await BaseWeights.upload(ctx, weights);
      expect(base.tensor('wte.weight').dtype).toBe('f16');
      for (const n of base.names) for (const s of base.tensor(n).shards) expect(s.buffer.size).toBeLessThanOrEqual(CAP);
      console.log(`GPT-2 small, f16 checkpoint: ${(base.gpuBytes / 1e6).toFixed(1)} MB on the GPU`);
      const model = await Gpt2Model.create(ctx, GPT2_SMALL, base, { maxTokens: 8, maxSeqs: 1, autotune: false });
      const ids = [464, 2068, 7586, 21831, 50256];
      const logits = await model.readLogits(await model.forward(model.pack([{ ids }])));
      expectNear(logits, gpt2ForwardRef(GPT2_SMALL, weights, ids).logits);
      model.dispose();
      base.dispose();
    } finally {
      ctx.destroy();
    }
  });

  it('BERT-base: f16 on the GPU, no buffer above the cap, hidden states and logits match the f64 reference', async () => {
    const ctx = await createGpuContext(await nodeGpu(), { label: 'realsize', capLimits: { maxStorageBufferBindingSize: CAP, maxBufferSize: CAP } });
    try {
      const weights = f16Checkpoint(BERT_BASE, randomBertWeights(BERT_BASE, 4));
      const base = await BaseWeights.upload(ctx, weights);
      expect(base.tensor('embeddings.word_embeddings.weight').dtype).toBe('f16');
      console.log(`BERT-base, f16 checkpoint: ${(base.gpuBytes / 1e6).toFixed(1)} MB on the GPU`);
      const model = await BertModel.create(ctx, BERT_BASE, base, { maxTokens: 8, maxSeqs: 1, autotune: false });
      const ids = [101, 7592, 2088, 30521, 102];
      const got = await model.read(await model.forward(model.pack([{ ids }])));
      const ref = bertForwardRef(BERT_BASE, weights, ids);
      expectNear(got.hidden, ref.hidden);
      expectNear(got.logits!, ref.logits!);
      model.dispose();
      base.dispose();
    } finally {
      ctx.destroy();
    }
  });
});
