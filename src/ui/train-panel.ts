/**
 * "Train a tenant": paste or drop training data (JSONL, a JSON array or CSV, read by the same
 * parser as `hmi train`), pick an id, a domain, epochs, rank and seed, and train on the
 * runtime's GPU with `tenants.train` while it keeps serving. A live chart shows the loss of
 * every step and each epoch's validation; Abort stops it and stores nothing. The tenant it
 * makes is a trained one (not synthetic): the dashboard lists it and offers it in Try it.
 */
import { TrainDataError } from '../formats/errors.js';
import { parseTrainData, trainDataFormatOf, type ParsedTrainData, type TrainDataFormat } from '../formats/train-data.js';
import type { HmiRuntimeApi, RuntimeInfo, TrainProgress, TrainResult, TrainSpec } from '../runtime/api.js';
import type { TenantCatalog, TrainedTenant } from './catalog.js';
import { TrainingChart } from './chart.js';
import { h, present } from './dom.js';
import { formatCount, formatPercent, formatRate } from './format.js';

/** The runtime's defaults (TrainSpec), shown in the fields. */
const DEFAULTS = { epochs: 3, rank: 8, seed: 0 } as const;
const LIMITS = { epochs: [1, 100], rank: [1, 64], seed: [0, 2 ** 31 - 1] } as const;
/** Re-parse this long after the last keystroke: big pastes are parsed once, not per character. */
const PARSE_DELAY_MS = 200;
/** A description holds at most 500 characters (the registry's limit). */
const MAX_DESCRIPTION = 500;
const EXAMPLES_KEPT = 3;
const EXAMPLE_CHARS = 200;

const PLACEHOLDER: Readonly<Record<RuntimeInfo['family'], string>> = {
  bert: '{"text": "WIN a FREE cruise, reply now", "label": "spam"}\n{"text": "Are we still on for lunch?", "label": "ham"}\n\nor CSV with a header row:\ntext,label\n"Cheap pills, click here",spam',
  gpt2: '{"text": "Call me Ishmael. Some years ago..."}\n"A bare JSON string is a text too."\n\nor CSV with a header row:\ntext\n"It was the best of times, it was the worst of times"',
};

export type ChartColors = ConstructorParameters<typeof TrainingChart>[1];

type NumberField = keyof typeof DEFAULTS;

/** "ham (20), spam (20)": how many examples each label has, in the runtime's (sorted) order. */
function labelCounts(data: ParsedTrainData): string {
  const counts = new Map<string, number>();
  for (const d of data) if (typeof d !== 'string') counts.set(String(d.label), (counts.get(String(d.label)) ?? 0) + 1);
  return [...counts.keys()]
    .sort()
    .map((l) => `${l} (${formatCount(counts.get(l)!)})`)
    .join(', ');
}

function describeMetric(m: { metric: string; value: number } | undefined): string {
  if (!m) return '';
  return m.metric === 'accuracy' ? `validation accuracy ${formatPercent(m.value)}` : `validation ${m.metric} ${m.value.toFixed(2)}`;
}

export class TrainPanel {
  readonly root: HTMLElement;
  private readonly data: HTMLTextAreaElement;
  private readonly file: HTMLInputElement;
  private readonly drop: HTMLElement;
  private readonly dataStatus: HTMLElement;
  private readonly tenantId: HTMLInputElement;
  private readonly domain: HTMLSelectElement;
  private readonly numbers = new Map<NumberField, HTMLInputElement>();
  private readonly trainButton: HTMLButtonElement;
  private readonly abortButton: HTMLButtonElement;
  private readonly chartBox: HTMLElement;
  private readonly status: HTMLElement;
  private readonly outcome: HTMLElement;
  private chart: TrainingChart | null = null;
  private family: RuntimeInfo['family'] = 'bert';
  /** The format of a loaded file (by its extension) while the text is still that file's. */
  private format: TrainDataFormat = 'auto';
  /**
   * A loaded file's text as read, until the textarea is edited: the textarea's value has its
   * line breaks normalized to LF, which would change a CRLF inside a quoted CSV field.
   */
  private fileText: string | null = null;
  private source = 'the pasted data';
  private parsed: ParsedTrainData | null = null;
  private parseTimer: ReturnType<typeof setTimeout> | null = null;
  private controller: AbortController | null = null;
  /** The id is one the panel suggested (not typed), so it may suggest a free one again. */
  private idIsOurs = true;

