/** Live throughput over the last couple of minutes: requests/s and tokens/s on two axes (uPlot). */
import uPlot from 'uplot';

const WINDOW_S = 120;

/** hh:mm:ss, without uPlot's default date line: the window is two minutes. */
function clock(seconds: number): string {
  return new Date(seconds * 1000).toLocaleTimeString('en-GB', { hour12: false });
}

export class ThroughputChart {
  private readonly t: number[] = [];
  private readonly rps: number[] = [];
  private readonly tps: number[] = [];
  private plot: uPlot | null = null;
  private readonly resize: ResizeObserver;

  constructor(
    private readonly container: HTMLElement,
    private readonly colors: { requests: string; tokens: string; grid: string; text: string },
  ) {
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(container);
  }

  private create(width: number): uPlot {
    const { requests, tokens, grid, text } = this.colors;
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    return new uPlot(
      {
        width,
        height: 220,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        scales: { x: { time: true }, rps: { auto: true, range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] }, tps: { auto: true, range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
        series: [
          { label: 'time', value: (_u, v) => (v == null ? '–' : clock(v)) },
          { label: 'requests/s', scale: 'rps', stroke: requests, width: 2, fill: /^#[0-9a-f]{6}$/i.test(requests) ? `${requests}22` : undefined, value: (_u, v) => (v == null ? '–' : v.toFixed(1)) },
          { label: 'tokens/s', scale: 'tps', stroke: tokens, width: 2, value: (_u, v) => (v == null ? '–' : v.toFixed(0)) },
        ],
        axes: [
          { ...axis, values: (_u, splits) => splits.map(clock) },
          { ...axis, scale: 'rps', label: 'requests/s', size: 56 },
          { ...axis, scale: 'tps', label: 'tokens/s', side: 1, size: 64, grid: { show: false } },
        ],
      },
      [this.t, this.rps, this.tps],
      this.container,
    );
  }

  private fit(): void {
    const width = Math.floor(this.container.clientWidth);
    if (width <= 0) return;
    if (!this.plot) this.plot = this.create(width);
    else if (this.plot.width !== width) this.plot.setSize({ width, height: 220 });
  }

  push(timeMs: number, requestsPerSecond: number, tokensPerSecond: number): void {
    this.t.push(timeMs / 1000);
    this.rps.push(requestsPerSecond);
    this.tps.push(tokensPerSecond);
    while (this.t.length > 0 && this.t[0] < timeMs / 1000 - WINDOW_S) {
      this.t.shift();
      this.rps.shift();
      this.tps.shift();
    }
    this.fit();
    const plot = this.plot;
    if (!plot) return;
    plot.setData([this.t, this.rps, this.tps]);
    // Off the chart, the legend shows the latest values instead of dashes.
    if ((plot.cursor.left ?? -1) < 0) plot.setLegend({ idx: this.t.length - 1 });
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
