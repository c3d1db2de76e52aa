import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fnv1a64 } from '../../src/formats/hash.js';
import { directorySource, loadAdapter, loadModelConfig } from '../../src/formats/model-source.js';
import type { ModelConfig } from '../../src/formats/model-config.js';
import { makeAdapterFiles, makeBertFiles, makeGpt2Files, type ModelFiles } from '../../src/model/synthetic.js';
import { hmi, type CliRun } from '../helpers/cli.js';

// `hmi train` on tiny synthetic models, one epoch: what the command does around
// runtime.tenants.train (flags, data, the bundle for --domain, the PEFT directory it writes and
// that the other commands read back), not how well the tenant learns.

const BERT = { hiddenSize: 32, numLayers: 4, numHeads: 2, intermediateSize: 64, maxPositions: 32, seed: 5 };
const GPT2 = { nEmbd: 32, nLayer: 4, nHead: 2, nPositions: 64, vocabSize: 300, seed: 8 };

const LABELLED = [
  { text: 'win a free cruise now, reply to claim your prize', label: 'spam' },
  { text: 'are we still on for lunch on thursday', label: 'ham' },
  { text: 'cheap pills, limited offer, click here', label: 'spam' },
  { text: 'the meeting moved to monday morning', label: 'ham' },
  { text: 'you have won a prize, send your bank details', label: 'spam' },
  { text: 'here are the notes from the river walk', label: 'ham' },
];
const TEXTS = ['the river ran under the old stone bridge', 'a cold, clear morning on the water', 'we walked home along the bank', 'the boat drifted past the mill'];

let work: string;
/** A bundle in the shipped layout: bundle/hbert-mini (the model), bundle/index.json, a domain "email". */
let bundle: string;
let bertDir: string;
let gptDir: string;
let bertConfig: ModelConfig;
let bertData: string;

async function writeFiles(dir: string, files: ModelFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
}

interface Summary {
  tenantId: string;
  family: string;
  labels?: string[];
  examples: number;
  validationExamples: number;
  steps: number;
  epochs: number;
  bestEpoch: number;
  history: { epoch: number; loss: number }[];
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  out: string;
  adapter?: unknown;
}

