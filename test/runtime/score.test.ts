import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HmiError } from '../../src/errors.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import type { LoraAdapter } from '../../src/formats/types.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { MemoryChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import type { Gpt2Config } from '../../src/formats/model-config.js';
import { gpt2ForwardRef } from '../../src/model/cpu/gpt2-ref.js';
import { gpt2PlotForwardRef } from '../../src/model/cpu/plot-ref.js';
import { makeAdapterFiles, makeGpt2Files } from '../../src/model/synthetic.js';
import type { GenerateChunk, ScoreResult, TenantSpec } from '../../src/runtime/api.js';
import { InvalidInputError, UnknownTenantError } from '../../src/runtime/errors.js';
import type { Engine } from '../../src/runtime/engine.js';
import type { DecoderParts } from '../../src/runtime/heads/decoder-head.js';
import { HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { writeBertDir } from '../helpers/models.js';

const SHAPE = { nEmbd: 32, nLayer: 4, nHead: 2, nPositions: 64, vocabSize: 300, seed: 23 };
const SPLIT = 2;

let dir: string;
let gpu: GPU;
let loaded: LoadedModel;
let config: Gpt2Config;
let rt: HmiRuntime;

/** The f64 reference of score(): log-softmax of each row of the reference logits at the next token. */
function refLogprobs(logits: Float64Array, ids: readonly number[]): number[] {
  const V = config.vocabSize;
  return ids.slice(1).map((next, t) => {
    const row = logits.subarray(t * V, (t + 1) * V);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
    return row[next] - lse;
  });
}

function expectScore(got: ScoreResult, want: readonly number[], ids: readonly number[]): void {
  expect(got.tokens).toBe(ids.length);
  expect(got.logprobs.length).toBe(ids.length - 1);
  got.logprobs.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-3));
  const mean = want.reduce((a, b) => a + b, 0) / want.length;
  expect(Math.abs(got.meanLogprob - mean)).toBeLessThan(1e-3);
  expect(got.perplexity).toBeCloseTo(Math.exp(-got.meanLogprob), 9);
}

const engineOf = (r: HmiRuntime): Engine<DecoderParts> => (r as unknown as { engine: Engine<DecoderParts> }).engine;

const prompt = (i: number, n: number): number[] => Array.from({ length: n }, (_, j) => (i * 53 + j * 17 + 3) % config.vocabSize);

async function allLayerAdapter(seed: number): Promise<LoraAdapter> {
  const adir = await mkdtemp(join(tmpdir(), 'hmi-score-adapter-'));
  const files = makeAdapterFiles(config, { rank: 4, layers: [0, 1, 2, 3], targets: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'], seed });
  for (const [name, content] of Object.entries(files)) await writeFile(join(adir, name), content);
  return loadAdapter(directorySource(adir), config);
}

let full: TenantSpec;
let upper: TenantSpec;
let plot: TenantSpec;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hmi-score-'));
  for (const [name, content] of Object.entries(makeGpt2Files(SHAPE))) await writeFile(join(dir, name), content);
  loaded = await loadModel(directorySource(dir));
  config = loaded.config as Gpt2Config;
  gpu = await nodeGpu();
  rt = (await createRuntime({
    gpu,
    model: dir,
    store: new MemoryTenantStore(),
    plotStore: new PlotStore(new MemoryChunkStore()),
    split: SPLIT,
    poolBytes: 1 << 20,
    kvBytes: 1 << 20,
    kvBlockTokens: 4,
    autotune: false,
  })) as HmiRuntime;
  await rt.domains.add({ id: 'rivers' });
  full = { id: 'full', adapter: await allLayerAdapter(4) };
  upper = syntheticTenant(config, SPLIT, 1, { count: 3, seed: 9, ranks: [3] });
  plot = { ...syntheticTenant(config, SPLIT, 2, { count: 3, seed: 9, ranks: [2] }), domain: 'rivers' };
  await rt.tenants.add([full, upper, plot]);
});
afterAll(async () => rt?.dispose());

