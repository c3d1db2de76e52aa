/**
 * What the accuracy benchmark (`npm run bench -- accuracy`) evaluates, built on the Node side
 * from training/data.mjs (test splits only) and handed to the page (or run in Node) as JSON.
 * The data module is plain JS: its shapes are declared here, as much of them as is read.
 */

/** One example of a task of training/data.mjs `classificationTasks()`. */
export interface DataExample {
  readonly text: string;
  readonly label: string;
  readonly split: string;
  readonly doc: string;
}

export interface DataTask {
  readonly task: string;
  readonly domain: string;
  readonly labels: readonly string[];
  readonly examples: readonly DataExample[];
}

/** A speech of training/data.mjs `loadSpeeches()`. */
export interface DataSpeech {
  readonly id: string;
  readonly year: number;
  readonly name: string;
  readonly slug: string;
  readonly split: string;
  readonly text: string;
}

export interface DataPresident {
  readonly slug: string;
  readonly name: string;
  readonly speeches: readonly DataSpeech[];
}

/** The part of training/data.mjs the benchmark uses (scripts/bench.mjs passes the module). */
export interface AccuracyDataModule {
  loadAll(): { readonly speeches: readonly DataSpeech[] } & Record<string, unknown>;
  classificationTasks(data: { readonly speeches: readonly DataSpeech[] } & Record<string, unknown>): readonly DataTask[];
  stylePresidents(speeches: readonly DataSpeech[]): readonly DataPresident[];
  evenSample<T>(list: readonly T[], n: number): T[];
}

/** The part of training/shapes.mjs the benchmark uses. */
export interface AccuracyShapesModule {
  readonly BERT_MAX_POSITIONS: number;
  readonly GPT_MAX_POSITIONS: number;
  truncateIds(ids: readonly number[], max: number, sep?: number): number[];
}

/** One hBERT task's sample of its test split. */
export interface AccuracyTaskInput {
  readonly task: string;
  readonly domain: string;
  readonly labels: readonly string[];
  /** Test examples of the task before sampling. */
  readonly testExamples: number;
  readonly texts: readonly string[];
  /** Gold label (name) of each text. */
  readonly gold: readonly string[];
}

/** Token windows of held-out text, scored by the hGPT runtime. */
export interface ScoreText {
  /** Test-split documents the windows were cut from. */
  readonly documents: number;
  /** Windows the documents gave before sampling. */
  readonly windowsAvailable: number;
  readonly windows: readonly (readonly number[])[];
}

export interface AccuracyStyleInput extends ScoreText {
  readonly slug: string;
  readonly name: string;
  /** The style tenant's id (index.json). */
  readonly tenant: string;
}

/** One task of bench/accuracy/offline-subsets.json (training/py/offline_subset.py): what `train.py task` trained on. */
export interface OfflineSubset {
  /** Examples of the task's train split (the indices point into them, in classificationTasks() order). */
  readonly trainExamples: number;
  readonly seed: number;
  readonly maxTrain: number;
  readonly epochs: number;
  readonly batch: number;
  readonly lr: number;
  readonly rank: number;
  readonly indices: readonly number[];
}

export interface OfflineSubsets {
  readonly tasks: Readonly<Record<string, OfflineSubset>>;
}

/** A labelled text handed to `tenants.train`. */
export interface TrainExample {
  readonly text: string;
  readonly label: string;
}

/**
 * The `trained` column of a task: `runtime.tenants.train` on the offline adapter's data and
 * hyper-parameters, in the task's domain, then the shipped tenant and the trained one on a
 * larger test sample (the target's).
 */
