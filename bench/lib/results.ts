/** The shape of bench/results/latest.json (issue 8) and the summary rows printed from it. */

export type Ratio = number | null;

export interface MatmulRow {
  readonly shape: string;
  readonly variant: string;
  readonly gflops: number;
  readonly tfjsGflops: number;
  readonly autotuned?: boolean;
}

/** Absolute figures behind the ratios, by measurement key (e.g. "ours:classify:1000"). */
export interface Throughput {
  readonly requestsPerSecond: number;
  readonly tokensPerSecond: number;
  readonly requests: number;
  readonly seconds: number;
}

/** continuousVsStatic (issue 6): both ratios read higher = better for continuous batching. */
export interface ContinuousVsStatic {
  /** Continuous tokens/s / static tokens/s. */
  readonly throughput: Ratio;
  /** Static p99 latency / continuous p99 latency. */
  readonly p99: Ratio;
  readonly continuousP99Ms: number | null;
  readonly staticP99Ms: number | null;
  readonly continuousP50Ms: number | null;
  readonly staticP50Ms: number | null;
}

/** One grid point of plotStorage (issue 5): sizes of a parent node and its domains' PLOT tables. */
export interface PlotStorageRow {
  readonly domains: number;
  readonly corpusLines: number;
  /** Per-domain budget (the parent's is fixed). */
  readonly budgetEntries: number;
  /** After building every domain, or after a rebuild() of the subtree. */
  readonly stage: 'build' | 'rebuild';
  /** Distinct tri-grams of the domains' corpus slices, summed. */
  readonly distinct: number;
  readonly entries: number;
  /** In-memory table bytes (DomainInfo.bytes). */
  readonly bytes: number;
  /** Bytes the PlotStore persisted (index + chunks). */
  readonly storedBytes: number;
  readonly nodes: readonly { id: string; entries: number; budgetEntries: number; bytes: number; storedBytes: number }[];
}

/** plotInherit (issue 5): policy inherit against exact at a domain with its own lower layers. */
export interface PlotInherit {
  /** Throughput inherit / exact, same requests (the domain has no PLOT of its own). */
  readonly speedup: Ratio;
  /** runtime.domains.deviation: split-layer states, inherit vs exact. */
  readonly meanCosine: number | null;
  readonly maxAbsDiff: number | null;
  readonly rows: number;
  readonly inheritedRows: number;
  readonly inheritHitRate: number | null;
  readonly exactHitRate: number | null;
}

/** trainWhileServing: a steady classify load alone vs while one tenants.train job runs on the same runtime. */
export interface TrainWhileServing {
  /** p99 latency with the training job / alone (lower is better; the issue's target <= 2). */
  readonly p99: Ratio;
  readonly p50: Ratio;
  /** Served requests/s with training / alone (the same offered rate, so near 1 unless serving falls behind). */
  readonly throughput: Ratio;
  readonly aloneP50Ms: number | null;
  readonly aloneP99Ms: number | null;
  readonly trainingP50Ms: number | null;
  readonly trainingP99Ms: number | null;
  /** Requests whose latency was measured, per condition. */
  readonly requests: { readonly alone: number; readonly training: number };
  /** Offered arrival rate (requests/s) and the burst throughput alone it is a fraction of. */
  readonly offeredRps: number;
  readonly burstRps: number;
  /** Training jobs run under load (one per round) and how many finished inside their window. */
  readonly jobs: number;
  readonly finished: number;
  /** Per job: optimizer steps done by the end of its window, of `steps`. */
  readonly stepsDone: readonly number[];
  readonly steps: readonly number[];
  /** Training tokens/s while serving (mean over jobs: whole job, and between its first and last step) and alone (between steps). */
  readonly trainTokensPerSecond: number | null;
  readonly trainPaceTokensPerSecond: number | null;
  readonly trainAlonePaceTokensPerSecond: number | null;
  readonly trainSeconds: readonly number[];
  /** Training and validation examples of a finished job (null when none finished). */
  readonly examples: number | null;
  readonly validationExamples: number | null;
  readonly epochs: number;
  /** TrainSpec.batchTokens in effect (the runtime's default unless --train-batch-tokens). */
  readonly batchTokens: number;
  /** Estimated time of one training slice and step (the alone job's pace between steps) and of one full serving batch (the burst's rate). */
  readonly sliceTokens: number;
  readonly sliceMs: number | null;
  readonly stepMs: number | null;
  readonly servingBatchMs: number | null;
}