function summary(run: CliRun): Summary {
  expect(run.code, run.stderr).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as Summary;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'hmi-cli-train-'));
  bundle = join(work, 'bundle');
  bertDir = join(bundle, 'hbert-mini');
  const bertFiles = makeBertFiles(BERT);
  await writeFiles(bertDir, bertFiles);
  bertConfig = await loadModelConfig(directorySource(bertDir));
  await writeFiles(join(bundle, 'domains/hbert-mini/email'), makeAdapterFiles(bertConfig, { rank: 2, seed: 11, layers: [0, 1] }));
  const index = {
    version: 2,
    models: [{ id: 'hbert-mini', family: 'bert', path: 'hbert-mini/', hash: fnv1a64(bertFiles['model.safetensors'] as Uint8Array) }],
    domains: [{ model: 'hbert-mini', id: 'email', parent: 'general', lowerAdapter: 'domains/hbert-mini/email/', budgetEntries: 200 }],
    plot: {},
    tenants: [],
  };
  await writeFile(join(bundle, 'index.json'), JSON.stringify(index));
  gptDir = join(work, 'gpt');
  await writeFiles(gptDir, makeGpt2Files(GPT2));
  bertData = join(work, 'mail.jsonl');
  await writeFile(bertData, `${LABELLED.map((e) => JSON.stringify(e)).join('\n')}\n`);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('hmi train', () => {
  it('trains an hBERT tenant from JSONL, reports progress on stderr, and writes a PEFT adapter that classify reads back', async () => {
    const out = join(work, 'out', 'spam');
    const s = summary(await hmi('train', '--model', bertDir, '--data', bertData, '--out', out, '--epochs', '1', '--rank', '4', '--alpha', '8', '--seed', '3', '--validation', '0'));
    expect(s).toMatchObject({ tenantId: 'spam', family: 'bert', labels: ['ham', 'spam'], examples: LABELLED.length, validationExamples: 0, epochs: 1, bestEpoch: 1, out });
    expect(s.adapter).toBeUndefined();
    expect(s.history).toHaveLength(1);
    expect(Number.isFinite(s.history[0].loss)).toBe(true);
    expect(s.steps).toBeGreaterThanOrEqual(1);
    expect((await readdir(out)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, labels: ['ham', 'spam'], modules_to_save: ['classifier'] });
    const adapter = await loadAdapter(directorySource(out), bertConfig);
    expect(adapter.labels).toEqual(['ham', 'spam']);
    expect(adapter.head.get('classifier.weight')?.shape).toEqual([2, BERT.hiddenSize]);
    // No domain: the LoRA adapts every layer.
    expect([...adapter.modules.keys()].some((k) => k.startsWith('encoder.layer.0.'))).toBe(true);
    const classified = await hmi('classify', '--model', bertDir, '--adapter', out, '--text', 'claim your free prize', '--json');
    expect(classified.code, classified.stderr).toBe(0);
    expect((JSON.parse(classified.stdout) as { labels: string[] }).labels).toEqual(['ham', 'spam']);
  });

  it('trains a --domain tenant with the domain of the bundle next to the model; it adapts only the upper layers', async () => {
    const out = join(work, 'email-tenant');
    const run = await hmi('train', '--model', bertDir, '--data', bertData, '--out', out, '--domain', 'email', '--id', 'mail', '--epochs', '1', '--batch-size', '3');
    const s = summary(run);
    expect(s).toMatchObject({ tenantId: 'mail', labels: ['ham', 'spam'] });
    expect(s.steps).toBe(2);
    expect(run.stderr).toMatch(/epoch 1\/1 +step 2\/2 +loss \d+\.\d{4}/);
    const adapter = await loadAdapter(directorySource(out), bertConfig);
    const layers = new Set([...adapter.modules.keys()].map((k) => Number(/^encoder\.layer\.(\d+)\./.exec(k)![1])));
    expect(Math.min(...layers)).toBeGreaterThanOrEqual(2);
    const classified = await hmi('classify', '--model', bertDir, '--adapter', out, '--split', '2', '--lower-adapter', join(bundle, 'domains/hbert-mini/email'), '--text', 'lunch on monday?', '--json');
    expect(classified.code, classified.stderr).toBe(0);
  });

  it('trains an hGPT tenant from CSV texts (quoted fields, a line break inside one); score reads the adapter back', async () => {
    const data = join(work, 'texts.csv');
    await writeFile(data, `id,text\r\n1,${TEXTS[0]}\r\n2,"${TEXTS[1]}"\r\n3,"${TEXTS[2]}\r\n${TEXTS[3]}"\r\n`);
    const out = join(work, 'river');
    const s = summary(await hmi('train', '--model', gptDir, '--data', data, '--out', out, '--epochs', '1', '--lr', '1e-3'));
    expect(s).toMatchObject({ tenantId: 'river', family: 'gpt2', examples: 3, epochs: 1 });
    expect(s.labels).toBeUndefined();
    const config = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ task_type: 'CAUSAL_LM', fan_in_fan_out: true, modules_to_save: null });
    const scored = await hmi('score', '--model', gptDir, '--adapter', out, '--text', 'the river ran past the mill', '--json');
    expect(scored.code, scored.stderr).toBe(0);
  });

  it('the same seed and data write the same adapter bytes, replacing an earlier adapter directory', async () => {
    const out = join(work, 'again');
    const args = ['train', '--model', bertDir, '--data', bertData, '--out', out, '--epochs', '1', '--seed', '7', '--validation', '0'];
    summary(await hmi(...args));
    const first = await readFile(join(out, 'adapter_model.safetensors'));
    summary(await hmi(...args));
    expect(Buffer.compare(await readFile(join(out, 'adapter_model.safetensors')), first)).toBe(0);
    expect((await readdir(work)).filter((n) => n.startsWith('.again'))).toEqual([]);
  });

  it('Ctrl-C (SIGINT) aborts the training: exit 1 with TrainingAbortedError, no directory and no litter', async () => {
    const parent = join(work, 'interrupted');
    const out = join(parent, 'never');
    const child = spawn(process.execPath, ['bin/hmi.mjs', 'train', '--model', bertDir, '--data', bertData, '--out', out, '--epochs', '100', '--batch-size', '1']);
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    const training = new Promise<void>((resolve) => {
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (/^train +epoch/m.test(stderr)) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await training;
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(stderr).toContain('interrupted: aborting the training');
    expect(stderr).toMatch(/hmi: TrainingAbortedError: training of tenant "never" was aborted/);
    expect(stdout).toBe('');
    expect(existsSync(out)).toBe(false);
    expect(existsSync(parent) ? await readdir(parent) : []).toEqual([]);
  });

  it('refuses bad flags, data and outputs before training, and writes nothing', async () => {
    const out = join(work, 'never');
    const bad = join(work, 'bad.jsonl');
    await writeFile(bad, '{"text": "fine", "label": "a"}\n\n{"text": "no label here"}\n');
    const dataError = await hmi('train', '--model', bertDir, '--data', bad, '--out', out);
    expect(dataError.code).toBe(1);
    expect(dataError.stderr).toContain(`TrainDataError: ${bad}, line 3: no "label" field`);

    const cases: [string[], RegExp][] = [
      [['--data', bertData, '--out', out], /train needs --model/],
      [['--model', bertDir, '--out', out], /train needs --data/],
      [['--model', bertDir, '--data', bertData], /train needs --out/],
      [['--model', bertDir, '--data', join(work, 'mail.txt'), '--out', out], /the format comes from the extension/],
      [['--model', bertDir, '--data', bertData, '--out', out, '--epochs', '0'], /--epochs must be a positive integer, got "0"/],
      [['--model', bertDir, '--data', bertData, '--out', out, '--validation', '1'], /--validation must be a fraction in \[0, 1\)/],
      [['--model', bertDir, '--data', bertData, '--out', out, '--lr', '-1'], /--lr must be a positive number/],
      [['--model', bertDir, '--data', bertData, '--out', out, '--domain', 'politics'], /--domain politics: .*has no such domain for hbert-mini \(it has general, email\)/],
      [['--model', gptDir, '--data', bertData, '--out', out, '--domain', 'email'], /needs the domain's lower layers from the bundle next to the model/],
      [['--model', bertDir, '--data', bertData, '--out', work], /--out .* is a directory with other files than an adapter's/],
      [['--model', bertDir, '--data', bertData, '--out', out, '--verbose'], /unknown option --verbose/],
    ];
    for (const [args, message] of cases) {
      const run = await hmi('train', ...args);
      expect(run.code, `${args.join(' ')}\n${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe('');
    }
    expect(existsSync(out)).toBe(false);
  });
});
