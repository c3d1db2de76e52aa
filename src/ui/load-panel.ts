/** Controls and live counters of the load generator. */
import { h } from './dom.js';
import { formatCount } from './format.js';
import { DEFAULT_LOAD, type LoadGenerator, type LoadSettings } from './load-generator.js';

type NumericSetting = { [K in keyof LoadSettings]: LoadSettings[K] extends number ? K : never }[keyof LoadSettings];

interface Field {
  key: NumericSetting;
  label: string;
  min: number;
  max: number;
  step: number;
  show(v: number): string;
}

const FIELDS: readonly Field[] = [
  { key: 'tenants', label: 'Active tenants', min: 1, max: 10_000, step: 1, show: (v) => formatCount(v) },
  { key: 'skew', label: 'Zipf skew', min: 0, max: 2, step: 0.1, show: (v) => v.toFixed(1) },
  { key: 'rate', label: 'Request rate', min: 1, max: 500, step: 1, show: (v) => `${v}/s` },
  { key: 'generateFraction', label: 'Generate share', min: 0, max: 1, step: 0.05, show: (v) => `${Math.round(v * 100)}%` },
  { key: 'concurrency', label: 'Max in flight', min: 1, max: 512, step: 1, show: (v) => String(v) },
];

const ADAPTIVE_TITLE = 'Keeps only as many requests in flight as the model completes without queueing them, up to Max in flight';

export class LoadPanel {
  readonly root: HTMLElement;
  private readonly toggle: HTMLButtonElement;
  private readonly counters: HTMLElement;
  private readonly errors: HTMLElement;
  private readonly inputs = new Map<NumericSetting, HTMLInputElement>();
  private readonly syncs = new Map<NumericSetting, () => void>();
  private readonly adaptive: HTMLInputElement;
  private settings: LoadSettings = DEFAULT_LOAD;
  /** The one kind of request the model serves, when it serves only one: it fixes the mix. */
  private only: 'classify' | 'generate' | null = 'classify';

  constructor(
    private readonly generator: LoadGenerator,
    idPrefix: string,
  ) {
    const grid = h('div', { class: 'fields' });
    for (const f of FIELDS) {
      const id = `${idPrefix}-${f.key}`;
      const input = h('input', { id, type: 'range', min: f.min, max: f.max, step: f.step });
      const out = h('output', { for: id });
      const sync = (): void => {
        out.textContent = f.show(Number(input.value));
        input.setAttribute('aria-valuetext', out.textContent);
      };
      input.addEventListener('input', () => {
        sync();
        this.apply({ [f.key]: Number(input.value) });
      });
      this.inputs.set(f.key, input);
      this.syncs.set(f.key, sync);
      grid.append(h('label', { for: id }, f.label), input, out);
    }
    // Off: the rate and bound set are held exactly, however the model copes.
    const adaptiveId = `${idPrefix}-adaptive`;
    this.adaptive = h('input', { id: adaptiveId, type: 'checkbox', title: ADAPTIVE_TITLE });
    this.adaptive.addEventListener('change', () => this.apply({ adaptive: this.adaptive.checked }));
    grid.append(h('label', { for: adaptiveId, title: ADAPTIVE_TITLE }, 'Adapt to the model'), this.adaptive, h('span'));
    this.toggle = h('button', { type: 'button', class: 'primary', 'aria-pressed': 'false' }, 'Start load');
    this.toggle.addEventListener('click', () => (this.generator.running ? this.stop() : this.start()));
    this.counters = h('dl', { class: 'counters' });
    this.errors = h('ul', { class: 'rejections', 'aria-label': 'Rejected or failed requests by error' });
    this.root = h('div', { class: 'load' }, grid, h('div', { class: 'actions' }, this.toggle), this.counters, this.errors);
    this.setSettings(DEFAULT_LOAD);
  }

  setSettings(s: Partial<LoadSettings>): void {
    this.settings = { ...this.settings, ...s };
    if (this.only) this.settings = { ...this.settings, generateFraction: this.only === 'generate' ? 1 : 0 };
    for (const [key, input] of this.inputs) {
      input.value = String(this.settings[key]);
      this.syncs.get(key)?.();
    }
    this.adaptive.checked = this.settings.adaptive;
    this.generator.configure(this.settings);
  }

  /**
   * Caps the tenant slider at what is registered. `only` names the single request kind the
   * model serves (hBERT classifies, hGPT generates); null lets the user mix both.
   */
  setLimits(tenants: number, only: 'classify' | 'generate' | null): void {
    this.only = only;
    const input = this.inputs.get('tenants')!;
    input.max = String(Math.max(1, tenants));
    const gen = this.inputs.get('generateFraction')!;
    gen.disabled = only !== null;
    gen.title = only === 'classify' ? 'This model classifies only (hBERT)' : only === 'generate' ? 'This model generates only (hGPT)' : '';
    this.setSettings({ tenants: Math.max(1, tenants) });
  }

  private apply(s: Partial<LoadSettings>): void {
    this.settings = { ...this.settings, ...s };
    this.generator.configure(this.settings);
  }

  start(): void {
    this.generator.start(this.settings);
    this.render();
  }

  stop(): void {
    this.generator.stop();
    this.render();
  }

  render(): void {
    const running = this.generator.running;
    this.toggle.textContent = running ? 'Stop load' : 'Start load';
    this.toggle.setAttribute('aria-pressed', String(running));
    this.root.classList.toggle('running', running);
    const st = this.generator.stats;
    const rejected = Object.values(st.errors).reduce((a, b) => a + b, 0);
    const items: [string, number, string][] = [
      ['Sent', st.sent, 'sent'],
      ['Completed', st.completed, 'completed'],
      ['In flight', st.inFlight, 'in-flight'],
      ['In-flight limit', st.limit, 'limit'],
      ['Rejected', rejected, 'rejected'],
      ['Shed here', st.shed, 'shed'],
    ];
    this.counters.replaceChildren(
      ...items.map(([label, n, key]) => h('div', { 'data-counter': key }, h('dt', {}, label), h('dd', {}, formatCount(n)))),
    );
    this.errors.replaceChildren(
      ...Object.entries(st.errors)
        .sort((a, b) => b[1] - a[1])
        .map(([name, n]) => h('li', { 'data-error': name }, h('code', {}, name), ` × ${formatCount(n)}`)),
    );
  }
}