describe('score (hGPT)', () => {
  it('equals the f64 reference: every layer for a tenant without a domain (lower-layer LoRA included), PLOT lower layers for a domain tenant', async () => {
    for (const n of [7, 13, 2]) {
      const ids = prompt(n, n);
      expectScore(await rt.score(full.id, ids), refLogprobs(gpt2ForwardRef(config, loaded.weights, ids, { adapter: full.adapter }).logits, ids), ids);
      expectScore(await rt.score(upper.id, ids), refLogprobs(gpt2ForwardRef(config, loaded.weights, ids, { adapter: upper.adapter }).logits, ids), ids);
      const plotWant = refLogprobs(gpt2PlotForwardRef(config, loaded.weights, SPLIT, ids, { adapter: plot.adapter }).logits, ids);
      expectScore(await rt.score(plot.id, ids), plotWant, ids);
      if (n > 2) {
        // The PLOT path is a model of its own: not the all-layers one.
        const allLayers = refLogprobs(gpt2ForwardRef(config, loaded.weights, ids, { adapter: plot.adapter }).logits, ids);
        expect(Math.max(...allLayers.map((v, i) => Math.abs(v - plotWant[i])))).toBeGreaterThan(1e-3);
      }
    }
    // Text goes through the tokenizer, as for generate().
    const text = 'the river ran under the old bridge';
    const ids = loaded.tokenizer.encode(text);
    expectScore(await rt.score(upper.id, text), refLogprobs(gpt2ForwardRef(config, loaded.weights, ids, { adapter: upper.adapter }).logits, ids), ids);
  });

  it('gives each request the same numbers alone and batched with other tenants\' scores and a running generation', async () => {
    const jobs = [
      { id: full.id, ids: prompt(1, 9) },
      { id: plot.id, ids: prompt(2, 11) },
      { id: upper.id, ids: prompt(3, 5) },
      { id: plot.id, ids: prompt(4, 15) },
      { id: full.id, ids: prompt(5, 3) },
    ];
    const alone: ScoreResult[] = [];
    for (const j of jobs) alone.push(await rt.score(j.id, j.ids));
    const served = (await rt.metrics()).requestsServed;
    const gen = (async () => {
      const out: number[] = [];
      for await (const c of rt.generate(upper.id, prompt(6, 4), { maxTokens: 6 }) as AsyncIterable<GenerateChunk>) out.push(c.tokenId);
      return out;
    })();
    // What each forward fed: scoring prefills of several tenants must share passes.
    const { model } = engineOf(rt).head;
    const seen: number[] = [];
    const step = model.step.bind(model);
    const stepUpper = model.stepUpper.bind(model);
    model.step = (pool, entries, lora) => (seen.push(entries.filter((e) => e.allLogits).length), step(pool, entries, lora));
    model.stepUpper = (pool, entries, split, hidden, lora) => (seen.push(entries.filter((e) => e.allLogits).length), stepUpper(pool, entries, split, hidden, lora));
    let together: ScoreResult[];
    try {
      together = await Promise.all(jobs.map((j) => rt.score(j.id, j.ids)));
      await gen;
    } finally {
      model.step = step;
      model.stepUpper = stepUpper;
    }
    expect(Math.max(...seen)).toBeGreaterThan(1);
    together.forEach((r, i) => {
      expect(r.tenantId).toBe(jobs[i].id);
      expect(Array.from(r.logprobs)).toEqual(Array.from(alone[i].logprobs));
      expect(r.perplexity).toBe(alone[i].perplexity);
    });
    expect((await rt.metrics()).requestsServed).toBe(served + jobs.length + 1);
    // The KV blocks of the scoring prefills are all returned.
    expect((await rt.metrics()).kvBytesUsed).toBe(0);
  });

  it('rejects what generate() rejects, with the same named errors, before any GPU work', async () => {
    const settled = await Promise.allSettled([
      rt.score('nobody', [1, 2, 3]),
      rt.score(upper.id, ''),
      rt.score(upper.id, [1, 2, 100_000]),
      rt.score(upper.id, prompt(7, config.maxPositions + 1)),
      rt.score(upper.id, [5]),
    ]);
    expect(settled.map((s) => (s.status === 'rejected' ? (s.reason as Error).constructor : null))).toEqual([
      UnknownTenantError,
      InvalidInputError,
      InvalidInputError,
      InvalidInputError,
      InvalidInputError,
    ]);
    // A whole position table is fine.
    expect((await rt.score(upper.id, prompt(8, config.maxPositions))).logprobs.length).toBe(config.maxPositions - 1);
  });

  it('fails a waiting score with UnknownTenantError when its tenant is removed', async () => {
    const gone = syntheticTenant(config, SPLIT, 0, { count: 3, seed: 31, ranks: [2] });
    await rt.tenants.add(gone);
    const pending = rt.score(gone.id, prompt(9, 20));
    await rt.tenants.remove(gone.id);
    await expect(pending).rejects.toThrow(UnknownTenantError);
  });
});

describe('score on an hBERT runtime', () => {
  it('is refused as generate() is: HmiError UNSUPPORTED', async () => {
    const bert = await createRuntime({ gpu, model: await writeBertDir({ hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 32 }), store: new MemoryTenantStore(), autotune: false });
    try {
      const err = await bert.score('any', 'hello').then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HmiError);
      expect((err as HmiError).code).toBe('UNSUPPORTED');
      const gen = await bert.generate('any', 'hello')[Symbol.asyncIterator]().next().then(
        () => null,
        (e: unknown) => e,
      );
      expect((gen as HmiError).code).toBe((err as HmiError).code);
    } finally {
      await bert.dispose();
    }
  });
});