export interface BenchResults {
  adapter: string;
  machine: { where: string; cpus: number | null; platform: string; date: string; command: string };
  config: Record<string, unknown>;
  multiTenantOverhead: { classify: Record<string, Ratio>; generate: Record<string, Ratio> | null };
  vsSequential: Record<string, Ratio>;
  vsMergedSwap: Record<string, Ratio>;
  vsTfjs: { hbert: Ratio; hgpt: Ratio };
  plotSpeedup: { warm: Ratio; cold: Ratio };
  plotInherit: PlotInherit | null;
  /** Generated tokens/s, 64 requests of 64 tenants / the same 64 on one typical tenant. */
  generate64: Ratio;
  continuousVsStatic: ContinuousVsStatic | null;
  trainWhileServing: TrainWhileServing | null;
  plotStorage: PlotStorageRow[] | null;
  /** Throughput with adapters cold in the store / all resident. */
  prefetchHidden: Ratio;
  /** The runtime's own metric: fraction of store read + upload time overlapped with GPU work. */
  prefetchHiddenFraction: Ratio;
  memoryPerTenant: { bytes: number | null; ratioToFullModel: Ratio; fullModelBytes: number | null; residentTenants: number | null };
  matmul: MatmulRow[] | null;
  throughput: Record<string, Throughput>;
  /** Per runtime: metrics() after the run (hit rate, bytes uploaded, prefetch). */
  runtimes: Record<string, Record<string, number>>;
  /** Wall seconds each scenario took, set-up and untimed warm-ups included. */
  scenarioSeconds: Record<string, number>;
  notes: string[];
}

export function emptyResults(): BenchResults {
  return {
    adapter: 'unknown',
    machine: { where: 'unknown', cpus: null, platform: 'unknown', date: new Date().toISOString(), command: '' },
    config: {},
    multiTenantOverhead: { classify: {}, generate: null },
    vsSequential: {},
    vsMergedSwap: {},
    vsTfjs: { hbert: null, hgpt: null },
    plotSpeedup: { warm: null, cold: null },
    plotInherit: null,
    generate64: null,
    continuousVsStatic: null,
    trainWhileServing: null,
    plotStorage: null,
    prefetchHidden: null,
    prefetchHiddenFraction: null,
    memoryPerTenant: { bytes: null, ratioToFullModel: null, fullModelBytes: null, residentTenants: null },
    matmul: null,
    throughput: {},
    runtimes: {},
    scenarioSeconds: {},
    notes: [],
  };
}

export interface SummaryRow {
  readonly figure: string;
  readonly value: Ratio;
  /** Target as text, e.g. ">= 0.80"; empty when the issues set none. */
  readonly target: string;
  readonly targetValue: number | null;
  /** True/false when a target exists and the value was measured. */
  readonly met: boolean | null;
  readonly meaning: string;
  /** The absolute figures the ratio comes from. */
  readonly absolute: string;
}

const rps = (r: BenchResults, key: string): string => {
  const t = r.throughput[key];
  return t ? `${t.requestsPerSecond.toFixed(1)} req/s` : 'n/a';
};

function row(figure: string, value: Ratio, min: number | null, meaning: string, absolute: string, lowerIsBetter = false): SummaryRow {
  const target = min === null ? '' : `${lowerIsBetter ? '<=' : '>='} ${min}`;
  const met = min === null || value === null ? null : lowerIsBetter ? value <= min : value >= min;
  return { figure, value, target, targetValue: min, met, meaning, absolute };
}

