import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import type { Gpt2Config } from '../../src/formats/model-config.js';
import { gpt2GreedyRef } from '../../src/model/cpu/gpt2-ref.js';
import { hmi, type CliRun as Run } from '../helpers/cli.js';
import { makeDefaultModels } from '../model/default-models.js';


interface Generated {
  prompt_tokens: number;
  tokens: number[];
  text: string;
  finish_reason: string;
}

function json(run: Run): Generated {
  expect(run.code, run.stderr).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as Generated;
}

describe('hmi generate', () => {
  let dir: string;
  let cleanup: () => void;
  let gpt2: LoadedModel;
  const prompt = 'The morning was cold and clear';

  beforeAll(async () => {
    ({ dir, cleanup } = makeDefaultModels());
    gpt2 = await loadModel(directorySource(join(dir, 'hgpt-mini')));
  });

  afterAll(() => cleanup());

  it('prints the greedy continuation of the base model, equal to the CPU reference', async () => {
    const out = json(await hmi('generate', '--model', join(dir, 'hgpt-mini'), '--prompt', prompt, '--max-tokens', '6', '--json'));
    const ids = gpt2.tokenizer.encode(prompt);
    const ref = gpt2GreedyRef(gpt2.config as Gpt2Config, gpt2.weights, ids, 6);
    expect(out).toEqual({ prompt_tokens: ids.length, tokens: ref, text: gpt2.tokenizer.decode(ref), finish_reason: 'length' });
  });

  it('generates with a PEFT adapter, and prints plain text without --json', async () => {
    const adapterDir = join(dir, 'adapters/hgpt-mini/coder-r8');
    const adapter = await loadAdapter(directorySource(adapterDir), gpt2.config);
    const ids = gpt2.tokenizer.encode(prompt);
    const ref = gpt2GreedyRef(gpt2.config as Gpt2Config, gpt2.weights, ids, 5, { adapter });
    const run = await hmi('generate', '--model', join(dir, 'hgpt-mini'), '--adapter', adapterDir, '--input-ids', ids.join(','), '--max-tokens', '5');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${gpt2.tokenizer.decode(ref)}\n`);
  });

  it('replays a seeded sampled generation', async () => {
    const args = ['generate', '--model', join(dir, 'hgpt-mini'), '--prompt', prompt, '--max-tokens', '6', '--temperature', '0.8', '--top-k', '40', '--seed', '7', '--json'];
    const [a, b] = [json(await hmi(...args)), json(await hmi(...args))];
    expect(a.tokens).toHaveLength(6);
    expect(b).toEqual(a);
  });

  it('exits 2 on usage errors and 1 on bad input, with the message on stderr', async () => {
    const model = join(dir, 'hgpt-mini');
    for (const args of [
      ['generate', '--prompt', 'x'],
      ['generate', '--model', model],
      ['generate', '--model', model, '--prompt', 'x', '--max-tokens', 'many'],
      ['generate', '--model', model, '--prompt', 'x', '--temperature', '-1'],
      ['generate', '--model', model, '--prompt', 'x', '--bogus', '1'],
    ]) {
      const run = await hmi(...args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/^hmi: /);
    }
    const long = await hmi('generate', '--model', model, '--prompt', 'x', '--max-tokens', '5000');
    expect(long.code).toBe(1);
    expect(long.stderr).toMatch(/InvalidInputError: .*exceed the model's 256 positions/);
    const bert = await hmi('generate', '--model', join(dir, 'hbert-mini'), '--prompt', 'x');
    expect(bert.code).toBe(1);
    expect(bert.stderr).toMatch(/needs a GPT-2 checkpoint/);
  });
});
