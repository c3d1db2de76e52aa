import { describe, expect, it } from 'vitest';
import { emptyResults, fmtRatio, summaryRows } from '../../bench/lib/results.js';
import { markdownTable, textTable } from '../../bench/lib/table.js';
import { barChartSvg, logDomain } from '../../bench/lib/svg.js';
import { renderReport } from '../../bench/lib/report.js';

describe('tables', () => {
  it('text table pads columns to the widest cell', () => {
    const t = textTable(['a', 'bb'], [['xxx', 'y']]).split('\n');
    expect(t).toEqual(['a    bb', '---  --', 'xxx  y']);
  });

  it('markdown table escapes pipes and has a separator row', () => {
    const t = markdownTable(['k', 'v'], [['a|b', 'c']]).split('\n');
    expect(t[1]).toBe('| --- | --- |');
    expect(t[2]).toBe('| a\\|b | c |');
  });
});

describe('summary rows', () => {
  it('mark targets met or missed and keep unmeasured figures as null rows', () => {
    const r = emptyResults();
    r.multiTenantOverhead.classify = { '100': 0.97, '1000': 0.91, '10000': 0.5 };
    r.throughput['ours:1'] = { requestsPerSecond: 40, tokensPerSecond: 800, requests: 100, seconds: 2.5 };
    r.throughput['ours:10000'] = { requestsPerSecond: 20, tokensPerSecond: 400, requests: 100, seconds: 5 };
    const rows = summaryRows(r);
    const by = (f: string) => rows.find((x) => x.figure === f)!;
    expect(by('multiTenantOverhead.classify 1000').met).toBe(true);
    expect(by('multiTenantOverhead.classify 10000').met).toBe(false);
    expect(by('multiTenantOverhead.classify 10000').absolute).toBe('20.0 req/s vs 40.0 req/s');
    expect(by('multiTenantOverhead.classify 100').met).toBeNull();
    expect(by('vsTfjs hbert').value).toBeNull();
    expect(by('vsTfjs hbert').met).toBeNull();
    expect(by('plotSpeedup warm').value).toBeNull();
    expect(by('multiTenantOverhead.generate').value).toBeNull();
  });

  it('memoryPerTenant is lower-is-better and formats small ratios', () => {
    const r = emptyResults();
    r.memoryPerTenant = { bytes: 1024, ratioToFullModel: 0.001, fullModelBytes: 1024 * 1024, residentTenants: 3 };
    const row = summaryRows(r).find((x) => x.figure === 'memoryPerTenant')!;
    expect(row.value).toBe(0.001);
    expect(fmtRatio(0.001)).toBe('1.0e-3');
    expect(fmtRatio(null)).toBe('null');
    expect(fmtRatio(23.456)).toBe('23.5');
  });
});

describe('trainWhileServing row', () => {
  const tws = (p99: number) => ({
    p99,
    p50: 3,
    throughput: 0.98,
    aloneP50Ms: 100,
    aloneP99Ms: 400,
    trainingP50Ms: 300,
    trainingP99Ms: 400 * p99,
    requests: { alone: 600, training: 900 },
    offeredRps: 20,
    burstRps: 40,
    jobs: 2,
    finished: 2,
    stepsDone: [8, 8],
    steps: [8, 8],
    trainTokensPerSecond: 120,
    trainPaceTokensPerSecond: 150,
    trainAlonePaceTokensPerSecond: 300,
    trainSeconds: [30, 31],
    examples: 173,
    validationExamples: 19,
    epochs: 1,
    batchTokens: 128,
    sliceTokens: 300,
    sliceMs: 1000,
    stepMs: 2000,
    servingBatchMs: 500,
  });

  it('is lower-is-better against the issue target 2, with the job figures beside', () => {
    const r = emptyResults();
    expect(summaryRows(r).find((x) => x.figure === 'trainWhileServing p99')).toMatchObject({ value: null, target: '<= 2' });
    r.trainWhileServing = tws(1.5);
    const row = summaryRows(r).find((x) => x.figure === 'trainWhileServing p99')!;
    expect(row.met).toBe(true);
    expect(row.absolute).toContain('600 ms vs 400 ms (p50 300 ms vs 100 ms) at 20.0 req/s offered; training 150 tok/s between steps while serving (300 alone), 2 of 2 jobs finished, steps 8/8, 8/8');
    r.trainWhileServing = tws(2.5);
    expect(summaryRows(r).find((x) => x.figure === 'trainWhileServing p99')!.met).toBe(false);
    expect(summaryRows(r).find((x) => x.figure === 'trainWhileServing throughput')!.value).toBe(0.98);
  });
});

describe('svg chart', () => {
  it('log domain spans whole decades around every value and 1', () => {
    expect(logDomain([0.02, 25])).toEqual([-2, 2]);
    expect(logDomain([1])).toEqual([0, 1]);
    expect(logDomain([0.5, 0.9])).toEqual([-1, 0]);
  });

  it('draws one bar per measured value and says which are not measured', () => {
    const svg = barChartSvg(
      [
        { label: 'a<b', value: 2, target: 1, met: true },
        { label: 'c', value: null },
        { label: 'd', value: 0.5, met: false },
      ],
      'T',
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect [^>]*fill="#(2e7d32|c62828|1565c0)"/g)).toHaveLength(2);
    expect(svg).toContain('not measured');
    expect(svg).toContain('a&lt;b');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });

  it('a report renders json that round-trips, markdown with the table, and the chart', () => {
    const r = emptyResults();
    r.adapter = 'swiftshader';
    r.vsSequential = { '100': 3 };
    const out = renderReport(r);
    expect(JSON.parse(out.json).vsSequential).toEqual({ '100': 3 });
    expect(JSON.parse(out.json).vsTfjs).toEqual({ hbert: null, hgpt: null });
    expect(out.markdown).toContain('| vsSequential 100 | 3.00 |');
    expect(out.svg).toContain('vsSequential 100');
    expect(out.text).toContain('vsSequential 100');
  });
});
