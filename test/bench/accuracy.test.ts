import { describe, expect, it } from 'vitest';
import { buildAccuracyInput, buildTrainInputs, cutWindows, offlineValidation, sampleTask, type AccuracyDataModule, type AccuracyTrainInput, type DataSpeech, type DataTask } from '../../bench/lib/accuracy-input.js';
import { accuracyMarkdown, accuracyTargets, accuracyText, buildAccuracyReport, type BowResult } from '../../bench/lib/accuracy-report.js';
import type { AccuracyRun, ScoreRun, TrainRun } from '../../bench/lib/accuracy.js';
import { accuracyOf, bagOf, chooseBow, fitBow, predictBow } from '../../bench/lib/bow.js';
import { mulberry32 } from '../../bench/lib/rng.js';

/** training/data.mjs's evenSample, restated (the module is plain JS): stride over the list. */
function evenSample<T>(list: readonly T[], n: number): T[] {
  if (list.length <= n) return [...list];
  return Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]);
}

const speech = (id: string, slug: string, split: string, text: string): DataSpeech => ({ id, year: 1800, name: slug.toUpperCase(), slug, split, text });

function fakeData(speeches: readonly DataSpeech[], tasks: readonly DataTask[]): AccuracyDataModule {
  return {
    loadAll: () => ({ speeches }),
    classificationTasks: () => tasks,
    stylePresidents: (list) => [...new Set(list.map((s) => s.slug))].map((slug) => ({ slug, name: slug.toUpperCase(), speeches: list.filter((s) => s.slug === slug) })),
    evenSample,
  };
}

describe('accuracy input', () => {
  it('samples at most n test examples per task, evenly, with their gold labels', () => {
    const examples = Array.from({ length: 10 }, (_, i) => ({ text: `t${i}`, label: i % 2 ? 'spam' : 'ham', split: i < 8 ? 'test' : 'train', doc: `d${i}` }));
    const data = fakeData([], []);
    const s = sampleTask(data, { task: 'spam', domain: 'email', labels: ['ham', 'spam'], examples }, 4);
    expect(s.testExamples).toBe(8);
    expect(s.texts).toEqual(['t0', 't2', 't4', 't6']);
    expect(s.gold).toEqual(['ham', 'ham', 'ham', 'ham']);
    expect(sampleTask(data, { task: 'spam', domain: 'email', labels: ['ham', 'spam'], examples }, 100).texts).toHaveLength(8);
  });

  it('joins documents with end-of-text and cuts whole windows, dropping the tail', () => {
    expect(cutWindows([[1, 2, 3], [4]], 9, 3)).toEqual([
      [1, 2, 3],
      [9, 4, 9],
    ]);
    expect(cutWindows([[1, 2]], 9, 4)).toEqual([]);
  });

  it('takes only test speeches, per style tenant its own president', () => {
    const speeches = [speech('a1', 'adams', 'test', 'a b c d e f'), speech('a2', 'adams', 'train', 'x x x x x x'), speech('b1', 'burr', 'test', 'g h i j')];
    const input = buildAccuracyInput(fakeData(speeches, []), { speeches, tasks: [] }, { n: 10, windows: 10, styleWindows: 1 }, { encode: (t) => t.split(' ').map((w) => w.charCodeAt(0)), eos: 0, maxPositions: 3 }, [{ tenant: 'style-burr', slug: 'burr' }]);
    // adams' test speech (6 ids + eos), then burr's (4 + eos): 12 ids, 4 windows of 3; no 'x' (train).
    expect(input.generation.heldOut.windows.flat()).not.toContain('x'.charCodeAt(0));
    expect(input.generation.heldOut).toMatchObject({ documents: 2, windowsAvailable: 4 });
    expect(input.generation.style).toHaveLength(1);
    expect(input.generation.style[0]).toMatchObject({ tenant: 'style-burr', slug: 'burr', documents: 1, windowsAvailable: 1 });
    expect(input.generation.style[0].windows).toEqual([[103, 104, 105]]);
    expect(() => buildAccuracyInput(fakeData(speeches, []), { speeches, tasks: [] }, { n: 1, windows: 1, styleWindows: 1 }, { encode: () => [1], eos: 0, maxPositions: 3 }, [{ tenant: 'style-x', slug: 'x' }])).toThrow(/no president "x"/);
  });
});

