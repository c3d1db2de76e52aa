import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import type { Gpt2Config } from '../../src/formats/model-config.js';
import { gpt2ForwardRef } from '../../src/model/cpu/gpt2-ref.js';
import { makeAdapterFiles, makeGpt2Files } from '../../src/model/synthetic.js';
import { hmi, type CliRun } from '../helpers/cli.js';
import { writeBertDir } from '../helpers/models.js';

let modelDir: string;
let adapterDir: string;
let loaded: LoadedModel;
let config: Gpt2Config;

beforeAll(async () => {
  modelDir = await mkdtemp(join(tmpdir(), 'hmi-cli-score-'));
  for (const [name, content] of Object.entries(makeGpt2Files({ nEmbd: 32, nLayer: 4, nHead: 2, nPositions: 64, vocabSize: 300, seed: 8 }))) await writeFile(join(modelDir, name), content);
  loaded = await loadModel(directorySource(modelDir));
  config = loaded.config as Gpt2Config;
  adapterDir = await mkdtemp(join(tmpdir(), 'hmi-cli-score-adapter-'));
  for (const [name, content] of Object.entries(makeAdapterFiles(config, { rank: 4, seed: 3 }))) await writeFile(join(adapterDir, name), content);
});

/** Mean next-token log-probability of the f64 reference. */
function refMean(ids: readonly number[], logits: Float64Array): number {
  const V = config.vocabSize;
  let total = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    const max = Math.max(...row);
    total += row[ids[t + 1]] - max - Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
  }
  return total / (ids.length - 1);
}

function json(run: CliRun): { tokens: number; perplexity: number; meanLogprob: number } {
  expect(run.code, run.stderr).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as { tokens: number; perplexity: number; meanLogprob: number };
}

describe('hmi score', () => {
  it('prints {tokens, perplexity, meanLogprob} equal to the CPU reference, with and without an adapter', async () => {
    const text = 'the river ran under the old stone bridge';
    const ids = loaded.tokenizer.encode(text);
    const base = json(await hmi('score', '--model', modelDir, '--text', text, '--json'));
    expect(Object.keys(base)).toEqual(['tokens', 'perplexity', 'meanLogprob']);
    expect(base.tokens).toBe(ids.length);
    expect(Math.abs(base.meanLogprob - refMean(ids, gpt2ForwardRef(config, loaded.weights, ids).logits))).toBeLessThan(1e-3);
    expect(base.perplexity).toBeCloseTo(Math.exp(-base.meanLogprob), 6);

    const adapter = await loadAdapter(directorySource(adapterDir), config);
    const tuned = json(await hmi('score', '--model', modelDir, '--adapter', adapterDir, '--input-ids', ids.join(','), '--json'));
    expect(Math.abs(tuned.meanLogprob - refMean(ids, gpt2ForwardRef(config, loaded.weights, ids, { adapter }).logits))).toBeLessThan(1e-3);
    expect(tuned.meanLogprob).not.toBe(base.meanLogprob);
  });

  it('prints a line without --json; errors exit 1 (one token, a BERT model), usage errors 2', async () => {
    const plain = await hmi('score', '--model', modelDir, '--input-ids', '5,6,7');
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^3 tokens: perplexity [\d.]+, mean log-probability -[\d.]+\n$/);
    const one = await hmi('score', '--model', modelDir, '--input-ids', '5');
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/InvalidInputError: scoring needs at least 2 tokens/);
    const bert = await hmi('score', '--model', await writeBertDir({ hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 32 }), '--text', 'a b');
    expect(bert.code).toBe(1);
    expect(bert.stderr).toMatch(/needs a GPT-2 checkpoint/);
    for (const args of [['--text', 'x'], ['--model', modelDir], ['--model', modelDir, '--text', 'x', '--truncate']]) {
      expect((await hmi('score', ...args)).code, args.join(' ')).toBe(2);
    }
  });
});
