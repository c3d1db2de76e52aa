// The training graphs end to end against the f64 CPU references of the served models: the loss
// of a slice, and every trained parameter's gradient against central finite differences of
// that reference loss, on odd shapes (H 21, 7 heads of 3, FFN 37, sequences of 1..9 tokens).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import { uploadBuffer, readF32 } from '../../src/gpu/buffers.js';
import type { BertConfig, Gpt2Config, ModelConfig } from '../../src/formats/model-config.js';
import type { TensorMap } from '../../src/formats/types.js';
import { BaseWeights } from '../../src/knowledge/general/base-weights.js';
import { packBatch } from '../../src/model/batch.js';
import { bertLowerRef, bertUpperRef } from '../../src/model/cpu/bert-ref.js';
import { gpt2LowerRef, gpt2UpperRef } from '../../src/model/cpu/gpt2-ref.js';
import { CROSS_ENTROPY_IGNORE } from '../../src/kernels/cross-entropy.js';
import { LORA_TARGETS } from '../../src/formats/peft.js';
import { BertTrainGraph } from '../../src/training/bert-graph.js';
import { GptTrainGraph } from '../../src/training/gpt-graph.js';
import type { FamilyGraph, TrainSlice } from '../../src/training/graph.js';
import { TrainableLora } from '../../src/training/trainable-lora.js';
import { Rng } from '../../src/util/rng.js';
import { testContext } from '../helpers/gpu.js';
import { bertConfig, gpt2Config, randomBertWeights, randomGpt2Weights } from '../model/random-model.js';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});
afterAll(() => ctx?.destroy());

function logSoftmax(z: ArrayLike<number>, off: number, n: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, z[off + i]);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(z[off + i] - max);
  const lse = max + Math.log(s);
  return Float64Array.from({ length: n }, (_, i) => z[off + i] - lse);
}

interface Case {
  config: ModelConfig;
  weights: TensorMap;
  from: number;
  seqs: number[][];
  labels: number[];
  numLabels?: number;
}

/** The slice's loss (scaled as the graph scales its gradient) from the f64 references. */
function referenceLoss(c: Case, lora: TrainableLora, params: Float32Array): number {
  const adapter = lora.toAdapter(params);
  let loss = 0;
  if (c.config.family === 'bert') {
    const config = c.config as BertConfig;
    c.seqs.forEach((ids, s) => {
      const h = bertLowerRef(config, c.weights, c.from, ids);
      const out = bertUpperRef(config, c.weights, c.from, h, ids.length, { adapter });
      loss -= logSoftmax(out.logits!, 0, c.numLabels!)[c.labels[s]];
    });
    return loss / c.seqs.length;
  }
  const config = c.config as Gpt2Config;
  let targets = 0;
  for (const ids of c.seqs) {
    const h = gpt2LowerRef(config, c.weights, c.from, ids);
    const out = gpt2UpperRef(config, c.weights, c.from, h, ids.length, { adapter });
    for (let t = 0; t + 1 < ids.length; t++) {
      loss -= logSoftmax(out.logits, t * config.vocabSize, config.vocabSize)[ids[t + 1]];
      targets++;
    }
  }
  return loss / targets;
}

async function setup(c: Case): Promise<{ lora: TrainableLora; graph: FamilyGraph; slice: TrainSlice; input: GPUBuffer; base: BaseWeights; params: Float32Array }> {
  const base = await BaseWeights.upload(ctx, c.weights);
  const lora = await TrainableLora.create(ctx, c.config, { rank: 3, alpha: 5, targets: LORA_TARGETS[c.config.family], fromLayer: c.from, ...(c.numLabels ? { numLabels: c.numLabels } : {}) }, 9);
  // B non-zero (unlike the initialization), so that A's gradients are not all zero.
  const params = await lora.read();
  const rng = new Rng(4);
  for (let i = 0; i < params.length; i++) params[i] = params[i] !== 0 ? params[i] : rng.normal() * 0.2;
  lora.write(params);
  const graph = c.config.family === 'bert' ? await BertTrainGraph.create(ctx, c.config as BertConfig, base, lora, c.from, 40, 8) : await GptTrainGraph.create(ctx, c.config as Gpt2Config, base, lora, c.from, 40, 8);
  const batch = packBatch(c.config, c.seqs.map((ids) => ({ ids })));
  let targets: Uint32Array;
  let count: number;
  if (c.config.family === 'bert') {
    targets = Uint32Array.from(c.labels);
    count = c.seqs.length;
  } else {
    targets = new Uint32Array(batch.rows).fill(CROSS_ENTROPY_IGNORE);
    count = 0;
    c.seqs.forEach((ids, s) => {
      for (let t = 0; t + 1 < ids.length; t++, count++) targets[batch.starts[s] + t] = ids[t + 1];
    });
  }
  const states = c.seqs.map((ids) => (c.config.family === 'bert' ? bertLowerRef(c.config as BertConfig, c.weights, c.from, ids) : gpt2LowerRef(c.config as Gpt2Config, c.weights, c.from, ids)));
  const flat = new Float32Array(batch.rows * c.config.hiddenSize);
  let o = 0;
  for (const s of states) {
    flat.set(s, o);
    o += s.length;
  }
  const input = await uploadBuffer(ctx, flat, 'test-split-state');
  return { lora, graph, slice: { batch, targets, lossScale: 1 / count }, input, base, params };
}

