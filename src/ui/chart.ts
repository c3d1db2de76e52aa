/** The dashboard's charts (uPlot): live throughput (requests/s and tokens/s over the last couple of minutes), and a training run's loss and validation. */
import uPlot from 'uplot';

const WINDOW_S = 120;
const HEIGHT = 220;

/** hh:mm:ss, without uPlot's default date line: the window is two minutes. */
function clock(seconds: number): string {
  return new Date(seconds * 1000).toLocaleTimeString('en-GB', { hour12: false });
}

interface ChartColors {
  readonly grid: string;
  readonly text: string;
}

/**
 * A uPlot of two series on two y axes that follows its container's width: built once the
 * container has one, resized with it. Subclasses give the options and the data.
 */
abstract class FittedChart<C extends ChartColors> {
  private plot: uPlot | null = null;
  private readonly resize: ResizeObserver;

  constructor(
    private readonly container: HTMLElement,
    protected readonly colors: C,
  ) {
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(container);
  }

  protected abstract options(axis: uPlot.Axis): Omit<uPlot.Options, 'width' | 'height'>;
  protected abstract data(): uPlot.AlignedData;

  private fit(): void {
    const width = Math.floor(this.container.clientWidth);
    if (width <= 0) return;
    if (!this.plot) {
      const { grid, text } = this.colors;
      const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
      this.plot = new uPlot({ width, height: HEIGHT, cursor: { drag: { x: false, y: false } }, legend: { live: true }, ...this.options(axis) }, this.data(), this.container);
    } else if (this.plot.width !== width) this.plot.setSize({ width, height: HEIGHT });
  }

  /** Builds the chart again (its options changed). */
  protected rebuild(): void {
    this.plot?.destroy();
    this.plot = null;
    this.fit();
  }

  protected redraw(): void {
    this.fit();
    const plot = this.plot;
    if (!plot) return;
    const data = this.data();
    plot.setData(data);
    // Off the chart, the legend shows the latest values instead of dashes.
    if ((plot.cursor.left ?? -1) < 0) plot.setLegend({ idx: data[0].length - 1 });
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

const fixed =
  (digits: number) =>
  (_u: uPlot, v: number | null): string =>
    v == null ? '–' : v.toFixed(digits);

export class ThroughputChart extends FittedChart<ChartColors & { requests: string; tokens: string }> {
  private readonly t: number[] = [];
  private readonly rps: number[] = [];
  private readonly tps: number[] = [];

  protected options(axis: uPlot.Axis): Omit<uPlot.Options, 'width' | 'height'> {
    const { requests, tokens } = this.colors;
    return {
      scales: { x: { time: true }, rps: { auto: true, range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] }, tps: { auto: true, range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
      series: [
        { label: 'time', value: (_u, v) => (v == null ? '–' : clock(v)) },
        { label: 'requests/s', scale: 'rps', stroke: requests, width: 2, fill: /^#[0-9a-f]{6}$/i.test(requests) ? `${requests}22` : undefined, value: fixed(1) },
        { label: 'tokens/s', scale: 'tps', stroke: tokens, width: 2, value: fixed(0) },
      ],
      axes: [
        { ...axis, values: (_u, splits) => splits.map(clock) },
        { ...axis, scale: 'rps', label: 'requests/s', size: 56 },
        { ...axis, scale: 'tps', label: 'tokens/s', side: 1, size: 64, grid: { show: false } },
      ],
    };
  }

  protected data(): uPlot.AlignedData {
    return [this.t, this.rps, this.tps];
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
    this.redraw();
  }
}

/**
 * A training run: the loss of every optimizer step, and each epoch's validation measure
 * (accuracy or perplexity) on a second axis, at the step the epoch ended. Steps are few
 * (hundreds), so every one is kept.
 */
export class TrainingChart extends FittedChart<ChartColors & { loss: string; validation: string }> {
  private steps: number[] = [];
  private loss: (number | null)[] = [];
  private validation: (number | null)[] = [];
  private metric = 'validation';

  /** Starts a new run; `metric` names the validation series (its axis is rebuilt for it). */
  reset(metric: string): void {
    this.steps = [];
    this.loss = [];
    this.validation = [];
    this.metric = metric;
    this.rebuild();
  }

  protected options(axis: uPlot.Axis): Omit<uPlot.Options, 'width' | 'height'> {
    const { loss, validation } = this.colors;
    return {
      scales: { x: { time: false }, loss: { auto: true, range: (_u, _min, max) => [0, Math.max(0.1, max * 1.1)] }, val: { auto: true } },
      series: [
        { label: 'step', value: fixed(0) },
        { label: 'loss', scale: 'loss', stroke: loss, width: 2, value: fixed(4) },
        // Sparse (one point per epoch): joined across the steps between, with visible points.
        { label: this.metric, scale: 'val', stroke: validation, width: 2, spanGaps: true, points: { show: true, size: 7 }, value: fixed(4) },
      ],
      axes: [
        { ...axis, label: 'step' },
        { ...axis, scale: 'loss', label: 'loss', size: 56 },
        { ...axis, scale: 'val', label: this.metric, side: 1, size: 64, grid: { show: false } },
      ],
    };
  }

  protected data(): uPlot.AlignedData {
    return [this.steps, this.loss, this.validation];
  }

  /** The row of `step`, appended if new (steps arrive in order). */
  private row(step: number): number {
    const last = this.steps.length - 1;
    if (last >= 0 && this.steps[last] === step) return last;
    this.steps.push(step);
    this.loss.push(null);
    this.validation.push(null);
    return last + 1;
  }

  /** The mean loss of optimizer step `step`. */
  pushLoss(step: number, loss: number): void {
    this.loss[this.row(step)] = Number.isFinite(loss) ? loss : null;
    this.redraw();
  }

  /** An epoch's validation measure, at the step that ended it. */
  pushValidation(step: number, value: number): void {
    this.validation[this.row(step)] = Number.isFinite(value) ? value : null;
    this.redraw();
  }
}