describe('trained column input', () => {
  const examples = [
    ...Array.from({ length: 10 }, (_, i) => ({ text: `t${i}`, label: i % 3 ? 'spam' : 'ham', split: 'train', doc: `d${i}` })),
    ...Array.from({ length: 4 }, (_, i) => ({ text: `v${i}`, label: i % 2 ? 'spam' : 'ham', split: 'validation', doc: `v${i}` })),
    ...Array.from({ length: 5 }, (_, i) => ({ text: `x${i}`, label: i % 2 ? 'spam' : 'ham', split: 'test', doc: `x${i}` })),
  ];
  // Splits interleaved as classificationTasks() may give them: the indices count train examples only.
  const tasks: DataTask[] = [{ task: 'spam', domain: 'email', labels: ['ham', 'spam'], examples: [{ text: 'x5', label: 'spam', split: 'test', doc: 'x5' }, ...examples] }];
  const sub = { trainExamples: 10, seed: 4, maxTrain: 5, epochs: 2, batch: 32, lr: 0.002, rank: 4, indices: [1, 3, 5, 7, 9] };
  const all = { trainN: null, trainTestN: Number.MAX_SAFE_INTEGER };

  it("takes the train split's examples at the offline indices, train.py's validation and the whole test split", () => {
    const [t] = buildTrainInputs(fakeData([], tasks), tasks, { tasks: { spam: sub } }, all);
    expect(t).toMatchObject({ task: 'spam', domain: 'email', labels: ['ham', 'spam'], rank: 4, epochs: 2, batchSize: 32, learningRate: 0.002, weightDecay: 0.01, seed: 4, trainExamples: 10, offlineExamples: 5, validationExamples: 4 });
    expect(t.data).toEqual([1, 3, 5, 7, 9].map((i) => ({ text: `t${i}`, label: i % 3 ? 'spam' : 'ham' })));
    expect(t.validation.map((e) => e.text)).toEqual(['v0', 'v1', 'v2', 'v3']);
    expect(t.test).toEqual({ testExamples: 6, texts: ['x5', 'x0', 'x1', 'x2', 'x3', 'x4'], gold: ['spam', 'ham', 'spam', 'ham', 'spam', 'ham'] });
  });

  it('keeps fewer train, validation and test examples, evenly, when asked', () => {
    const [t] = buildTrainInputs(fakeData([], tasks), tasks, { tasks: { spam: sub } }, { trainN: 2, trainTestN: 3 });
    expect(t.data.map((e) => e.text)).toEqual(['t1', 't5']);
    expect(t.validation.map((e) => e.text)).toEqual(['v0', 'v2']);
    expect(t.offlineExamples).toBe(5);
    expect(t.validationExamples).toBe(4);
    expect(t.test.texts).toEqual(['x5', 'x1', 'x3']);
  });

  it("validates on every len // 1500-th example, as train.py", () => {
    expect(offlineValidation(Array.from({ length: 1500 }, (_, i) => i))).toHaveLength(1500);
    const v = offlineValidation(Array.from({ length: 4501 }, (_, i) => i));
    expect(v).toHaveLength(1501);
    expect(v.slice(0, 3)).toEqual([0, 3, 6]);
  });

  it('refuses subsets written for other data', () => {
    const data = fakeData([], tasks);
    expect(() => buildTrainInputs(data, tasks, { tasks: { spam: { ...sub, trainExamples: 11 } } }, all)).toThrow(/remake it/);
    expect(() => buildTrainInputs(data, tasks, { tasks: { spam: { ...sub, indices: [0, 10] } } }, all)).toThrow(/index 10 is outside/);
    expect(() => buildTrainInputs(data, tasks, { tasks: { era: sub } }, all)).toThrow(/task "era"/);
  });
});

describe('bag-of-words floor', () => {
  it('bags log1p counts of distinct ids', () => {
    const b = bagOf([5, 2, 5, 5]);
    expect([...b.ids]).toEqual([2, 5]);
    expect(b.values[0]).toBeCloseTo(Math.log(2));
    expect(b.values[1]).toBeCloseTo(Math.log(4));
  });

  it('learns a task a word decides, deterministically, and picks L2 on validation', () => {
    const rnd = mulberry32(7);
    // Class c is marked by word 10 + c among random filler words 20..59.
    const make = (count: number) => {
      const labels: number[] = [];
      const bags = Array.from({ length: count }, (_, i) => {
        const c = i % 3;
        labels.push(c);
        const ids = Array.from({ length: 8 }, () => 20 + Math.floor(rnd() * 40));
        return bagOf([...ids, 10 + c]);
      });
      return { bags, labels };
    };
    const train = make(90);
    const validation = make(30);
    const test = make(30);
    const fit = chooseBow(train, validation, 64, 3);
    expect(fit.validationAccuracy).toBe(1);
    expect(accuracyOf(predictBow(fit.model, test.bags), test.labels)).toBe(1);
    const again = fitBow(train.bags, train.labels, 64, 3, fit.l2);
    expect([...again.params]).toEqual([...fit.model.params]);
  });
});

