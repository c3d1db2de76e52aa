import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticBundle } from '../../bench/accuracy/synthetic-bundle.js';
import type { AccuracyInput } from '../../bench/lib/accuracy-input.js';
import { runAccuracy, type AccuracyRun } from '../../bench/lib/accuracy.js';
import { nodeGpu } from '../../src/gpu/node.js';

const TASKS = [
  { task: 'spam', domain: 'email', labels: ['ham', 'spam'] },
  { task: 'era', domain: 'politics', labels: ['1790-1847', '1848-1906', '1907-1963', '1964-2021'] },
];
const MAILS = ['Subject: free prize\nclaim your free money now', 'Subject: meeting\nthe meeting moved to monday, agenda attached', 'Subject: offer\nwin cash today only'];
const SPEECHES = ['We hold these truths to be self-evident.', 'The state of the union is strong, and our nation endures.', 'Congress shall make appropriations for the common defense.'];

let dir: string;
let run: AccuracyRun;
const logs: string[] = [];

/** ids 0..n-1 cycling through the small synthetic vocabulary. */
const window = (seed: number, n: number): number[] => Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) % 200);

const input: AccuracyInput = {
  n: 3,
  tasks: [
    // A mail far over the 64 positions: classify must truncate it, not refuse it.
    { task: 'spam', domain: 'email', labels: TASKS[0].labels, testExamples: 10, texts: [...MAILS.slice(0, 2), `${MAILS[2]} ${'and more words '.repeat(40)}`], gold: ['spam', 'ham', 'spam'] },
    { task: 'era', domain: 'politics', labels: TASKS[1].labels, testExamples: 10, texts: SPEECHES, gold: ['1790-1847', '1964-2021', '1848-1906'] },
  ],
  // The trained column on spam: a tiny job, to check the plumbing (train, then the sample and the test sample).
  train: [
    {
      task: 'spam',
      domain: 'email',
      labels: TASKS[0].labels,
      rank: 2,
      epochs: 1,
      batchSize: 4,
      learningRate: 2e-3,
      weightDecay: 0.01,
      seed: 4,
      trainExamples: 8,
      offlineExamples: 6,
      data: [...MAILS, ...MAILS].map((text, i) => ({ text, label: i % 3 === 1 ? 'ham' : 'spam' })),
      validation: MAILS.slice(0, 2).map((text, i) => ({ text, label: i ? 'ham' : 'spam' })),
      validationExamples: 2,
      test: { testExamples: 10, texts: MAILS.slice(0, 2), gold: ['spam', 'ham'] },
    },
  ],
  generation: {
    windowTokens: 16,
    heldOut: { documents: 2, windowsAvailable: 5, windows: [window(1, 16), window(2, 16)] },
    style: [{ slug: 'abraham-lincoln', name: 'Abraham Lincoln', tenant: 'style-abraham-lincoln', documents: 1, windowsAvailable: 1, windows: [window(3, 16)] }],
  },
};

beforeAll(async () => {
  const gpu = await nodeGpu();
  dir = await mkdtemp(join(tmpdir(), 'hmi-accuracy-'));
  const shape = { hiddenSize: 32, numLayers: 4, numHeads: 2, intermediateSize: 48 };
  await writeSyntheticBundle(dir, {
    gpu,
    tasks: TASKS,
    styleSlugs: ['abraham-lincoln'],
    corpora: { email: MAILS, politics: SPEECHES },
    bert: { ...shape, maxPositions: 64 },
    gpt: { nEmbd: 32, nLayer: 4, nHead: 2, nPositions: 64, vocabSize: 300 },
  });
  run = await runAccuracy({ where: 'node', gpu: async () => gpu, bundle: dir, log: (m) => logs.push(m) }, input);
}, 900_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('accuracy benchmark, runtime half (synthetic bundle)', () => {
  it('scores every column of every task on the whole sample', () => {
    for (const t of input.tasks) {
      const r = run.tasks[t.task];
      expect(r).toMatchObject({ n: 3, labels: t.labels, domain: t.domain });
      for (const c of [r.full, r.hplm, r.inherit]) {
        expect(c.n).toBe(3);
        expect(c.correct).toBeGreaterThanOrEqual(0);
        expect(c.accuracy).toBeCloseTo(c.correct / 3, 12);
      }
      // The full column has no domain; the others read the domain's PLOT.
      expect(r.full.plotHitRate).toBeNull();
      expect(r.hplm.plotHitRate).toBeGreaterThan(0);
    }
  });

  it('trains the spam tenant in its domain and scores it beside the shipped one', () => {
    const t = run.tasks.spam.trained!;
    expect(t).toMatchObject({ tenant: 'spam-trained', examples: 6, validationExamples: 2, epochs: 1, steps: 2, bestEpoch: 1 });
    expect(t.history).toHaveLength(1);
    expect(t.validationAccuracy).not.toBeNull();
    expect(t.tokens).toBeGreaterThan(0);
    expect(t.sample.n).toBe(3);
    // A domain tenant: its column reads the PLOT.
    expect(t.sample.plotHitRate).toBeGreaterThan(0);
    expect(t.test.n).toBe(2);
    expect(t.test.hplm.n).toBe(2);
    expect(t.test.trained.n).toBe(2);
    expect(run.tasks.era.trained).toBeUndefined();
    expect(logs.some((m) => /^spam trained: 2 steps in/.test(m))).toBe(true);
  });

  it('scores every window token after the first, on both paths and per style tenant', () => {
    const g = run.generation;
    expect(g.domain).toBe('politics');
    for (const s of [g.full, g.hplm]) {
      expect(s.tokens).toBe(2 * 15);
      expect(s.perplexity).toBeCloseTo(Math.exp(-s.sumLogprob / s.tokens), 9);
      expect(Number.isFinite(s.perplexity) && s.perplexity > 1).toBe(true);
    }
    // The PLOT path is another computation of the lower layers (tri-gram windows + the domain's LoRA).
    expect(g.hplm.perplexity).not.toBe(g.full.perplexity);
    const style = g.style['abraham-lincoln'];
    expect(style.tenant).toBe('style-abraham-lincoln');
    expect(style.base.tokens).toBe(15);
    expect(style.tenantRun.tokens).toBe(15);
    expect(style.tenantRun.perplexity).not.toBe(style.base.perplexity);
  });

  it('reports progress as it goes', () => {
    expect(logs.some((m) => /^spam full: accuracy/.test(m))).toBe(true);
    expect(logs.some((m) => /^era inherit: accuracy .* PLOT hit rate/.test(m))).toBe(true);
    expect(logs.some((m) => /^held-out speeches, hplm \(politics\): perplexity/.test(m))).toBe(true);
  });
});
