import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import type { LoraAdapter } from '../../src/formats/types.js';
import type { BertConfig } from '../../src/formats/model-config.js';
import { bertForwardRef } from '../../src/model/cpu/bert-ref.js';
import { bertPlotForwardRef } from '../../src/model/cpu/plot-ref.js';
import { makeAdapterFiles } from '../../src/model/synthetic.js';
import { hmi, type CliRun } from '../helpers/cli.js';
import { writeBertDir } from '../helpers/models.js';

const SHAPE = { hiddenSize: 32, numLayers: 4, numHeads: 2, intermediateSize: 64, maxPositions: 32, seed: 5 };
const LABELS = ['ham', 'spam', 'eggs'];

let modelDir: string;
let adapterDir: string;
let lowerDir: string;
let loaded: LoadedModel;
let config: BertConfig;
let adapter: LoraAdapter;

async function writeAdapter(layers: readonly number[], seed: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hmi-cli-adapter-'));
  for (const [name, content] of Object.entries(makeAdapterFiles(config, { rank: 4, layers, labels: LABELS, seed }))) await writeFile(join(dir, name), content);
  return dir;
}

beforeAll(async () => {
  modelDir = await writeBertDir(SHAPE);
  loaded = await loadModel(directorySource(modelDir));
  config = loaded.config as BertConfig;
  adapterDir = await writeAdapter([2, 3], 1);
  lowerDir = await writeAdapter([0, 1, 2, 3], 2);
  adapter = await loadAdapter(directorySource(adapterDir), config);
});

interface Classified {
  label: string;
  labels: string[];
  scores: number[];
}

function json(run: CliRun): Classified {
  expect(run.code, run.stderr).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as Classified;
}

function softmax(x: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const classify = (...args: string[]): Promise<CliRun> => hmi('classify', '--model', modelDir, ...args);

describe('hmi classify', () => {
  it('prints {label, labels, scores} for a text: the adapter\'s labels, softmax scores equal to the CPU reference, label = argmax', async () => {
    const text = 'the river ran under the old bridge';
    const out = json(await classify('--adapter', adapterDir, '--text', text, '--json'));
    expect(Object.keys(out)).toEqual(['label', 'labels', 'scores']);
    expect(out.labels).toEqual(LABELS);
    expect(out.scores).toHaveLength(LABELS.length);
    expect(out.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(out.label).toBe(out.labels[out.scores.indexOf(Math.max(...out.scores))]);
    const want = softmax(bertForwardRef(config, loaded.weights, loaded.tokenizer.encode(text), { adapter }).logits!);
    out.scores.forEach((s, i) => expect(s).toBeCloseTo(want[i], 4));
  });

  it('prints a table without --json', async () => {
    const run = await classify('--adapter', adapterDir, '--input-ids', '2,40,41,42,3');
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^label\s+score$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(LABELS);
    expect(lines.filter((l) => l.endsWith('<'))).toHaveLength(1);
  });

  it('refuses an over-long input (exit 1), and with --truncate keeps its first max-1 tokens closed by [SEP]', async () => {
    const P = config.maxPositions;
    const ids = [2, ...Array.from({ length: P + 8 }, (_, i) => 10 + ((i * 7) % 50)), 3];
    const refused = await classify('--adapter', adapterDir, '--input-ids', ids.join(','), '--json');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/InvalidInputError: .*at most 32/);
    const out = json(await classify('--adapter', adapterDir, '--input-ids', ids.join(','), '--truncate', '--json'));
    const sep = loaded.tokenizer.tokenToId('[SEP]')!;
    const want = softmax(bertForwardRef(config, loaded.weights, [...ids.slice(0, P - 1), sep], { adapter }).logits!);
    out.scores.forEach((s, i) => expect(s).toBeCloseTo(want[i], 4));
    // A long text too.
    const text = Array.from({ length: 60 }, (_, i) => ['river', 'stone', 'bridge', 'cold'][i % 4]).join(' ');
    expect(loaded.tokenizer.encode(text).length).toBeGreaterThan(P);
    expect(json(await classify('--adapter', adapterDir, '--text', text, '--truncate', '--json')).scores).toHaveLength(3);
  });

  it('with --split, serves the tenant the hPLM way (lower layers from PLOT) and refuses an adapter on layers below the split', async () => {
    const ids = [2, 44, 45, 46, 47, 3];
    const out = json(await classify('--adapter', adapterDir, '--input-ids', ids.join(','), '--split', '2', '--json'));
    const ln = `encoder.layer.1.output.LayerNorm`;
    const want = softmax(
      bertPlotForwardRef(config, loaded.weights, 2, ids, { weight: loaded.weights.get(`${ln}.weight`)!.data, bias: loaded.weights.get(`${ln}.bias`)!.data }, { adapter }).logits!,
    );
    out.scores.forEach((s, i) => expect(s).toBeCloseTo(want[i], 4));
    const bad = await classify('--adapter', lowerDir, '--input-ids', ids.join(','), '--split', '2', '--json');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/AdapterMismatchError/);
    // The same all-layer adapter without a domain runs every layer.
    expect(json(await classify('--adapter', lowerDir, '--input-ids', ids.join(','), '--json')).scores).toHaveLength(3);
  });

  it('exits 2 on usage errors', async () => {
    for (const args of [
      ['--text', 'hello', '--json'],
      ['--adapter', adapterDir, '--json'],
      ['--adapter', adapterDir, '--text', 'hi', '--input-ids', '2,3'],
      ['--adapter', adapterDir, '--text', 'hi', '--split', 'two'],
      ['--adapter', adapterDir, '--text', 'hi', '--truncate=yes'],
      ['--adapter', adapterDir, '--text', 'hi', '--bogus'],
      ['--adapter', adapterDir, '--input-ids', '2,x,3'],
    ]) {
      const run = await classify(...args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(/^hmi: /);
    }
  });
});
