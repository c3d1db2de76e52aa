import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadBuffer } from '../../src/gpu/buffers.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { AdapterMismatchError, MissingWeightError } from '../../src/formats/errors.js';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import type { LoraAdapter, TensorMap } from '../../src/formats/types.js';
import { BaseWeights } from '../../src/knowledge/general/base-weights.js';
import { BertModel, type BertHostOutputs } from '../../src/model/bert.js';
import type { PackedBatch, SequenceInput } from '../../src/model/batch.js';
import type { BertConfig } from '../../src/formats/model-config.js';
import { bertForwardRef, bertLowerRef, bertUpperRef } from '../../src/model/cpu/bert-ref.js';
import { InputError } from '../../src/model/errors.js';
import { SingleAdapterLora } from '../../src/model/single-lora.js';
import { expectClose, testContext } from '../helpers/gpu.js';
import { bertConfig, randomAdapter, randomBertWeights } from './random-model.js';
import { makeDefaultModels } from './default-models.js';

const RTOL = 1e-4;
const ATOL = 2e-5;

function ids(n: number, seed: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed * 7 + i * 13 + ((i * i) % 5)) % vocab);
}

function batches(c: BertConfig): Record<string, SequenceInput[]> {
  return {
    'one sequence': [{ ids: ids(7, 1, c.vocabSize) }],
    'four sequences of lengths 5, 1, 9, 3 with types and a mask': [
      { ids: ids(5, 2, c.vocabSize), typeIds: [0, 0, 1, 1, 1] },
      { ids: ids(1, 3, c.vocabSize) },
      { ids: ids(9, 4, c.vocabSize), attentionMask: [1, 1, 1, 1, 1, 1, 1, 0, 0] },
      { ids: ids(3, 5, c.vocabSize), typeIds: [1, 0, 1] },
    ],
  };
}

/** Slices row-major [rows, dim] for the batch's sequence s. */
function seqRows(x: Float32Array, batch: PackedBatch, s: number, dim: number): Float32Array {
  return x.subarray(batch.starts[s] * dim, (batch.starts[s] + batch.lengths[s]) * dim);
}

function checkAgainstRef(
  c: BertConfig,
  weights: TensorMap,
  seqs: SequenceInput[],
  batch: PackedBatch,
  got: BertHostOutputs,
  adapter: LoraAdapter | undefined,
): void {
  const H = c.hiddenSize;
  seqs.forEach((s, i) => {
    const ref = bertForwardRef(c, weights, s.ids, { adapter, typeIds: s.typeIds, attentionMask: s.attentionMask });
    expectClose(seqRows(got.hidden, batch, i, H), ref.hidden, RTOL, ATOL);
    expectClose(got.pooled!.subarray(i * H, (i + 1) * H), ref.pooled!, RTOL, ATOL);
    const n = got.numLabels;
    expect(n).toBe(ref.logits!.length);
    expectClose(got.logits!.subarray(i * n, (i + 1) * n), ref.logits!, RTOL, ATOL);
  });
}

const CONFIGS: [string, BertConfig][] = [
  ['H=21, 7 heads, FFN 37, 3 layers', bertConfig()],
  ['H=15, 1 head, FFN 37, 2 layers', bertConfig({ hiddenSize: 15, numHeads: 1, numLayers: 2, vocabSize: 40, numLabels: 2 })],
];