const scoreRun = (perplexity: number, tokens = 510): ScoreRun => ({ tokens, sumLogprob: -Math.log(perplexity) * tokens, perplexity, seconds: 1 });
const column = (accuracy: number) => ({ accuracy, correct: Math.round(accuracy * 100), n: 100, seconds: 2, plotHitRate: 0.5 });

describe('accuracy report', () => {
  const input = {
    n: 100,
    tasks: [
      { task: 'spam', domain: 'email', labels: ['ham', 'spam'], testExamples: 800, texts: [], gold: [] },
      { task: 'era', domain: 'politics', labels: ['a', 'b'], testExamples: 900, texts: [], gold: [] },
    ],
    generation: { windowTokens: 256, heldOut: { documents: 3, windowsAvailable: 40, windows: [[1], [2]] }, style: [{ slug: 'burr', name: 'Aaron Burr', tenant: 'style-burr', documents: 1, windowsAvailable: 2, windows: [[1]] }] },
  };
  const run: AccuracyRun = {
    where: 'node',
    adapter: 'swiftshader',
    seconds: 60,
    tasks: {
      spam: { n: 100, labels: ['ham', 'spam'], domain: 'email', full: column(0.97), hplm: column(0.965), inherit: column(0.9) },
      era: { n: 100, labels: ['a', 'b'], domain: 'politics', full: column(0.6), hplm: column(0.58), inherit: column(0.5) },
    },
    generation: { domain: 'politics', full: scoreRun(40), hplm: scoreRun(41), style: { burr: { tenant: 'style-burr', base: scoreRun(50, 255), tenantRun: scoreRun(45, 255) } } },
  };
  const bow = (accuracy: number): BowResult => ({ accuracy, fullTestAccuracy: accuracy, testExamples: 800, trainExamples: 3000, validationAccuracy: accuracy, l2: 1e-4, training: null });

  it('has the JSON shape of the brief and evaluates every target', () => {
    const r = buildAccuracyReport(input, run, { spam: bow(0.9), era: bow(0.65) }, { command: 'npm run bench -- accuracy', date: '2026-12-06', bundle: 'public/models' });
    expect(r.tasks.spam).toMatchObject({ n: 100, labels: ['ham', 'spam'], full: 0.97, hplm: 0.965, inherit: 0.9, bow: 0.9 });
    expect(r.generation).toMatchObject({ tokens: 510, perplexity: { full: 40, hplm: 41 }, style: { burr: { base: 50, tenant: 45 } } });
    const status = Object.fromEntries(accuracyTargets(r).map((t) => [t.target, t.met]));
    expect(status).toEqual({
      'spam: full > bow': true,
      'era: full > bow': false,
      'spam: full >= 0.95': true,
      'spam: hplm >= full - 0.01': true,
      'era: hplm >= full - 0.01': false,
      'perplexity: hplm <= 1.05 x full': true,
      'style-burr: perplexity <= 0.95 x base': true,
    });
    const md = accuracyMarkdown(r);
    expect(md).toContain('Command: `npm run bench -- accuracy`');
    expect(md).toContain('| spam | email | ham, spam | 100 of 800 | 0.970 | 0.965 | 0.900 | 0.900 | -0.005 |');
    expect(md).toContain('missed: era: full > bow; era: hplm >= full - 0.01 (values below)');
    expect(md).toContain('| era: full > bow | 0.600 vs 0.650 | **missed** |');
  });

  it('adds the trained column, its section and its target when the spam tenant was trained', () => {
    const train: AccuracyTrainInput = {
      task: 'spam',
      domain: 'email',
      labels: ['ham', 'spam'],
      rank: 4,
      epochs: 2,
      batchSize: 32,
      learningRate: 0.002,
      weightDecay: 0.01,
      seed: 4,
      trainExamples: 4000,
      offlineExamples: 3000,
      data: Array.from({ length: 3000 }, () => ({ text: 'x', label: 'ham' })),
      validation: Array.from({ length: 800 }, () => ({ text: 'x', label: 'ham' })),
      validationExamples: 800,
      test: { testExamples: 867, texts: [], gold: [] },
    };
    const trained = (hplm: number, got: number): TrainRun => ({
      tenant: 'spam-trained',
      examples: 3000,
      validationExamples: 800,
      epochs: 2,
      steps: 188,
      bestEpoch: 2,
      history: [
        { epoch: 1, loss: 0.4, validation: { metric: 'accuracy', value: 0.9 } },
        { epoch: 2, loss: 0.3, validation: { metric: 'accuracy', value: 0.92 } },
      ],
      validationAccuracy: 0.92,
      tokens: 300000,
      seconds: 1500,
      tokensPerSecond: 200,
      sample: column(0.95),
      test: { n: 867, hplm: { ...column(hplm), n: 867, correct: Math.round(hplm * 867) }, trained: { ...column(got), n: 867, correct: Math.round(got * 867) } },
    });
    const meta = { command: 'c', date: 'd', bundle: 'b' };
    const offline = { spam: { validationAccuracy: 0.9156, history: [{ epoch: 1, validationAccuracy: 0.896 }, { epoch: 2, validationAccuracy: 0.9156 }], trainExamples: 3000, stageSeconds: 497 } };
    const withTrain = { ...input, train: [train] };
    const runWith = (hplm: number, got: number): AccuracyRun => ({ ...run, tasks: { ...run.tasks, spam: { ...run.tasks.spam, trained: trained(hplm, got) } } });
    const r = buildAccuracyReport(withTrain, runWith(230 / 867, 213 / 867), { spam: bow(0.9), era: bow(0.65) }, meta, offline);
    expect(r.tasks.spam.trained).toBe(0.95);
    expect(r.tasks.era.trained).toBeNull();
    expect(r.tasks.spam.train).toMatchObject({ sameData: true, steps: 188, bestEpoch: 2, offline: { validationAccuracy: 0.9156 }, test: { n: 867, testExamples: 867 } });
    // 17 of 867 fewer correct is within 0.02 x 867 = 17.34.
    expect(accuracyTargets(r).find((t) => t.target === 'spam: trained >= hplm - 0.02')?.met).toBe(true);
    const missed = buildAccuracyReport(withTrain, runWith(230 / 867, 212 / 867), { spam: bow(0.9), era: bow(0.65) }, meta, offline);
    expect(accuracyTargets(missed).find((t) => t.target === 'spam: trained >= hplm - 0.02')?.met).toBe(false);
    const md = accuracyMarkdown(r);
    expect(md).toContain('| task | domain | labels | examples (sample of test) | full | hPLM | trained | inherit | bag-of-words | hPLM - full |');
    expect(md).toContain('| spam | email | ham, spam | 100 of 800 | 0.970 | 0.965 | 0.950 | 0.900 | 0.900 | -0.005 |');
    expect(md).toContain('| era | politics | a, b | 100 of 900 | 0.600 | 0.580 |  | 0.500 | 0.650 | -0.020 |');
    expect(md).toContain('| spam | 3000 of 3000 (of 4000) | 800 of 800 | 2 / 4 / 32 / 0.002 | 188 | 1500 | 200 | 0.9000 / 0.9200 | 0.8960 / 0.9156 | 2 (0.9200) |');
    expect(md).toContain('| spam | 867 of 867 | 0.265 | 0.246 | -0.020 |');
    expect(accuracyText(r)).toContain('trained (tenants.train)');
    // Fewer examples than the offline adapter's: the target's value says so.
    const shrunk = buildAccuracyReport({ ...input, train: [{ ...train, data: train.data.slice(0, 64) }] }, runWith(0.9, 0.9), { spam: bow(0.9), era: bow(0.65) }, meta);
    expect(shrunk.tasks.spam.train?.sameData).toBe(false);
    expect(accuracyTargets(shrunk).find((t) => t.target === 'spam: trained >= hplm - 0.02')?.value).toMatch(/trained on 64 of the offline 3000 examples, so not the target's condition/);
    expect(accuracyMarkdown(shrunk)).toContain('only 64 of them');
  });

  it('refuses a run that lacks a task of the input', () => {
    expect(() => buildAccuracyReport(input, run, { spam: bow(0.9) }, { command: 'x', date: 'd', bundle: 'b' })).toThrow(/era: no bag-of-words result/);
  });
});
