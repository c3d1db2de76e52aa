import { summaryRows, type BenchResults, type PlotStorageRow } from './results.js';
import { barChartSvg } from './svg.js';
import { markdownTable, summaryMarkdown, summaryText, textTable } from './table.js';

export interface RenderedReport {
  readonly json: string;
  readonly markdown: string;
  readonly svg: string;
  /** The table for stdout. */
  readonly text: string;
}

const kib = (b: number): string => (b / 1024).toFixed(1);

/** plotStorage's sizes: absolute bytes, so a table of their own rather than rows of the ratio chart. */
function storageTable(rows: readonly PlotStorageRow[]): { head: string[]; body: string[][] } {
  const head = ['domains', 'corpus lines', 'budget/domain', 'stage', 'distinct', 'entries', 'KiB', 'stored KiB', 'B/entry', 'entries per node (parent first)'];
  const body = rows.map((r) => [
    String(r.domains),
    String(r.corpusLines),
    String(r.budgetEntries),
    r.stage,
    String(r.distinct),
    String(r.entries),
    kib(r.bytes),
    kib(r.storedBytes),
    r.entries > 0 ? (r.bytes / r.entries).toFixed(0) : '',
    r.nodes.map((n) => n.entries).join(' / '),
  ]);
  return { head, body };
}

const STORAGE_INTRO =
  "plotStorage (issue 5): bytes of the domain tree vs number of domains and corpus size. Each grid point is a parent node (budget 512) under the root with N domains under it, each built (runtime.domains.build) from its own slice of the first L lines of a Zipf(1.1) token corpus; 'rebuild' is after runtime.domains.rebuild(parent), which promotes the hottest tri-grams shared by the domains into the parent and drops them from the domains. KiB = in-memory PLOT tables (domains.list() bytes), stored KiB = what the PlotStore persisted.";

/** latest.json, latest.md, latest.svg and the stdout table, from one results object. */
export function renderReport(results: BenchResults): RenderedReport {
  const rows = summaryRows(results);
  const svg = barChartSvg(
    rows.map((r) => ({ label: r.figure, value: r.value, target: r.targetValue, met: r.met })),
    `HMI-Web: ours / alternative (${results.adapter}, ${results.machine.where})`,
  );
  const storage = results.plotStorage?.length ? storageTable(results.plotStorage) : null;
  return {
    json: `${JSON.stringify(results, null, 2)}\n`,
    markdown: summaryMarkdown(results, rows) + (storage ? ['', '## Storage growth (plotStorage)', '', STORAGE_INTRO, '', markdownTable(storage.head, storage.body), ''].join('\n') : ''),
    svg,
    text: summaryText(rows) + (storage ? `\n\nplotStorage (bytes of the domain tree):\n${textTable(storage.head, storage.body)}` : ''),
  };
}
