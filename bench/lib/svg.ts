/**
 * A small horizontal bar chart as SVG text, on a log10 axis (ratios here run from about 0.01
 * to 100). No dependencies: the chart is a file the README can embed.
 */

export interface Bar {
  readonly label: string;
  readonly value: number | null;
  /** Drawn as a tick on the bar's row. */
  readonly target?: number | null;
  /** Colours the bar: true = target met, false = missed, null = no target. */
  readonly met?: boolean | null;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Decades covering every positive value and target, and always 1. */
export function logDomain(values: readonly number[]): [number, number] {
  const pos = values.filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.floor(Math.log10(Math.min(1, ...pos)));
  const hi = Math.ceil(Math.log10(Math.max(1, ...pos)));
  return [lo, hi === lo ? lo + 1 : hi];
}

export function barChartSvg(bars: readonly Bar[], title: string): string {
  const labelW = 300;
  const plotW = 460;
  const rowH = 22;
  const top = 40;
  const height = top + bars.length * rowH + 40;
  const width = labelW + plotW + 90;
  const [lo, hi] = logDomain(bars.flatMap((b) => [b.value ?? 1, b.target ?? 1]));
  const x = (v: number): number => labelW + ((Math.log10(v) - lo) / (hi - lo)) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  const axisY = top + bars.length * rowH + 4;
  for (let d = lo; d <= hi; d++) {
    const gx = x(10 ** d);
    out.push(`<line x1="${gx.toFixed(1)}" y1="${top - 4}" x2="${gx.toFixed(1)}" y2="${axisY}" stroke="${d === 0 ? '#444' : '#ddd'}"/>`);
    out.push(`<text x="${gx.toFixed(1)}" y="${axisY + 14}" text-anchor="middle" fill="#444">${esc(String(10 ** d >= 1 ? 10 ** d : Number((10 ** d).toPrecision(1))))}</text>`);
  }
  out.push(`<text x="${labelW + plotW / 2}" y="${axisY + 30}" text-anchor="middle" fill="#444">ours / alternative (log scale; ticks = targets)</text>`);
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>`);
    if (b.value === null || !(b.value > 0)) {
      out.push(`<text x="${labelW + 4}" y="${y + 15}" fill="#999" font-style="italic">not measured</text>`);
      return;
    }
    const x0 = x(10 ** lo);
    const x1 = x(b.value);
    const fill = b.met === true ? '#2e7d32' : b.met === false ? '#c62828' : '#1565c0';
    out.push(`<rect x="${x0.toFixed(1)}" y="${y + 4}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${rowH - 8}" fill="${fill}"/>`);
    out.push(`<text x="${(x1 + 4).toFixed(1)}" y="${y + 15}">${esc(b.value >= 10 ? b.value.toFixed(1) : b.value.toPrecision(2))}</text>`);
    if (b.target != null && b.target > 0) {
      const tx = x(b.target).toFixed(1);
      out.push(`<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + rowH - 1}" stroke="#000" stroke-width="2"/>`);
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