export interface AccuracyTrainInput {
  readonly task: string;
  readonly domain: string;
  readonly labels: readonly string[];
  /** The offline run's (offline-subsets.json); alpha = 2 x rank and weight decay 0.01, as train.py. */
  readonly rank: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly seed: number;
  /** The train split's size and how many of it the offline script drew. */
  readonly trainExamples: number;
  readonly offlineExamples: number;
  /** The offline script's examples (all of them unless --accuracy-train-n kept fewer, spread evenly). */
  readonly data: readonly TrainExample[];
  /** The validation split as train.py takes it (every max(1, floor(len / 1500))-th example), fewer with --accuracy-train-n. */
  readonly validation: readonly TrainExample[];
  /** Validation examples train.py used (before --accuracy-train-n). */
  readonly validationExamples: number;
  /** The larger test sample (--accuracy-train-test-n; default the whole test split). */
  readonly test: { readonly testExamples: number; readonly texts: readonly string[]; readonly gold: readonly string[] };
}

export interface AccuracyInput {
  /** Upper bound on examples per task (--accuracy-n). */
  readonly n: number;
  readonly tasks: readonly AccuracyTaskInput[];
  /** Tasks of the `trained` column (none with --accuracy-train=0). */
  readonly train?: readonly AccuracyTrainInput[];
  readonly generation: {
    /** Tokens per window (the hGPT position table). */
    readonly windowTokens: number;
    /** Every president's test speeches. */
    readonly heldOut: ScoreText;
    readonly style: readonly AccuracyStyleInput[];
  };
}

export interface AccuracySizes {
  /** Examples per task, at most. */
  readonly n: number;
  /** Train the `trained` column (--accuracy-train=0 skips it: it is the long part). */
  readonly train: boolean;
  /** Train on at most this many of the offline examples and validate on at most as many (a plumbing check); null = all. */
  readonly trainN: number | null;
  /** Test examples of the trained-vs-shipped comparison, at most (default: the whole test split). */
  readonly trainTestN: number;
  /** Windows of held-out politics text for the full / hPLM perplexity. */
  readonly windows: number;
  /** Windows per president for the style tenants. */
  readonly styleWindows: number;
}

export const DEFAULT_ACCURACY_SIZES: AccuracySizes = { n: 400, train: true, trainN: null, trainTestN: Number.MAX_SAFE_INTEGER, windows: 32, styleWindows: 8 };

/** train.py's validation: `by['validation'][:: max(1, len // 1500)]`. */
export function offlineValidation<T>(list: readonly T[]): T[] {
  const step = Math.max(1, Math.floor(list.length / 1500));
  return list.filter((_, i) => i % step === 0);
}

/**
 * The `trained` column's input of every task offline-subsets.json lists: its train-split
 * examples at the offline indices, its validation as train.py took it, a test sample of at most
 * `sizes.trainTestN`. With `sizes.trainN`, at most that many train and validation examples,
 * spread evenly (a plumbing check, not the target's condition).
 */
export function buildTrainInputs(data: AccuracyDataModule, tasks: readonly DataTask[], subsets: OfflineSubsets, sizes: Pick<AccuracySizes, 'trainN' | 'trainTestN'>): AccuracyTrainInput[] {
  const out: AccuracyTrainInput[] = [];
  for (const [task, sub] of Object.entries(subsets.tasks)) {
    const t = tasks.find((x) => x.task === task);
    if (!t) throw new Error(`offline-subsets.json names task "${task}", which training/data.mjs classificationTasks() does not have`);
    const split = (name: string): TrainExample[] => t.examples.filter((e) => e.split === name).map((e) => ({ text: e.text, label: e.label }));
    const train = split('train');
    if (train.length !== sub.trainExamples) throw new Error(`task ${task}: the train split has ${train.length} examples, offline-subsets.json was written for ${sub.trainExamples}; remake it (training/py/offline_subset.py)`);
    const picked = sub.indices.map((i) => {
      if (!Number.isInteger(i) || i < 0 || i >= train.length) throw new Error(`task ${task}: offline index ${i} is outside the train split (${train.length})`);
      return train[i];
    });
    const validation = offlineValidation(split('validation'));
    const limit = <T>(list: readonly T[]): T[] => (sizes.trainN === null ? [...list] : data.evenSample(list, sizes.trainN));
    const test = data.evenSample(
      t.examples.filter((e) => e.split === 'test'),
      sizes.trainTestN,
    );
    out.push({
      task,
      domain: t.domain,
      labels: [...t.labels],
      rank: sub.rank,
      epochs: sub.epochs,
      batchSize: sub.batch,
      learningRate: sub.lr,
      weightDecay: 0.01,
      seed: sub.seed,
      trainExamples: train.length,
      offlineExamples: picked.length,
      data: limit(picked),
      validation: limit(validation),
      validationExamples: validation.length,
      test: { testExamples: t.examples.filter((e) => e.split === 'test').length, texts: test.map((e) => e.text), gold: test.map((e) => e.label) },
    });
  }
  return out;
}

