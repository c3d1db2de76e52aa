// A LoRA adapter whose B is zero changes nothing, so it must not change a single output bit.
// It used to: with an applier attached, a model runs its FFN activation as the standalone gelu
// kernel after the (zero) delta instead of fused into the matmul epilogue, and the two carried
// different GELU code. Both now compile shaders/gelu_prelude.wgsl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import type { LoraAdapter, LoraModule } from '../../src/formats/types.js';
import type { ModelConfig } from '../../src/formats/model-config.js';
import { BaseWeights } from '../../src/knowledge/general/base-weights.js';
import { BertModel } from '../../src/model/bert.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { loraModuleShapes } from '../../src/model/modules.js';
import { SingleAdapterLora } from '../../src/model/single-lora.js';
import { randomFloats, testContext } from '../helpers/gpu.js';
import { bertConfig, gpt2Config, randomBertWeights, randomGpt2Weights } from './random-model.js';

/** Every LoRA target of every layer, A random, B zero: an adapter with no effect. */
function zeroEffectAdapter(config: ModelConfig): LoraAdapter {
  const modules = new Map<string, LoraModule>();
  loraModuleShapes(config).forEach((m, i) => {
    const r = 2;
    modules.set(m.path, { r, inDim: m.inDim, outDim: m.outDim, scale: 1.5, A: randomFloats(r * m.inDim, 50 + i, 0.3), B: new Float32Array(m.outDim * r) });
  });
  return { modules, head: new Map() };
}

/** Index of the first element whose bits differ, or -1. */
function firstBitDiff(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (ua.length !== ub.length) return 0;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

function ids(n: number, seed: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed * 7 + i * 13 + ((i * i) % 5)) % vocab);
}

describe('a zero-effect LoRA leaves every output bit unchanged', () => {
  let ctx: GpuContext;
  const disposables: { dispose(): void }[] = [];

  beforeAll(async () => {
    ctx = await testContext();
  });

  afterAll(() => {
    for (const d of disposables.reverse()) d.dispose();
  });

  it('BERT (erf GELU)', async () => {
    // Wide enough FFN pre-activations that the old erf forms disagreed in the last bit.
    const c = bertConfig({ hiddenSize: 32, numHeads: 4, intermediateSize: 96 });
    const base = await BaseWeights.upload(ctx, randomBertWeights(c, 5));
    const model = await BertModel.create(ctx, c, base, { maxTokens: 32, maxSeqs: 4, autotune: false });
    const lora = await SingleAdapterLora.upload(ctx, c, zeroEffectAdapter(c));
    disposables.push(base, model, lora);
    const batch = model.pack([{ ids: ids(9, 1, c.vocabSize) }, { ids: ids(5, 2, c.vocabSize) }]);
    const plain = (await model.read(await model.forward(batch))).hidden.slice();
    const adapted = (await model.read(await model.forward(batch, { lora }))).hidden.slice();
    expect(firstBitDiff(plain, adapted)).toBe(-1);
  });

  it('GPT-2 (tanh GELU)', async () => {
    const c = gpt2Config({ hiddenSize: 32, numHeads: 4 });
    const base = await BaseWeights.upload(ctx, randomGpt2Weights(c, 6));
    const model = await Gpt2Model.create(ctx, c, base, { maxTokens: 32, maxSeqs: 4, autotune: false });
    const lora = await SingleAdapterLora.upload(ctx, c, zeroEffectAdapter(c));
    disposables.push(base, model, lora);
    const batch = model.pack([{ ids: ids(9, 3, c.vocabSize) }, { ids: ids(4, 4, c.vocabSize) }]);
    const run = async (withLora: boolean): Promise<[Float32Array, Float32Array]> => {
      const out = await model.forward(batch, { lora: withLora ? lora : undefined });
      return [(await model.readHidden(out)).slice(), (await model.readLogits(out)).slice()];
    };
    const [h0, l0] = await run(false);
    const [h1, l1] = await run(true);
    expect(firstBitDiff(h0, h1)).toBe(-1);
    expect(firstBitDiff(l0, l1)).toBe(-1);
  });
});