/** One row per figure, in the issue's order; unmeasured figures are rows with a null value. */
export function summaryRows(r: BenchResults): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const mto = r.multiTenantOverhead.classify;
  const mtoTargets: Record<string, number> = { '1000': 0.9, '10000': 0.8, '100000': 0.7 };
  for (const n of Object.keys(mto)) {
    rows.push(
      row(
        `multiTenantOverhead.classify ${n}`,
        mto[n],
        mtoTargets[n] ?? null,
        `throughput with ${n} distinct tenants / with 1 tenant, same requests${Number(n) >= 10000 ? ', pool holds 10% of tenants' : ''}`,
        `${rps(r, `ours:${n}`)} vs ${rps(r, 'ours:1')}`,
      ),
    );
  }
  const gen = r.multiTenantOverhead.generate;
  if (gen && Object.keys(gen).length) {
    const tps = (key: string): string => (r.throughput[key] ? `${r.throughput[key].tokensPerSecond.toFixed(1)} tok/s` : 'n/a');
    for (const n of Object.keys(gen)) {
      rows.push(row(`multiTenantOverhead.generate ${n}`, gen[n], mtoTargets[n] ?? null, `generated tokens/s with ${n} distinct tenants / with 1 tenant (hGPT, continuous batching)`, `${tps(`generate:${n}`)} vs ${tps('generate:1')}`));
    }
  } else rows.push(row('multiTenantOverhead.generate', null, 0.8, 'generation throughput, N tenants / 1 tenant (not measured yet)', ''));
  const tokps = (key: string): string => (r.throughput[key] ? `${r.throughput[key].tokensPerSecond.toFixed(1)} tok/s` : 'n/a');
  rows.push(
    row(
      'generate64',
      r.generate64,
      0.9,
      'generated tokens/s, 64 concurrent requests of 64 distinct tenants / the same 64 requests on one typical tenant (hGPT, 32 greedy tokens each)',
      r.generate64 === null ? '' : `${tokps('generate64:64')} vs ${tokps('generate64:1')}`,
    ),
  );
  const cvs = r.continuousVsStatic;
  const ms = (v: number | null | undefined): string => (v === null || v === undefined ? 'n/a' : `${v.toFixed(0)} ms`);
  rows.push(
    row(
      'continuousVsStatic throughput',
      cvs?.throughput ?? null,
      null,
      'generated tokens/s, continuous batching / static batching (waves of B awaited whole), mixed lengths; > 1 = continuous faster',
      cvs ? `${tokps('cvs:continuous')} vs ${tokps('cvs:static')}` : '',
    ),
  );
  rows.push(
    row(
      'continuousVsStatic p99',
      cvs?.p99 ?? null,
      null,
      'p99 request latency, static / continuous (all requests arrive at once); > 1 = continuous has the lower p99',
      cvs ? `${ms(cvs.staticP99Ms)} vs ${ms(cvs.continuousP99Ms)}` : '',
    ),
  );
  const tws = r.trainWhileServing;
  rows.push(
    row(
      'trainWhileServing p99',
      tws?.p99 ?? null,
      2,
      'p99 latency of a steady classify load while one tenants.train job runs on the same runtime / the same load alone (lower is better)',
      tws
        ? `${ms(tws.trainingP99Ms)} vs ${ms(tws.aloneP99Ms)} (p50 ${ms(tws.trainingP50Ms)} vs ${ms(tws.aloneP50Ms)}) at ${tws.offeredRps.toFixed(1)} req/s offered; training ${tws.trainPaceTokensPerSecond?.toFixed(0) ?? 'n/a'} tok/s between steps while serving (${tws.trainAlonePaceTokensPerSecond?.toFixed(0) ?? 'n/a'} alone), ${tws.finished} of ${tws.jobs} jobs finished, steps ${tws.stepsDone.map((d, i) => `${d}/${tws.steps[i]}`).join(', ')}`
        : '',
      true,
    ),
  );
  rows.push(
    row(
      'trainWhileServing throughput',
      tws?.throughput ?? null,
      null,
      'requests/s served under the same steady offered load, with the training job / alone (1 = serving kept up)',
      tws ? `${rps(r, 'tws:training')} vs ${rps(r, 'tws:alone')}` : '',
    ),
  );
  for (const n of Object.keys(r.vsSequential)) {
    rows.push(row(`vsSequential ${n}`, r.vsSequential[n], null, `batched runtime / one tenant at a time with the same kernels, ${n} tenants`, `${rps(r, `ours:${n}`)} vs ${rps(r, `sequential:${n}`)}`));
  }
  for (const n of Object.keys(r.vsMergedSwap)) {
    rows.push(
      row(`vsMergedSwap ${n}`, r.vsMergedSwap[n], n === '1000' ? 20 : null, `batched runtime / merged full model uploaded on every tenant change, ${n} tenants`, `${rps(r, `ours:${n}`)} vs ${rps(r, `merged:${n}`)}`),
    );
  }
  rows.push(row('vsTfjs hbert', r.vsTfjs.hbert, 4, 'batched runtime / tfjs-webgpu running the same hBERT, a tenant at a time (100 tenants)', `${rps(r, 'ours:100')} vs ${rps(r, 'tfjs:100')}`));
  rows.push(
    row(
      'vsTfjs hgpt',
      r.vsTfjs.hgpt,
      4,
      'generated tokens/s, batched runtime / tfjs-webgpu running the same hGPT greedily, a tenant at a time (100 tenants, prompts of generate:100)',
      r.vsTfjs.hgpt === null ? '' : `${tokps('generate:100')} vs ${tokps('tfjs-generate:100')}`,
    ),
  );
  const hit = (k: string): string => {
    const v = (r.runtimes.plotSpeedup as Record<string, unknown> | undefined)?.[k];
    return typeof v === 'number' ? `, hit rate ${v.toFixed(3)}` : '';
  };
  rows.push(row('plotSpeedup warm', r.plotSpeedup.warm, 1.7, 'warm PLOT / computing all layers (hBERT, S = L/2, 50 tenants)', `${rps(r, 'plot:warm')} vs ${rps(r, 'plot:flat')}${hit('warmHitRate')}`));
  rows.push(row('plotSpeedup cold', r.plotSpeedup.cold, null, 'cold PLOT (fresh domain, first pass) / computing all layers', `${rps(r, 'plot:cold')} vs ${rps(r, 'plot:flat')}${hit('coldHitRate')}`));
  const pi = r.plotInherit;
  rows.push(
    row(
      'plotInherit speedup',
      pi?.speedup ?? null,
      null,
      "policy inherit / exact at a domain with its own lower layers and no PLOT yet (inherit serves the parent's entries; its deviation from exact beside)",
      pi
        ? `${rps(r, 'plot:inherit')} vs ${rps(r, 'plot:exact')}; mean cosine ${pi.meanCosine?.toFixed(4) ?? 'n/a'}, max |diff| ${pi.maxAbsDiff?.toExponential(2) ?? 'n/a'} over ${pi.rows} rows (${pi.inheritedRows} inherited)`
        : '',
    ),
  );
  const cold = String(r.config.coldTenants ?? 1000);
  rows.push(row('prefetchHidden', r.prefetchHidden, 0.8, `throughput with ${cold} tenants' adapters cold in the store (pool 10%) / all resident`, `${rps(r, `cold:${cold}`)} vs ${rps(r, `ours:${cold}`)}`));
  rows.push(row('prefetchHidden (runtime metric)', r.prefetchHiddenFraction, 0.8, 'fraction of store read + upload time overlapped with GPU work (metrics().prefetchHidden)', ''));
  const m = r.memoryPerTenant;
  rows.push(
    row(
      'memoryPerTenant',
      m.ratioToFullModel,
      null,
      'GPU bytes per resident tenant / bytes of a full model copy (lower is better)',
      m.bytes === null ? '' : `${(m.bytes / 1024).toFixed(1)} KiB vs ${((m.fullModelBytes ?? 0) / 1024 / 1024).toFixed(2)} MiB`,
      true,
    ),
  );
  for (const k of r.matmul?.filter((x) => x.autotuned) ?? []) {
    rows.push(row(`matmul ${k.shape}`, k.gflops / k.tfjsGflops, 3, `our autotuned matmul (${k.variant}) / tfjs-webgpu tf.matMul`, `${k.gflops.toFixed(2)} vs ${k.tfjsGflops.toFixed(2)} GFLOP/s`));
  }
  return rows;
}

export const fmtRatio = (v: Ratio): string => (v === null ? 'null' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 0.01 ? v.toFixed(2) : v.toExponential(1));
export const fmtMet = (m: boolean | null): string => (m === null ? '' : m ? 'met' : 'MISSED');