  constructor(
    private readonly runtime: () => HmiRuntimeApi | null,
    private readonly catalog: () => TenantCatalog,
    private readonly onTrained: (tenant: TrainedTenant, result: TrainResult) => void | Promise<void>,
    private readonly colors: () => ChartColors,
    idPrefix: string,
  ) {
    this.data = h('textarea', { id: `${idPrefix}-data`, rows: 7, spellcheck: false, class: 'mono' });
    this.data.addEventListener('input', () => {
      // Typed over: no longer the file's text, so its extension no longer says the format.
      this.format = 'auto';
      this.fileText = null;
      this.source = 'the pasted data';
      this.scheduleParse();
    });
    this.file = h('input', { id: `${idPrefix}-file`, type: 'file', accept: '.jsonl,.ndjson,.json,.csv', class: 'file' });
    this.file.addEventListener('change', () => {
      const f = this.file.files?.[0];
      if (f) void this.load(f);
      this.file.value = '';
    });
    this.drop = h(
      'div',
      { class: 'drop', 'data-drop': 'train' },
      'Drop a .jsonl, .json or .csv file here, or ',
      h('label', { for: this.file.id, class: 'file-pick' }, 'choose one'),
      this.file,
    );
    this.drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      this.drop.classList.add('over');
    });
    this.drop.addEventListener('dragleave', () => this.drop.classList.remove('over'));
    this.drop.addEventListener('drop', (e) => {
      e.preventDefault();
      this.drop.classList.remove('over');
      const f = e.dataTransfer?.files[0];
      if (f) void this.load(f);
    });
    this.dataStatus = h('p', { class: 'data-status small', 'aria-live': 'polite' });

    this.tenantId = h('input', { id: `${idPrefix}-id`, autocomplete: 'off', spellcheck: false, value: '' });
    this.tenantId.addEventListener('input', () => {
      this.idIsOurs = false;
      this.sync();
    });
    this.domain = h('select', {
      id: `${idPrefix}-domain`,
      title: "The tenant trains, and is served, on its domain's lower layers (PLOT) with a LoRA on the layers above; with none its LoRA adapts every layer",
    });
    this.setDomains([]);
    const numberField = (key: NumberField, label: string): HTMLElement => {
      const [min, max] = LIMITS[key];
      const input = h('input', { id: `${idPrefix}-${key}`, type: 'number', min, max, step: 1, value: DEFAULTS[key], inputmode: 'numeric' });
      input.addEventListener('input', () => this.sync());
      this.numbers.set(key, input);
      return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
    };
    const fields = h(
      'div',
      { class: 'train-fields' },
      h('div', { class: 'field' }, h('label', { for: this.tenantId.id }, 'Tenant id'), this.tenantId),
      h('div', { class: 'field' }, h('label', { for: this.domain.id }, 'Domain'), this.domain),
      numberField('epochs', 'Epochs'),
      numberField('rank', 'Rank'),
      numberField('seed', 'Seed'),
    );
    this.trainButton = h('button', { type: 'button', class: 'primary' }, 'Train');
    this.abortButton = h('button', { type: 'button', disabled: true }, 'Abort');
    this.trainButton.addEventListener('click', () => void this.train());
    this.abortButton.addEventListener('click', () => this.cancel());
    this.chartBox = h('div', { class: 'chart train-chart', role: 'img', 'aria-label': 'Training loss per step and validation per epoch' });
    this.status = h('p', { class: 'train-status small', role: 'status', 'aria-live': 'polite' }, 'Not training.');
    this.outcome = h('div', { class: 'train-outcome', 'aria-live': 'polite' });
    this.root = h(
      'div',
      { class: 'train' },
      h(
        'div',
        { class: 'train-form' },
        h('label', { for: this.data.id }, 'Training data'),
        this.data,
        this.drop,
        this.dataStatus,
        fields,
        h('div', { class: 'actions' }, this.trainButton, this.abortButton),
      ),
      h('div', { class: 'train-view' }, this.chartBox, this.status, this.outcome),
    );
    this.setFamily('bert');
  }

  /** hBERT trains on labelled texts, hGPT on plain texts: the placeholder and the parser follow. */
  setFamily(family: RuntimeInfo['family']): void {
    this.family = family;
    this.data.placeholder = PLACEHOLDER[family];
    this.parse();
  }

  /** The runtime's domain ids; "none" (no domain: the LoRA adapts every layer) is always offered. */
  setDomains(ids: readonly string[]): void {
    const keep = this.domain.value;
    const options = ['', ...ids];
    if (this.domain.options.length === options.length && options.every((id, i) => this.domain.options[i].value === id)) return;
    this.domain.replaceChildren(...options.map((id) => h('option', { value: id }, id === '' ? 'none (every layer)' : id)));
    this.domain.value = options.includes(keep) ? keep : '';
  }

  get training(): boolean {
    return this.controller !== null;
  }

  /** Aborts a running training (nothing is stored). */
  cancel(): void {
    this.controller?.abort();
  }

  /** Called when the runtime is (not) there, or the tenants changed: suggests a free id, enables Train. */
  refresh(): void {
    if (this.idIsOurs || !this.tenantId.value.trim()) {
      this.tenantId.value = this.freeId();
      this.idIsOurs = true;
    }
    this.sync();
  }

  private freeId(): string {
    const cat = this.catalog();
    let id = 'my-tenant';
    for (let i = 2; cat.get(id); i++) id = `my-tenant-${i}`;
    return id;
  }

  private async load(f: File): Promise<void> {
    try {
      this.fileText = await f.text();
    } catch (e) {
      this.showDataError(`${f.name} could not be read: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.data.value = this.fileText;
    this.format = trainDataFormatOf(f.name) ?? 'auto';
    this.source = f.name;
    this.parse();
  }

  private scheduleParse(): void {
    if (this.parseTimer !== null) clearTimeout(this.parseTimer);
    this.parseTimer = setTimeout(() => this.parse(), PARSE_DELAY_MS);
  }

  /** Parses the data now; the result (or the error, with its line) shows under the drop zone. */
  private parse(): ParsedTrainData | null {
    if (this.parseTimer !== null) clearTimeout(this.parseTimer);
    this.parseTimer = null;
    this.parsed = null;
    if (!this.data.value.trim()) {
      this.dataStatus.replaceChildren(h('span', { class: 'muted' }, this.family === 'bert' ? 'Labelled texts, one per line: paste them or drop a file.' : 'Texts for the tenant to continue, one per line: paste them or drop a file.'));
      this.dataStatus.dataset.state = 'empty';
    } else {
      try {
        const data = parseTrainData(this.fileText ?? this.data.value, this.format, this.family);
        this.parsed = data;
        const labels = this.family === 'bert' ? ` · labels ${labelCounts(data)}` : '';
        this.dataStatus.replaceChildren(`${formatCount(data.length)} ${data.length === 1 ? 'example' : 'examples'} in ${this.source}${labels}`);
        this.dataStatus.dataset.state = 'ok';
      } catch (e) {
        // A file's error names the file too; pasted data is just "line N".
        const named = e instanceof TrainDataError && this.fileText !== null ? new TrainDataError(e.reason, e.line, this.source) : e;
        this.showDataError(named instanceof Error ? named.message : String(named), named instanceof Error ? named.name : undefined);
      }
    }
    this.sync();
    return this.parsed;
  }

  private showDataError(message: string, name?: string): void {
    this.parsed = null;
    this.dataStatus.replaceChildren(h('span', { class: 'error-text', role: 'alert' }, name ? h('strong', {}, `${name}: `) : null, message));
    this.dataStatus.dataset.state = 'error';
    this.sync();
  }

  /** A field's value if it is an integer within its limits, else undefined. */
  private number(key: NumberField): number | undefined {
    const text = this.numbers.get(key)!.value.trim();
    const v = Number(text);
    const [min, max] = LIMITS[key];
    return /^\d+$/.test(text) && v >= min && v <= max ? v : undefined;
  }

  /** Train is offered when there is a runtime, parsed data, an id and valid numbers, and no run. */
  private sync(): void {
    const running = this.controller !== null;
    const why = !this.runtime()
      ? 'The runtime is not ready yet'
      : this.parsed === null
        ? 'Paste or drop training data first'
        : !this.tenantId.value.trim()
          ? 'Give the tenant an id'
          : (['epochs', 'rank', 'seed'] as const).find((k) => this.number(k) === undefined)
            ? 'Epochs, rank and seed must be whole numbers in range'
            : '';
    this.trainButton.disabled = running || why !== '';
    this.trainButton.title = running ? 'Training…' : why;
    this.abortButton.disabled = !running;
    for (const el of [this.data, this.tenantId, this.domain, this.file, ...this.numbers.values()]) el.disabled = running;
    this.drop.classList.toggle('disabled', running);
  }

  private ensureChart(metric: string): TrainingChart {
    this.chart ??= new TrainingChart(this.chartBox, this.colors());
    this.chart.reset(metric);
    return this.chart;
  }

  private async train(): Promise<void> {
    const rt = this.runtime();
    const data = this.parse();
    const id = this.tenantId.value.trim();
    const epochs = this.number('epochs');
    const rank = this.number('rank');
    const seed = this.number('seed');
    if (!rt || !data || !id || epochs === undefined || rank === undefined || seed === undefined || this.controller) return;
    const domain = this.domain.value;
    const family = this.family;
    const labels = family === 'bert' ? labelCounts(data) : '';
    const about = `Trained in the dashboard on ${formatCount(data.length)} ${family === 'bert' ? `labelled texts (${labels})` : 'texts'}${domain ? `, domain ${domain}` : ''}.`;
    const description = about.length <= MAX_DESCRIPTION ? about : `${about.slice(0, MAX_DESCRIPTION - 1)}…`;
    const replaces = this.catalog().get(id);
    this.controller = new AbortController();
    this.sync();
    const chart = this.ensureChart(family === 'bert' ? 'accuracy' : 'perplexity');
    this.outcome.replaceChildren(
      ...present(replaces ? h('p', { class: 'muted small' }, `A tenant "${id}" is registered already; the trained one takes its place when training ends.`) : null),
    );
    this.status.textContent = 'Preparing…';
    this.root.dataset.state = 'training';
    const spec: TrainSpec = { id, data, epochs, rank, seed, description, signal: this.controller.signal, ...(domain ? { domain } : {}) };
    try {
      const result = await rt.tenants.train(spec, (p) => this.progress(p, chart));
      this.root.dataset.state = 'done';
      this.status.textContent = this.summary(result);
      const examples = data.slice(0, EXAMPLES_KEPT).map((d) => (typeof d === 'string' ? d : d.text).slice(0, EXAMPLE_CHARS));
      this.outcome.replaceChildren(
        h('p', { class: 'result' }, h('span', { class: 'badge badge-trained' }, 'trained'), ' ', h('strong', { 'data-tenant': id }, id), ' is registered and served: it is in the tenant table and in Try it.'),
      );
      // Listing it is the dashboard's business: a failure there (a dead worker) is reported by its
      // own poll, and must not read as a failed training.
      void Promise.resolve(
        this.onTrained({ id, domain: domain || 'general', task: family === 'bert' ? 'classify' : 'generate', labels: result.labels ?? [], trainedOn: description, examples }, result),
      ).catch(() => undefined);
    } catch (e) {
      const aborted = e instanceof Error && e.name === 'TrainingAbortedError';
      this.root.dataset.state = aborted ? 'aborted' : 'error';
      this.status.textContent = aborted ? 'Aborted: nothing was stored.' : 'Training failed.';
      if (!aborted) {
        this.outcome.replaceChildren(h('p', { class: 'error-text', role: 'alert' }, h('strong', {}, `${e instanceof Error ? e.name : 'Error'}: `), e instanceof Error ? e.message : String(e)));
      } else {
        this.outcome.replaceChildren();
      }
    } finally {
      this.controller = null;
      this.sync();
    }
  }

  private progress(p: TrainProgress, chart: TrainingChart): void {
    // A progress event can trail an abort; the panel has moved on by then.
    if (this.controller === null) return;
    if (p.phase === 'train' && p.step > 0) chart.pushLoss(p.step, p.loss);
    if (p.phase === 'validate' && p.validation) chart.pushValidation(p.step, p.validation.value);
    const phase = { prepare: 'Preparing', train: 'Training', validate: 'Validating', store: 'Storing' }[p.phase];
    const parts = [
      phase,
      `epoch ${p.epoch}/${p.epochs}`,
      `step ${formatCount(p.step)}/${formatCount(p.steps)}`,
      Number.isFinite(p.loss) ? `loss ${p.loss.toFixed(4)}` : '',
      `${formatRate(p.tokensPerSecond)} tokens/s`,
      describeMetric(p.validation),
    ];
    this.status.textContent = parts.filter(Boolean).join(' · ');
  }

  private summary(r: TrainResult): string {
    const parts = [
      `Trained ${r.tenantId}`,
      `${formatCount(r.examples)} examples${r.validationExamples ? ` + ${formatCount(r.validationExamples)} held out` : ''}`,
      `${formatCount(r.steps)} steps in ${r.seconds.toFixed(1)} s`,
      `${formatRate(r.tokensPerSecond)} tokens/s`,
      `best epoch ${r.bestEpoch} of ${r.epochs}`,
      describeMetric(r.validation),
    ];
    return parts.filter(Boolean).join(' · ');
  }
}
