import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { HmiRuntimeApi, LabelledExample, TrainProgress, TrainSpec } from '../../src/runtime/api.js';
import { createRuntime } from '../../src/create-runtime.js';
import { DEFAULT_SLICE_TOKENS } from '../../src/runtime/heads/training-head.js';
import type { BenchContext } from '../lib/context.js';
import { now, timed, type Sample } from '../lib/measure.js';
import { mulberry32, uniformInt } from '../lib/rng.js';
import type { Scenario } from '../lib/scenario.js';
import { tenantId } from '../lib/serving.js';
import type { Request } from '../lib/workload.js';
import { percentile } from './continuous-vs-static.js';

/** Synthetic tenants the steady load spreads over (balanced). */
export const TWS_TENANTS = 16;
/** Labelled synthetic texts of the training job (a tenth held out for validation, the runtime's default): 6 steps of 32. */
export const TWS_EXAMPLES = 192;
/** Optimizer steps of the alone reference job (aborted after them): its pace between steps 1 and this one. */
export const TWS_ALONE_STEPS = 3;
/** Passes of the job: one keeps the scenario short; more only make the window longer. */
export const TWS_EPOCHS = 1;
/** Offered load: this fraction of the runtime's burst throughput alone (measured at set-up). */
export const TWS_LOAD = 0.5;
/** Requests of an alone window. */
export const TWS_ALONE_REQUESTS = 300;
/** A training window ends when the job does, or after this many requests (the job is then aborted and counted unfinished). */
export const TWS_MAX_WINDOW_REQUESTS = 6000;
/** Interleaved rounds (the first slices of the run), each an alone window and a training window, in alternating order. */
export const TWS_ROUNDS = 2;

export const TWS_KEYS = { alone: 'tws:alone', training: 'tws:training' } as const;

/** Words of the synthetic texts: filler, and one pool per label (a text leans to its label's pool). */
const FILLER = 'the a to and of for on in with your we is this that it be at by our you will are as from have not all can more'.split(' ');
const POOLS: Readonly<Record<string, readonly string[]>> = {
  offer: 'offer free money win prize cash click deal save credit order limited bonus cheap price discount winner guaranteed'.split(' '),
  work: 'meeting project report team schedule review agenda draft notes budget monday plan update office question minutes thanks'.split(' '),
};

/** Labelled synthetic texts (8-28 words, about the serving workload's lengths): filler words, a third from the label's pool, a tenth from the other's. */
export function syntheticTrainingData(count: number, seed: number): LabelledExample[] {
  const rnd = mulberry32(seed);
  const labels = Object.keys(POOLS);
  return Array.from({ length: count }, (_, i) => {
    const label = labels[i % labels.length];
    const other = labels[(i + 1) % labels.length];
    const words = Array.from({ length: 8 + uniformInt(21, rnd) }, () => {
      const x = rnd();
      const pool = x < 0.3 ? POOLS[label] : x < 0.4 ? POOLS[other] : FILLER;
      return pool[uniformInt(pool.length, rnd)];
    });
    return { text: words.join(' '), label };
  });
}

interface Setup {
  readonly rt: HmiRuntimeApi;
  readonly requests: readonly Request[];
  readonly data: readonly LabelledExample[];
  /** Offered arrival rate, requests per second. */
  readonly rate: number;
  /** The set-up's burst alone: requests/s and tokens/s. */
  readonly burst: { readonly rps: number; readonly tokensPerSecond: number };
  /**
   * The windows' job alone (no serving load, after an untimed warm-up job), aborted after
   * TWS_ALONE_STEPS steps: its pace between its first and last step (no set-up, validation or
   * storing), the training tokens of a step, and the job's steps.
   */
  readonly alone: { readonly pace: number | null; readonly stepTokens: number; readonly steps: number };
}

/** A job's progress marks: elapsed ms and training tokens after each optimizer step. */
type Marks = { ms: number; tokens: number }[];

const mark = (marks: Marks, p: TrainProgress): void => {
  if (p.phase === 'train') marks.push({ ms: p.elapsedMs, tokens: (p.tokensPerSecond * p.elapsedMs) / 1000 });
};

/** Training tokens per second between the first and the last step mark; null with fewer than two. */
function pace(marks: Marks): number | null {
  const first = marks[0];
  const last = marks[marks.length - 1];
  return first && last && last.ms > first.ms && last.tokens > first.tokens ? (1000 * (last.tokens - first.tokens)) / (last.ms - first.ms) : null;
}

