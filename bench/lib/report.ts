import { summaryRows, type BenchResults } from './results.js';
import { barChartSvg } from './svg.js';
import { summaryMarkdown, summaryText } from './table.js';

export interface RenderedReport {
  readonly json: string;
  readonly markdown: string;
  readonly svg: string;
  /** The table for stdout. */
  readonly text: string;
}

/** latest.json, latest.md, latest.svg and the stdout table, from one results object. */
export function renderReport(results: BenchResults): RenderedReport {
  const rows = summaryRows(results);
  const svg = barChartSvg(
    rows.map((r) => ({ label: r.figure, value: r.value, target: r.targetValue, met: r.met })),
    `HMI-Web: ours / alternative (${results.adapter}, ${results.machine.where})`,
  );
  return {
    json: `${JSON.stringify(results, null, 2)}\n`,
    markdown: summaryMarkdown(results, rows),
    svg,
    text: summaryText(rows),
  };
}
