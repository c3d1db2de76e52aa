import { fmtMet, fmtRatio, type BenchResults, type SummaryRow } from './results.js';

/** Plain text columns for the terminal. */
export function textTable(head: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

const escapeCell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A GitHub-flavoured Markdown table. */
export function markdownTable(head: readonly string[], body: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)].join('\n');
}

const HEAD = ['figure', 'ratio', 'target', 'status', 'absolute', 'meaning'];
const cells = (r: SummaryRow): string[] => [r.figure, fmtRatio(r.value), r.target, r.value === null ? 'not measured' : fmtMet(r.met), r.absolute, r.meaning];

export function summaryText(rows: readonly SummaryRow[]): string {
  return textTable(HEAD.slice(0, 5), rows.map((r) => cells(r).slice(0, 5)));
}

/** bench/results/latest.md: the ratio table, then how it was measured. */
export function summaryMarkdown(results: BenchResults, rows: readonly SummaryRow[]): string {
  const m = results.machine;
  return [
    '# HMI-Web benchmark',
    '',
    `Adapter: ${results.adapter}; runtime scenarios ran in ${m.where}; ${m.cpus ?? '?'} CPU cores, ${m.platform}; ${m.date}.`,
    `Command: \`${m.command}\``,
    '',
    'Every ratio is ours / the alternative, measured side by side in this run (higher is better, except memoryPerTenant and trainWhileServing p99).',
    '',
    markdownTable(HEAD, rows.map(cells)),
    '',
    '## How it was measured',
    '',
    ...results.notes.map((n) => `- ${n}`),
    '',
    '![ratios](latest.svg)',
    '',
  ].join('\n');
}