/** Test examples of a task, then at most n of them spread evenly (training/data.mjs evenSample). */
export function sampleTask(data: AccuracyDataModule, task: DataTask, n: number): AccuracyTaskInput {
  const test = task.examples.filter((e) => e.split === 'test');
  const sample = data.evenSample(test, n);
  return {
    task: task.task,
    domain: task.domain,
    labels: [...task.labels],
    testExamples: test.length,
    texts: sample.map((e) => e.text),
    gold: sample.map((e) => e.label),
  };
}

/**
 * Documents' ids joined as training joins them (each followed by end-of-text), cut into
 * consecutive windows of `length` ids; the tail shorter than a window is dropped.
 */
export function cutWindows(docs: readonly (readonly number[])[], eos: number, length: number): number[][] {
  const stream: number[] = [];
  for (const d of docs) {
    for (const id of d) stream.push(id);
    stream.push(eos);
  }
  const out: number[][] = [];
  for (let at = 0; at + length <= stream.length; at += length) out.push(stream.slice(at, at + length));
  return out;
}

function scoreText(data: AccuracyDataModule, docs: readonly (readonly number[])[], eos: number, length: number, max: number): ScoreText {
  const all = cutWindows(docs, eos, length);
  return { documents: docs.length, windowsAvailable: all.length, windows: data.evenSample(all, max) };
}

/** A style tenant of the bundle: its id and the president's slug it was trained on. */
export interface StyleTenant {
  readonly tenant: string;
  readonly slug: string;
}

/**
 * The whole input (`loaded`: training/data.mjs loadSpeeches() and classificationTasks()): each task's test sample, the held-out politics windows and each style
 * tenant's president's test windows. `encodeGpt` is the hGPT tokenizer of the bundle (no
 * specials added), `eos` its end-of-text id.
 */
export function buildAccuracyInput(
  data: AccuracyDataModule,
  loaded: { readonly speeches: readonly DataSpeech[]; readonly tasks: readonly DataTask[] },
  sizes: Pick<AccuracySizes, 'n' | 'windows' | 'styleWindows'>,
  gpt: { readonly encode: (text: string) => number[]; readonly eos: number; readonly maxPositions: number },
  styleTenants: readonly StyleTenant[],
): AccuracyInput {
  const tasks = loaded.tasks.map((t) => sampleTask(data, t, sizes.n));
  const testSpeeches = loaded.speeches.filter((s) => s.split === 'test');
  const cache = new Map<string, number[]>();
  const ids = (s: DataSpeech): number[] => {
    let hit = cache.get(s.id);
    if (!hit) cache.set(s.id, (hit = gpt.encode(s.text)));
    return hit;
  };
  const presidents = new Map(data.stylePresidents(loaded.speeches).map((p) => [p.slug, p]));
  const style = styleTenants.map(({ tenant, slug }): AccuracyStyleInput => {
    const p = presidents.get(slug);
    if (!p) throw new Error(`style tenant ${tenant}: no president "${slug}" among training/data.mjs stylePresidents()`);
    const docs = p.speeches.filter((s) => s.split === 'test').map(ids);
    return { slug, name: p.name, tenant, ...scoreText(data, docs, gpt.eos, gpt.maxPositions, sizes.styleWindows) };
  });
  return {
    n: sizes.n,
    tasks,
    generation: {
      windowTokens: gpt.maxPositions,
      heldOut: scoreText(data, testSpeeches.map(ids), gpt.eos, gpt.maxPositions, sizes.windows),
      style,
    },
  };
}