interface JobRecord {
  readonly finished: boolean;
  /** Optimizer steps done when the window ended, of `steps`. */
  readonly stepsDone: number;
  readonly steps: number;
  /** Training tokens/s of the job (TrainResult, or the last progress report when unfinished), and its pace between steps. */
  readonly tokensPerSecond: number;
  readonly pace: number | null;
  readonly seconds: number;
  readonly bestValidation: number | null;
  /** Training and validation examples (TrainResult; null when unfinished). */
  readonly examples: number | null;
  readonly validationExamples: number | null;
}

interface State {
  readonly latencies: { alone: number[]; training: number[] };
  readonly jobs: JobRecord[];
}

const states = new WeakMap<BenchContext, State>();

function spec(c: BenchContext, id: string, data: readonly LabelledExample[], signal?: AbortSignal): TrainSpec {
  return {
    id,
    data,
    epochs: TWS_EPOCHS,
    ...(c.opts.trainBatchTokens !== null ? { batchTokens: c.opts.trainBatchTokens } : {}),
    ...(signal ? { signal } : {}),
  };
}

/**
 * An hBERT runtime of its own (the bench model, its tokenizer) with TWS_TENANTS synthetic
 * tenants, warmed; the offered rate from a burst alone; the training job's pipelines compiled
 * by a small untimed job, then the windows' job timed alone.
 */
