import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import type { BertConfig, Gpt2Config } from '../../src/formats/model-config.js';
import { bertForwardRef } from '../../src/model/cpu/bert-ref.js';
import { gpt2ForwardRef } from '../../src/model/cpu/gpt2-ref.js';
import { makeBertFiles } from '../../src/model/synthetic.js';
import { expectClose } from '../helpers/gpu.js';
import { hmi, type CliRun as Run } from '../helpers/cli.js';
import { makeDefaultModels } from '../model/default-models.js';


function json(run: Run): { shape: number[]; data: number[] } {
  expect(run.code, run.stderr).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as { shape: number[]; data: number[] };
}

describe('hmi CLI', () => {
  let dir: string;
  let cleanup: () => void;
  let bert: LoadedModel;
  let gpt2: LoadedModel;

  beforeAll(async () => {
    ({ dir, cleanup } = makeDefaultModels());
    bert = await loadModel(directorySource(join(dir, 'hbert-mini')));
    gpt2 = await loadModel(directorySource(join(dir, 'hgpt-mini')));
  });

  afterAll(() => cleanup());

  it('prints the BERT classifier logits of --input-ids as JSON, equal to the CPU reference', async () => {
    const ids = [bert.tokenizer.encode('cold and clear')].flat();
    const out = json(await hmi('infer', '--model', join(dir, 'hbert-mini'), '--input-ids', ids.join(','), '--json'));
    const ref = bertForwardRef(bert.config as BertConfig, bert.weights, ids);
    expect(out.shape).toEqual([ref.logits!.length]);
    expectClose(out.data, ref.logits!, 1e-4, 2e-5);
  });

  it('runs --text with an adapter, --output hidden and --split 2 (BERT)', async () => {
    const adapterDir = join(dir, 'adapters/hbert-mini/intent-r8');
    const text = 'the river ran fast under the old stone bridge';
    const out = json(await hmi('infer', '--model', join(dir, 'hbert-mini'), '--adapter', adapterDir, '--text', text, '--output', 'hidden', '--split', '2', '--json'));
    const ids = bert.tokenizer.encode(text);
    const adapter = await loadAdapter(directorySource(adapterDir), bert.config);
    const ref = bertForwardRef(bert.config as BertConfig, bert.weights, ids, { adapter });
    expect(out.shape).toEqual([ids.length, bert.config.hiddenSize]);
    expectClose(out.data, ref.hidden, 1e-4, 2e-5);
  });

  it('prints GPT-2 logits [seq, vocab] with an adapter, equal to the CPU reference', async () => {
    const adapterDir = join(dir, 'adapters/hgpt-mini/coder-r8');
    const text = 'The morning was cold';
    const out = json(await hmi('infer', '--model', join(dir, 'hgpt-mini'), '--adapter', adapterDir, '--text', text, '--json'));
    const ids = gpt2.tokenizer.encode(text);
    const adapter = await loadAdapter(directorySource(adapterDir), gpt2.config);
    const ref = gpt2ForwardRef(gpt2.config as Gpt2Config, gpt2.weights, ids, { adapter });
    expect(out.shape).toEqual([ids.length, gpt2.config.vocabSize]);
    expectClose(out.data, ref.logits, 1e-4, 2e-5);
  });

  it('prints a short human summary without --json', async () => {
    const run = await hmi('infer', '--model', join(dir, 'hbert-mini'), '--text', 'a morning');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/logits \[2\]: negative -?\d+\.\d+, positive -?\d+\.\d+\nprediction: (negative|positive)/);
  });

  it('exits 1 with the named error on stderr for bad input or a model without the asked output', async () => {
    const vocab = await hmi('infer', '--model', join(dir, 'hgpt-mini'), '--input-ids', `1,${gpt2.config.vocabSize}`, '--json');
    expect(vocab.code).toBe(1);
    expect(vocab.stdout).toBe('');
    expect(vocab.stderr).toMatch(/InputError: sequence 0, token 1: token id \d+ is outside/);

    const encoderDir = join(dir, 'encoder-only');
    mkdirSync(encoderDir);
    for (const [name, content] of Object.entries(makeBertFiles({ labels: [], numLayers: 1, hiddenSize: 16, numHeads: 2, intermediateSize: 32 }))) {
      writeFileSync(join(encoderDir, name), content);
    }
    const noHead = await hmi('infer', '--model', encoderDir, '--input-ids', '1,2', '--output', 'logits');
    expect(noHead.code).toBe(1);
    expect(noHead.stderr).toMatch(/MissingWeightError: .*has no classifier/);
  });

  it('runs --input-ids on a model without tokenizer files; --text is a TokenizerError naming the files needed', async () => {
    const bare = join(dir, 'no-tokenizer');
    mkdirSync(bare);
    for (const name of ['config.json', 'model.safetensors']) writeFileSync(join(bare, name), readFileSync(join(dir, 'hgpt-mini', name)));
    const ids = gpt2.tokenizer.encode('The morning was cold');
    const out = json(await hmi('infer', '--model', bare, '--input-ids', ids.join(','), '--json'));
    const ref = gpt2ForwardRef(gpt2.config as Gpt2Config, gpt2.weights, ids);
    expectClose(out.data, ref.logits, 1e-4, 2e-5);
    const summary = await hmi('infer', '--model', bare, '--input-ids', ids.join(','));
    expect(summary.code, summary.stderr).toBe(0);
    expect(summary.stdout).toMatch(/next token \(greedy\): \d+\n?$/);
    const gen = await hmi('generate', '--model', bare, '--input-ids', ids.join(','), '--max-tokens', '3');
    expect(gen.code, gen.stderr).toBe(0);
    expect(gen.stdout).toMatch(/^token ids \(the model has no tokenizer files\): \d+,\d+,\d+\n$/);
    const text = await hmi('infer', '--model', bare, '--text', 'The morning');
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/TokenizerError: .*no-tokenizer has no tokenizer files, so the model takes token ids only; text needs tokenizer.json, or vocab.txt \(BERT WordPiece\), or vocab.json \+ merges.txt \(GPT-2 byte-level BPE\)/);
  });

  it('prints no XDG_RUNTIME_DIR complaint when the environment lacks it or has a bad one', async () => {
    const run = (xdg: string | undefined): Promise<{ code: number; stderr: string }> =>
      new Promise((done) => {
        const env = { ...process.env };
        if (xdg === undefined) delete env.XDG_RUNTIME_DIR;
        else env.XDG_RUNTIME_DIR = xdg;
        execFile(process.execPath, ['bin/hmi.mjs', 'infer', '--model', join(dir, 'hgpt-mini'), '--input-ids', '1,2', '--json'], { env, maxBuffer: 64 << 20 }, (err, _stdout, stderr) =>
          done({ code: err ? 1 : 0, stderr }),
        );
      });
    for (const r of await Promise.all([run(undefined), run('relative/dir'), run('/nonexistent/hmi-xdg')])) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/XDG_RUNTIME_DIR/);
    }
  });

  it('make-model writes the default models where --out says', async () => {
    const out = join(dir, 'made');
    const run = await hmi('make-model', '--out', out);
    expect(run.code, run.stderr).toBe(0);
    for (const f of ['hbert-mini/config.json', 'hgpt-mini/model.safetensors', 'adapters/hbert-mini/topic-r8/adapter_config.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
  });

  it('exits 2 on usage errors and 0 on --help', async () => {
    const both = await hmi('infer', '--model', join(dir, 'hgpt-mini'), '--input-ids', '1', '--text', 'x');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exactly one of --input-ids and --text/);
    const unknown = await hmi('infer', '--model', join(dir, 'hgpt-mini'), '--input-ids', '1', '--bogus');
    expect(unknown.code).toBe(2);
    const help = await hmi('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/hmi infer --model <dir>/);
  });
});