async function checkGradients(c: Case): Promise<void> {
  const { lora, graph, slice, input, base, params } = await setup(c);
  try {
    const enc = ctx.device.createCommandEncoder();
    enc.clearBuffer(lora.grads);
    ctx.submit([enc.finish()]);
    for (const part of graph.parts(slice, input, true)) part();
    const losses = await graph.readLoss(slice);
    const grads = await readF32(ctx, lora.grads, lora.size);
    const gpuLoss = losses.reduce((a, b) => a + b, 0) * slice.lossScale;
    const ref = referenceLoss(c, lora, params);
    expect(Math.abs(gpuLoss - ref)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref)));

    // Every tensor: its largest-gradient entries and a few random ones.
    const rng = new Rng(17);
    const picks: number[] = [];
    const slices = [...lora.modules.flatMap((m) => [m.A, m.B]), ...(lora.head ? [lora.head.W, lora.head.b] : [])];
    for (const s of slices) {
      let best = s.offset;
      for (let i = s.offset; i < s.offset + s.size; i++) if (Math.abs(grads[i]) > Math.abs(grads[best])) best = i;
      picks.push(best, s.offset + Math.floor(rng.next() * s.size));
    }
    let scale = 0;
    for (const i of picks) scale = Math.max(scale, Math.abs(grads[i]));
    expect(scale).toBeGreaterThan(1e-4);
    for (const i of picks) {
      const h = 1e-3;
      const p = Float32Array.from(params);
      p[i] = Math.fround(params[i] + h);
      const up = referenceLoss(c, lora, p);
      const hi = p[i];
      p[i] = Math.fround(params[i] - h);
      const down = referenceLoss(c, lora, p);
      const fd = (up - down) / (hi - p[i]);
      expect(Math.abs(grads[i] - fd), `param ${i}: gpu ${grads[i]}, finite differences ${fd}`).toBeLessThan(2e-4 * Math.max(Math.abs(fd), scale * 0.05) + 1e-7);
    }
  } finally {
    graph.destroy();
    lora.destroy();
    input.destroy();
    base.dispose();
  }
}

const ids = (n: number, seed: number, vocab: number): number[] => {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => 1 + Math.floor(r.next() * (vocab - 1)));
};

describe('training graphs: gradients against the f64 references', () => {
  it('hBERT, upper layer only (a domain tenant), classifier over the pooler', async () => {
    const config = bertConfig();
    await checkGradients({ config, weights: randomBertWeights(config, 3), from: 2, seqs: [ids(7, 1, 53), ids(1, 2, 53), ids(9, 3, 53)], labels: [2, 0, 1], numLabels: 3 });
  });

  it('hBERT, every layer (no domain), two labels', async () => {
    const config = bertConfig({ numLayers: 2 });
    await checkGradients({ config, weights: randomBertWeights(config, 5), from: 0, seqs: [ids(5, 4, 53), ids(8, 5, 53)], labels: [1, 0], numLabels: 2 });
  });

  it('hGPT, upper blocks, next-token loss on every row but each sequence\'s last', async () => {
    const config = gpt2Config();
    await checkGradients({ config, weights: randomGpt2Weights(config, 6), from: 1, seqs: [ids(6, 7, 61), ids(2, 8, 61), ids(9, 9, 61)], labels: [] });
  });

  it('hGPT, every block', async () => {
    const config = gpt2Config({ numLayers: 2 });
    await checkGradients({ config, weights: randomGpt2Weights(config, 8), from: 0, seqs: [ids(7, 10, 61), ids(4, 11, 61)], labels: [] });
  });
});