function setup(c: BenchContext): Promise<Setup> {
  return c.shared(
    'serving:train-while-serving',
    async () => {
      const t0 = Date.now();
      const rt = await createRuntime({ gpu: await c.env.gpu(), model: c.env.bertModel, tokenBudget: c.opts.tokenBudget, maxQueue: Math.max(4096, TWS_MAX_WINDOW_REQUESTS), store: new MemoryTenantStore() });
      await rt.tenants.addSynthetic({ count: TWS_TENANTS });
      const requests = await c.workload(TWS_TENANTS);
      await Promise.all(requests.slice(0, 64).map((r) => rt.classify(tenantId(r.tenant), r.ids)));
      const burstReqs = requests.slice(0, 200);
      const burst = await timed(async () => {
        await Promise.all(burstReqs.map((r) => rt.classify(tenantId(r.tenant), r.ids)));
        return { requests: burstReqs.length, tokens: burstReqs.reduce((n, r) => n + r.ids.length, 0) };
      });
      const data = syntheticTrainingData(TWS_EXAMPLES, c.opts.seed + 31);
      // Untimed: every training and validation pipeline compiled.
      await rt.tenants.train({ ...spec(c, 'tws-warm', data.slice(0, 16)), validation: data.slice(16, 24) });
      const marks: Marks = [];
      const stop = new AbortController();
      let steps = 0;
      await rt.tenants
        .train(spec(c, 'tws-alone', data, stop.signal), (p) => {
          mark(marks, p);
          steps = p.steps;
          if (p.phase === 'train' && p.step >= TWS_ALONE_STEPS) stop.abort();
        })
        .catch((e: unknown) => {
          if (!stop.signal.aborted) throw e;
        });
      const alone = { pace: pace(marks), stepTokens: marks.length ? marks[marks.length - 1].tokens / marks.length : 0, steps };
      const rate = (TWS_LOAD * burst.requests) / burst.seconds;
      c.env.log(
        `trainWhileServing: hBERT runtime, ${TWS_TENANTS} tenants; burst alone ${(burst.requests / burst.seconds).toFixed(1)} req/s, offered ${rate.toFixed(1)} req/s; ` +
          `training alone ${alone.pace?.toFixed(0) ?? 'n/a'} tok/s between its steps, ~${alone.stepTokens.toFixed(0)} tokens a step (set-up ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
      );
      return { rt, requests, data, rate, burst: { rps: burst.requests / burst.seconds, tokensPerSecond: burst.tokens / burst.seconds }, alone };
    },
    (s) => s.rt.dispose(),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Open-loop steady load: request k arrives at t0 + k / rate (whatever the answers), cycling
 * through `requests`, until at least `min` have arrived and `more()` says stop, or `max` have.
 * Latency = answer time - scheduled arrival (a late event loop counts against the runtime).
 */
async function steadyLoad(s: Setup, offset: number, min: number, max: number, more: () => boolean, out: number[]): Promise<Sample> {
  const t0 = now();
  const pending: Promise<void>[] = [];
  let k = 0;
  let tokens = 0;
  while (k < max && (k < min || more())) {
    const due = t0 + (k * 1000) / s.rate;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    const r = s.requests[(offset + k) % s.requests.length];
    pending.push(
      s.rt.classify(tenantId(r.tenant), r.ids).then(() => {
        out.push(now() - due);
      }),
    );
    tokens += r.ids.length;
    k++;
  }
  await Promise.all(pending);
  return { seconds: (now() - t0) / 1000, requests: k, tokens };
}

async function aloneWindow(c: BenchContext, s: Setup, st: State): Promise<string> {
  let line = '';
  await c.m.sample(TWS_KEYS.alone, async () => {
    const lat: number[] = [];
    const sample = await steadyLoad(s, c.slice * TWS_ALONE_REQUESTS, TWS_ALONE_REQUESTS, TWS_ALONE_REQUESTS, () => false, lat);
    st.latencies.alone.push(...lat);
    line = `alone ${sample.requests} requests in ${sample.seconds.toFixed(1)} s, p50 ${percentile(lat, 50)?.toFixed(0)} ms, p99 ${percentile(lat, 99)?.toFixed(0)} ms`;
    return sample;
  });
  return line;
}

async function trainingWindow(c: BenchContext, s: Setup, st: State): Promise<string> {
  let line = '';
  await c.m.sample(TWS_KEYS.training, async () => {
    const lat: number[] = [];
    const abort = new AbortController();
    let last: TrainProgress | null = null;
    let done = false;
    const marks: Marks = [];
    const started = now();
    const job = s.rt.tenants.train(spec(c, `tws-trained-${c.slice}`, s.data, abort.signal), (p) => {
      if (p.phase === 'train' && !done) {
        last = p;
        mark(marks, p);
      }
    });
    const settled = job.then(
      (r) => {
        done = true;
        return r;
      },
      (e: unknown) => {
        done = true;
        if (abort.signal.aborted) return null;
        throw e;
      },
    );
    const sample = await steadyLoad(s, c.slice * TWS_ALONE_REQUESTS + 500, 0, TWS_MAX_WINDOW_REQUESTS, () => !done, lat);
    const progress = last as TrainProgress | null;
    const stepsDone = progress?.step ?? 0;
    if (!done) abort.abort();
    const result = await settled;
    // The same job as the set-up's alone one: as many steps, whether or not it reported any here.
    const steps = result?.steps ?? progress?.steps ?? s.alone.steps;
    st.jobs.push({
      finished: result !== null,
      stepsDone: result !== null ? result.steps : stepsDone,
      steps,
      tokensPerSecond: result?.tokensPerSecond ?? progress?.tokensPerSecond ?? 0,
      pace: pace(marks),
      seconds: result?.seconds ?? (now() - started) / 1000,
      bestValidation: result?.validation?.value ?? null,
      examples: result?.examples ?? null,
      validationExamples: result?.validationExamples ?? null,
    });
    st.latencies.training.push(...lat);
    const j = st.jobs[st.jobs.length - 1];
    line = `with training ${sample.requests} requests in ${sample.seconds.toFixed(1)} s, p50 ${percentile(lat, 50)?.toFixed(0)} ms, p99 ${percentile(lat, 99)?.toFixed(0)} ms; job ${j.finished ? 'finished' : 'NOT finished'}, ${j.stepsDone}/${j.steps} steps, ${j.tokensPerSecond.toFixed(0)} tok/s (${j.pace?.toFixed(0) ?? 'n/a'} between steps)`;
    return sample;
  });
  return line;
}

/**
 * The issue's "with one training job running, serving p99 stays within 2x of serving alone":
 * a steady open-loop classify load (TWS_LOAD of the burst throughput alone, TWS_TENANTS
 * synthetic tenants) on an hBERT runtime, alone and while one `tenants.train` job (synthetic
 * labelled texts) runs on the same runtime, side by side in each round, order alternating.
 */
export const trainWhileServing: Scenario = {
  name: 'trainWhileServing',
  async run(c) {
    if (c.slice >= TWS_ROUNDS) return;
    const s = await setup(c);
    const st = states.get(c) ?? { latencies: { alone: [], training: [] }, jobs: [] };
    states.set(c, st);
    const lines: string[] = [];
    if (c.slice % 2 === 0) lines.push(await aloneWindow(c, s, st), await trainingWindow(c, s, st));
    else lines.push(await trainingWindow(c, s, st), await aloneWindow(c, s, st));
    c.env.log(`trainWhileServing round ${c.slice + 1}: ${lines.join('; ')}`);
  },
  async report(c) {
    const st = states.get(c);
    if (!st) return;
    const s = await setup(c);
    const p = (xs: number[], q: number): number | null => percentile(xs, q);
    const [a50, a99, t50, t99] = [p(st.latencies.alone, 50), p(st.latencies.alone, 99), p(st.latencies.training, 50), p(st.latencies.training, 99)];
    const ratio = (x: number | null, y: number | null): number | null => (x !== null && y !== null && y > 0 ? x / y : null);
    const jobs = st.jobs;
    const mean = (xs: readonly (number | null)[]): number | null => {
      const v = xs.filter((x): x is number => x !== null);
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
    };
    const done = jobs.find((j) => j.examples !== null);
    // Slice cost, from the alone pace: a step's tokens cut into slices of about `rows` (TrainSpec.batchTokens; an hBERT slice
    // is raised to the longest example, which in this workload is below the default).
    const batchTokens = c.opts.trainBatchTokens ?? DEFAULT_SLICE_TOKENS;
    const rows = batchTokens;
    const stepTokens = s.alone.stepTokens;
    const slicesPerStep = Math.max(1, Math.ceil(stepTokens / rows));
    const sliceTokens = stepTokens / slicesPerStep;
    const msPerToken = s.alone.pace ? 1000 / s.alone.pace : null;
    const r = {
      p99: ratio(t99, a99),
      p50: ratio(t50, a50),
      throughput: c.m.ratio(TWS_KEYS.training, TWS_KEYS.alone),
      aloneP50Ms: a50,
      aloneP99Ms: a99,
      trainingP50Ms: t50,
      trainingP99Ms: t99,
      requests: { alone: st.latencies.alone.length, training: st.latencies.training.length },
      offeredRps: s.rate,
      burstRps: s.burst.rps,
      jobs: jobs.length,
      finished: jobs.filter((j) => j.finished).length,
      stepsDone: jobs.map((j) => j.stepsDone),
      steps: jobs.map((j) => j.steps),
      trainTokensPerSecond: mean(jobs.map((j) => j.tokensPerSecond)),
      trainPaceTokensPerSecond: mean(jobs.map((j) => j.pace)),
      trainAlonePaceTokensPerSecond: s.alone.pace,
      trainSeconds: jobs.map((j) => j.seconds),
      examples: done?.examples ?? null,
      validationExamples: done?.validationExamples ?? null,
      epochs: TWS_EPOCHS,
      batchTokens,
      sliceTokens,
      sliceMs: msPerToken === null ? null : sliceTokens * msPerToken,
      stepMs: msPerToken === null ? null : stepTokens * msPerToken,
      servingBatchMs: s.burst.tokensPerSecond > 0 ? (1000 * c.opts.tokenBudget) / s.burst.tokensPerSecond : null,
    };
    c.results.trainWhileServing = r;
    const ms = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(0)} ms`);
    const tps = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(0)} tok/s`);
    c.results.notes.push(
      `trainWhileServing: an hBERT runtime of its own with ${TWS_TENANTS} synthetic tenants; a steady open-loop classify load (the workload's texts, balanced over the tenants; request k arrives at k / rate, latency from its scheduled arrival to its answer) at ${TWS_LOAD} x the runtime's burst throughput alone (${s.burst.rps.toFixed(1)} req/s at set-up, so ${s.rate.toFixed(1)} req/s offered). ` +
        `Alone: ${TWS_ALONE_REQUESTS} requests per round. With training: the same load while one \`runtime.tenants.train\` job runs, from its start until it ends (at most ${TWS_MAX_WINDOW_REQUESTS} requests, then aborted and counted unfinished): ${TWS_EXAMPLES} labelled synthetic texts of 8-28 words, two labels${r.validationExamples === null ? '' : ` (${r.validationExamples} held out for validation)`}, ${TWS_EPOCHS} epoch, no domain (every layer trains), batchTokens ${batchTokens}${c.opts.trainBatchTokens === null ? " (the runtime's default)" : ''}, the runtime's defaults otherwise (rank 8, batch 32). ${TWS_ROUNDS} rounds, order alternating; percentiles over all rounds' requests (nearest rank). ` +
        `Alone p50 / p99 ${ms(a50)} / ${ms(a99)}, with training ${ms(t50)} / ${ms(t99)}. Jobs finished: ${r.finished} of ${r.jobs}, steps ${jobs.map((j) => `${j.stepsDone}/${j.steps}`).join(', ')}, in ${jobs.map((j) => `${j.seconds.toFixed(1)} s`).join(', ')}; ${tps(r.trainTokensPerSecond)} per job, ${tps(r.trainPaceTokensPerSecond)} between its steps. ` +
        `Training alone (the same job on the idle runtime after an untimed warm-up job, stopped after ${TWS_ALONE_STEPS} steps): ${tps(s.alone.pace)} between its steps, a step of ~${stepTokens.toFixed(0)} tokens ~${ms(r.stepMs)}, in ${slicesPerStep} slice(s) of at most ${rows} rows, so ~${ms(r.sliceMs)} per slice of ~${sliceTokens.toFixed(0)} tokens (the runtime may submit a slice in parts, a turn before each); a full serving batch of ${c.opts.tokenBudget} tokens ~${ms(r.servingBatchMs)} at the set-up burst's rate.`,
    );
  },
};
