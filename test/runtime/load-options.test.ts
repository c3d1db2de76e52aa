// What a user sees of a load: the autotune's progress reaches createRuntime's onProgress, and
// weightsDtype decides how the base matrices sit on the GPU, with the same answers either way
// up to f16 rounding of the weights.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/create-runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { ClassifyResult, Progress } from '../../src/runtime/api.js';
import type { HmiRuntime } from '../../src/runtime/runtime.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { writeSafetensors } from '../../src/formats/safetensors.js';
import { writeBertDir } from '../helpers/models.js';
import { bertConfig, gpt2Config, randomBertWeights, randomGpt2Weights } from '../model/random-model.js';

let gpu: GPU;
let model: string;

beforeAll(async () => {
  gpu = await nodeGpu();
  model = await writeBertDir({ hiddenSize: 64, numLayers: 2, numHeads: 2, intermediateSize: 96, maxPositions: 64 });
});

describe('createRuntime load options', () => {
  it('reports the autotune as progress between the model phases, and the last event of each phase completes it', async () => {
    const events: Progress[] = [];
    const rt = await createRuntime({ gpu, model, store: new MemoryTenantStore(), autotune: true, onProgress: (p) => events.push(p) });
    await rt.dispose();
    const phases = events.map((e) => e.phase);
    const tune = events.filter((e) => e.phase === 'autotune');
    expect(tune.length).toBeGreaterThan(0);
    expect(tune[tune.length - 1].done).toBe(tune[tune.length - 1].total);
    expect(phases.indexOf('autotune')).toBeGreaterThan(phases.indexOf('model'));
    expect(phases[phases.length - 1]).toBe('ready');
  });

  it('weightsDtype f16 halves the base matrices on the GPU and answers as f32 does up to weight rounding', async () => {
    const runtimes = await Promise.all(
      (['f32', 'f16'] as const).map((weightsDtype) => createRuntime({ gpu, model, store: new MemoryTenantStore(), autotune: false, weightsDtype })),
    );
    try {
      const [f32, f16] = await Promise.all(runtimes.map((r) => r.info()));
      expect(f16.baseGpuBytes).toBeLessThan(0.7 * f32.baseGpuBytes);
      const info = await runtimes[0].info();
      const tenant = syntheticTenant((runtimes[0] as HmiRuntime).config, info.splitLayer, 0, { count: 1, seed: 7, numLabels: 3 });
      const answers: ClassifyResult[] = [];
      for (const r of runtimes) {
        await r.tenants.add(tenant);
        answers.push(await r.classify(tenant.id, [5, 9, 31, 2, 17]));
      }
      answers[1].scores.forEach((s, i) => expect(s).toBeCloseTo(answers[0].scores[i], 2));
    } finally {
      await Promise.all(runtimes.map((r) => r.dispose()));
    }
  });

  it('maxBufferBytes runs the model as a device with that limit would: split weights, the same answers', async () => {
    // A checkpoint with a large vocabulary (30,011 x 32 f32: 3.8 MB of word embeddings) and no
    // tokenizer (token ids in): under a 1 MiB cap its embeddings are gathered from row shards.
    const config = bertConfig({ vocabSize: 30011, hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 });
    const dir = await mkdtemp(join(tmpdir(), 'hmi-bigvocab-'));
    await writeFile(join(dir, 'model.safetensors'), writeSafetensors(randomBertWeights(config, 5)));
    const hf = { model_type: 'bert', vocab_size: 30011, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 48, max_position_embeddings: 64 };
    await writeFile(join(dir, 'config.json'), JSON.stringify(hf));
    const sizes = { tokenBudget: 64, plotCacheSlots: 256 };
    const big = await createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), autotune: false, ...sizes });
    const small = await createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), autotune: false, ...sizes, maxBufferBytes: 1 << 20 });
    try {
      expect((await small.info()).maxBufferBytes).toBe(1 << 20);
      const info = await big.info();
      const tenant = syntheticTenant((big as HmiRuntime).config, info.splitLayer, 0, { count: 1, seed: 8, numLabels: 2, ranks: [2] });
      const answers: ClassifyResult[] = [];
      for (const r of [big, small]) {
        await r.tenants.add(tenant);
        answers.push(await r.classify(tenant.id, [5, 29000, 31, 20002, 17]));
      }
      expect(answers[1].scores).toEqual(answers[0].scores);
    } finally {
      await Promise.all([big.dispose(), small.dispose()]);
    }
  });

  it('the autotune keeps to maxBufferBytes: a GPT-2 whose tied LM head exceeds it loads with autotune on and generates as without the cap', async () => {
    const config = gpt2Config({ vocabSize: 30011, hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 128, maxPositions: 64 });
    const dir = await mkdtemp(join(tmpdir(), 'hmi-bigvocab-gpt-'));
    await writeFile(join(dir, 'model.safetensors'), writeSafetensors(randomGpt2Weights(config, 6)));
    const hf = { model_type: 'gpt2', vocab_size: 30011, n_embd: 32, n_layer: 2, n_head: 2, n_inner: 128, n_positions: 64 };
    await writeFile(join(dir, 'config.json'), JSON.stringify(hf));
    const runtimes = [
      await createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), autotune: false, tokenBudget: 8, maxActive: 4, plotCacheSlots: 64 }),
      await createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), autotune: true, tokenBudget: 8, maxActive: 4, plotCacheSlots: 64, maxBufferBytes: 1 << 20 }),
    ];
    try {
      const tokens: number[][] = [];
      for (const r of runtimes) {
        const info = await r.info();
        const tenant = syntheticTenant((r as HmiRuntime).config, info.splitLayer, 0, { count: 1, seed: 9, ranks: [2] });
        await r.tenants.add(tenant);
        const out: number[] = [];
        for await (const c of r.generate(tenant.id, [7, 29999, 12], { maxTokens: 4 })) if (c.tokenId >= 0) out.push(c.tokenId);
        tokens.push(out);
      }
      expect(tokens[1]).toEqual(tokens[0]);
      expect(tokens[0]).toHaveLength(4);
    } finally {
      await Promise.all(runtimes.map((r) => r.dispose()));
    }
  });
});
