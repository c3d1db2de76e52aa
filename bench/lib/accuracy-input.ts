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

export interface AccuracyInput {
  /** Upper bound on examples per task (--accuracy-n). */
  readonly n: number;
  readonly tasks: readonly AccuracyTaskInput[];
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
  /** Windows of held-out politics text for the full / hPLM perplexity. */
  readonly windows: number;
  /** Windows per president for the style tenants. */
  readonly styleWindows: number;
}

export const DEFAULT_ACCURACY_SIZES: AccuracySizes = { n: 400, windows: 32, styleWindows: 8 };

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
  sizes: AccuracySizes,
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