for (const [name, c] of CONFIGS) {
  describe(`BERT on the GPU, ${name}`, () => {
    let ctx: GpuContext;
    let weights: TensorMap;
    let base: BaseWeights;
    let model: BertModel;
    let adapter: LoraAdapter;
    let lora: SingleAdapterLora;

    beforeAll(async () => {
      ctx = await testContext();
      weights = randomBertWeights(c, c.hiddenSize);
      base = await BaseWeights.upload(ctx, weights);
      // A workspace smaller than the batches below, so that growth is exercised.
      model = await BertModel.create(ctx, c, base, { maxTokens: 4, maxSeqs: 1, autotune: c.hiddenSize === 21 });
      adapter = randomAdapter(c, 11, 4);
      lora = await SingleAdapterLora.upload(ctx, c, adapter, 2);
    });

    afterAll(() => {
      model.dispose();
      lora.dispose();
      base.dispose();
    });

    it('reports the uploaded bytes of the base weights', () => {
      let bytes = 0;
      for (const t of weights.values()) bytes += t.data.byteLength;
      expect(base.totalBytes).toBe(bytes);
    });

    for (const [bname, seqs] of Object.entries(batches(c))) {
      for (const withAdapter of [false, true]) {
        it(`forward matches the CPU reference: ${bname}, ${withAdapter ? 'with' : 'without'} an adapter`, async () => {
          const batch = model.pack(seqs);
          const out = await model.forward(batch, withAdapter ? { lora, head: lora.head } : {});
          const got = await model.read(out);
          expect(got.numLabels).toBe(withAdapter ? 4 : c.numLabels);
          checkAgainstRef(c, weights, seqs, batch, got, withAdapter ? adapter : undefined);
        });
      }
    }

    for (const split of [0, Math.floor(c.numLayers / 2), c.numLayers]) {
      it(`split at S=${split}: runLower then runUpper match the references, with an adapter`, async () => {
        const seqs = batches(c)['four sequences of lengths 5, 1, 9, 3 with types and a mask'];
        const batch = model.pack(seqs);
        const lower = await model.runLower(batch, split, lora);
        const lowerHost = (await model.read({ rows: batch.rows, numSeqs: batch.numSeqs, hidden: lower, pooled: null, logits: null, numLabels: 0 })).hidden;
        const H = c.hiddenSize;
        seqs.forEach((s, i) => {
          const ref = bertLowerRef(c, weights, split, s.ids, { adapter, typeIds: s.typeIds, attentionMask: s.attentionMask });
          expectClose(seqRows(lowerHost, batch, i, H), ref, RTOL, ATOL);
        });
        const got = await model.read(await model.runUpper(batch, split, lower, { lora, head: lora.head }));
        checkAgainstRef(c, weights, seqs, batch, got, adapter);
      });

      it(`split at S=${split}: runUpper takes a hidden state from outside (the PLOT path)`, async () => {
        const seqs = batches(c)['four sequences of lengths 5, 1, 9, 3 with types and a mask'];
        const batch = model.pack(seqs);
        const H = c.hiddenSize;
        const hSplit = new Float32Array(batch.rows * H);
        const refs = seqs.map((s, i) => {
          const low = bertLowerRef(c, weights, split, s.ids, { typeIds: s.typeIds, attentionMask: s.attentionMask });
          hSplit.set(low, batch.starts[i] * H);
          return bertUpperRef(c, weights, split, Float64Array.from(hSplit.subarray(batch.starts[i] * H, (batch.starts[i] + s.ids.length) * H)), s.ids.length, {
            adapter,
            attentionMask: s.attentionMask,
          });
        });
        const outside = await uploadBuffer(ctx, hSplit, 'plot-hidden');
        const got = await model.read(await model.runUpper(batch, split, outside, { lora, head: lora.head }));
        refs.forEach((ref, i) => {
          expectClose(seqRows(got.hidden, batch, i, H), ref.hidden, RTOL, ATOL);
          expectClose(got.logits!.subarray(i * 4, (i + 1) * 4), ref.logits!, RTOL, ATOL);
        });
        // The caller's buffer is read, never written.
        const again = await model.read(await model.runUpper(batch, split, outside, { lora, head: lora.head }));
        expectClose(again.hidden, got.hidden, 0, 0);
        outside.destroy();
      });
    }

    it('rejects bad input with a named error before any GPU work', () => {
      const V = c.vocabSize;
      expect(() => model.pack([{ ids: [1, 2, V] }])).toThrow(InputError);
      expect(() => model.pack([{ ids: [1] }, { ids: [1, 2, V] }])).toThrow(/sequence 1, token 2: token id \d+ is outside 0\.\.\d+/);
      expect(() => model.pack([{ ids: [1, -1] }])).toThrow(InputError);
      expect(() => model.pack([{ ids: ids(c.maxPositions + 1, 1, V) }])).toThrow(/exceed the model's \d+ positions/);
      expect(() => model.pack([{ ids: [] }])).toThrow(/sequence 0 is empty/);
      expect(() => model.pack([])).toThrow(InputError);
      expect(() => model.pack([{ ids: [1, 2], typeIds: [0, c.typeVocabSize] }])).toThrow(/token type id/);
      expect(() => model.pack([{ ids: [1, 2], attentionMask: [1] }])).toThrow(/attention mask of 1 for 2 tokens/);
    });

    it('rejects an adapter whose shapes do not fit, naming the module', async () => {
      const good = randomAdapter(c, 3);
      const [key, mod] = [...good.modules][0];
      const wrongDim: LoraAdapter = { modules: new Map([[key, { ...mod, inDim: mod.inDim + 1 }]]), head: new Map() };
      await expect(SingleAdapterLora.upload(ctx, c, wrongDim)).rejects.toThrow(AdapterMismatchError);
      const pastLast: LoraAdapter = { modules: new Map([[`encoder.layer.${c.numLayers}.attention.self.query`, mod]]), head: new Map() };
      await expect(SingleAdapterLora.upload(ctx, c, pastLast)).rejects.toThrow(/encoder\.layer\.\d+\.attention\.self\.query/);
      const badHead: LoraAdapter = { modules: new Map(), head: new Map([['classifier.weight', { shape: [2, c.hiddenSize + 1], data: new Float32Array(2 * (c.hiddenSize + 1)) }]]) };
      await expect(SingleAdapterLora.upload(ctx, c, badHead)).rejects.toThrow(AdapterMismatchError);
    });

    it('has no logits without a classifier, and needs a pooler for one', async () => {
      const headless = await BaseWeights.upload(ctx, randomBertWeights(c, 5, false));
      const m = await BertModel.create(ctx, c, headless, { autotune: false });
      const batch = m.pack([{ ids: [1, 2, 3] }]);
      const out = await m.forward(batch);
      expect(out.logits).toBeNull();
      expect(out.pooled).toBeNull();
      await expect(m.forward(batch, { head: lora.head })).rejects.toThrow(MissingWeightError);
      m.dispose();
      headless.dispose();
    });
  });
}

describe('BERT on the GPU, default hbert-mini and its PEFT adapters', () => {
  let ctx: GpuContext;
  let loaded: LoadedModel;
  let base: BaseWeights;
  let model: BertModel;
  let cleanup: () => void;
  let adapters: { name: string; adapter: LoraAdapter; lora: SingleAdapterLora }[];
  const texts = ['the river ran fast under the old stone bridge', 'cold and clear', 'a morning'];

  beforeAll(async () => {
    const made = makeDefaultModels();
    cleanup = made.cleanup;
    ctx = await testContext();
    loaded = await loadModel(directorySource(join(made.dir, 'hbert-mini')));
    base = await BaseWeights.upload(ctx, loaded.weights);
    model = await BertModel.create(ctx, loaded.config as BertConfig, base);
    adapters = await Promise.all(
      ['topic-r8', 'intent-r8'].map(async (name) => {
        const adapter = await loadAdapter(directorySource(join(made.dir, 'adapters/hbert-mini', name)), loaded.config);
        return { name, adapter, lora: await SingleAdapterLora.upload(ctx, loaded.config, adapter) };
      }),
    );
  });

  afterAll(() => {
    model.dispose();
    for (const a of adapters) a.lora.dispose();
    base.dispose();
    cleanup();
  });

  for (const which of ['base', 'topic-r8', 'intent-r8']) {
    it(`forward and split at S=2 match the CPU reference (${which}), 3 texts in one batch`, async () => {
      const c = loaded.config as BertConfig;
      const a = adapters.find((x) => x.name === which);
      const seqs = texts.map((t) => ({ ids: loaded.tokenizer.encode(t) }));
      expect(seqs[0].ids.length).toBeGreaterThan(seqs[2].ids.length);
      const batch = model.pack(seqs);
      const opts = a ? { lora: a.lora, head: a.lora.head } : {};
      const full = await model.read(await model.forward(batch, opts));
      checkAgainstRef(c, loaded.weights, seqs, batch, full, a?.adapter);
      const split = await model.read(await model.runUpper(batch, 2, await model.runLower(batch, 2, a?.lora), opts));
      checkAgainstRef(c, loaded.weights, seqs, batch, split, a?.adapter);
    });
  }
});
