/**
 * Pick a tenant, type text (or click one of a trained tenant's examples), see that tenant's
 * answer: every label's name and score, or streamed text. Trained tenants are offered first;
 * synthetic ones are marked, and their answers are said to be random, which they are.
 */
import type { HmiRuntimeApi, RuntimeInfo } from '../runtime/api.js';
import { labelNames, type TenantCatalog, type TenantEntry } from './catalog.js';
import { h, present } from './dom.js';
import { formatMs, formatPercent } from './format.js';

const SUGGESTIONS = 12;
const DEFAULT_TEXT = 'the delivery arrived two days late and the box was crushed';
const GENERATE_TOKENS = 48;
/** Sampled rather than greedy: a small model's greedy continuation soon repeats itself. */
const SAMPLING = { temperature: 0.8, topK: 40 } as const;

export class TryItPanel {
  readonly root: HTMLElement;
  private readonly tenant: HTMLInputElement;
  private readonly options: HTMLDataListElement;
  private readonly picks: HTMLElement;
  private readonly about: HTMLElement;
  private readonly examples: HTMLElement;
  private readonly text: HTMLTextAreaElement;
  private readonly classifyButton: HTMLButtonElement;
  private readonly generateButton: HTMLButtonElement;
  private readonly output: HTMLElement;
  private abort: AbortController | null = null;
  private family: RuntimeInfo['family'] = 'bert';
  /** The text is one the panel put there (default or example), so choosing a tenant may replace it. */
  private textIsOurs = true;
  private described = '';

  constructor(
    private readonly runtime: () => HmiRuntimeApi | null,
    private readonly catalog: () => TenantCatalog,
    idPrefix: string,
  ) {
    const listId = `${idPrefix}-tenants`;
    this.tenant = h('input', { id: `${idPrefix}-tenant`, list: listId, autocomplete: 'off', spellcheck: false, value: '' });
    this.options = h('datalist', { id: listId });
    this.tenant.addEventListener('input', () => {
      this.suggest();
      this.describe();
    });
    this.picks = h('div', { class: 'picks', role: 'group', 'aria-label': 'Trained tenants' });
    this.about = h('p', { class: 'tenant-about small', 'aria-live': 'polite' });
    this.examples = h('div', { class: 'examples', role: 'group', 'aria-label': 'Examples' });
    this.text = h('textarea', { id: `${idPrefix}-text`, rows: 3 });
    this.text.value = DEFAULT_TEXT;
    this.text.addEventListener('input', () => (this.textIsOurs = false));
    this.classifyButton = h('button', { type: 'button', class: 'primary' }, 'Classify');
    this.generateButton = h('button', { type: 'button' }, 'Generate');
    this.classifyButton.addEventListener('click', () => void this.classify());
    this.generateButton.addEventListener('click', () => void (this.abort ? this.stop() : this.generate()));
    this.output = h('div', { class: 'try-output', 'aria-live': 'polite', role: 'status' });
    this.root = h(
      'div',
      { class: 'try-it' },
      h('label', { for: this.tenant.id }, 'Tenant'),
      this.tenant,
      this.options,
      this.picks,
      this.about,
      this.examples,
      h('label', { for: this.text.id }, 'Text'),
      this.text,
      h('div', { class: 'actions' }, this.classifyButton, this.generateButton),
      this.output,
    );
    this.setFamily('bert');
  }

  /** Classification needs an hBERT head, generation an hGPT LM head. */
  setFamily(family: RuntimeInfo['family']): void {
    this.family = family;
    this.classifyButton.disabled = family !== 'bert';
    this.generateButton.disabled = family !== 'gpt2';
    this.classifyButton.title = family === 'bert' ? '' : 'Classification needs a BERT model';
    this.generateButton.title = family === 'gpt2' ? '' : 'Generation needs a GPT-2 model';
    this.classifyButton.classList.toggle('primary', family === 'bert');
    this.generateButton.classList.toggle('primary', family === 'gpt2');
  }

  /** Called when the tenants change: keeps a valid tenant selected, a trained one by preference. */
  refresh(): void {
    const cat = this.catalog();
    const current = this.tenant.value.trim();
    if (!current || !cat.get(current)) {
      const first = cat.real[0]?.id ?? cat.synthetic[0];
      if (first !== undefined) this.tenant.value = first;
    }
    this.picks.replaceChildren(
      ...(cat.real.length ? [h('span', { class: 'muted small' }, 'Trained:')] : []),
      ...cat.real.map((e) => {
        const b = h('button', { type: 'button', class: 'chip', 'data-tenant': e.id, title: e.about || undefined }, e.id);
        b.addEventListener('click', () => this.select(e.id));
        return b;
      }),
    );
    this.picks.hidden = cat.real.length === 0;
    this.suggest();
    this.described = '';
    this.describe();
  }

  /** Selects a tenant, as if picked by the user. */
  select(id: string): void {
    this.tenant.value = id;
    this.suggest();
    this.describe();
  }

  private suggest(): void {
    const matches = this.catalog().suggest(this.tenant.value, SUGGESTIONS);
    this.options.replaceChildren(
      ...matches.map((e) => h('option', { value: e.id, label: e.synthetic ? `synthetic · random weights · ${e.domain}` : `trained · ${e.domain}` })),
    );
  }

  /** Says what the selected tenant is, and offers its examples. */
  private describe(): void {
    const id = this.tenant.value.trim();
    if (id === this.described) return;
    this.described = id;
    for (const b of this.picks.querySelectorAll<HTMLElement>('button[data-tenant]')) b.setAttribute('aria-pressed', String(b.dataset.tenant === id));
    const e = this.catalog().get(id);
    this.examples.replaceChildren();
    this.examples.hidden = true;
    if (!e) {
      this.about.replaceChildren(id ? h('span', { class: 'muted' }, `No tenant "${id}" is registered.`) : '');
      return;
    }
    this.about.replaceChildren(
      ...present(
      h('span', { class: `badge badge-${e.synthetic ? 'synthetic' : 'trained'}` }, e.synthetic ? 'synthetic' : 'trained'),
      ' ',
      h('span', { class: 'muted' }, `domain ${e.domain}`),
      e.labels.length ? h('span', { class: 'muted' }, ` · labels ${e.labels.join(', ')}`) : null,
      e.about ? h('span', { class: 'about-text' }, ` · ${e.about}`) : null,
      ),
    );
    if (e.examples.length) {
      this.examples.hidden = false;
      this.examples.append(
        h('span', { class: 'muted small' }, 'Examples:'),
        ...e.examples.map((x) => {
          const b = h('button', { type: 'button', class: 'chip example', title: x }, x);
          b.addEventListener('click', () => this.runExample(x));
          return b;
        }),
      );
      if (this.textIsOurs) this.text.value = e.examples[0];
    } else if (this.textIsOurs) {
      this.text.value = DEFAULT_TEXT;
    }
  }

  /** One click: the example becomes the text and the model answers it. */
  private runExample(text: string): void {
    this.text.value = text;
    this.textIsOurs = true;
    if (this.family === 'bert') void this.classify();
    else if (!this.abort) void this.generate();
  }

  private request(): { rt: HmiRuntimeApi; tenant: string; text: string; entry: TenantEntry | undefined } | null {
    const rt = this.runtime();
    const tenant = this.tenant.value.trim();
    const text = this.text.value;
    if (!rt) return this.fail('The runtime is not ready yet.');
    if (!tenant) return this.fail('Pick a tenant first.');
    if (!text.trim()) return this.fail('Type some text first.');
    return { rt, tenant, text, entry: this.catalog().get(tenant) };
  }

  private fail(message: string, name?: string): null {
    this.output.replaceChildren(h('p', { class: 'error-text' }, name ? h('strong', {}, `${name}: `) : null, message));
    return null;
  }

  /** Synthetic tenants' answers mean nothing; the panel says so next to every one of them. */
  private syntheticNote(entry: TenantEntry | undefined, tenant: string): HTMLElement | null {
    if (!entry?.synthetic) return null;
    return h('p', { class: 'synthetic-note small' }, `${tenant} is synthetic: its weights are random, so this answer is random by construction.`);
  }

  private async classify(): Promise<void> {
    const req = this.request();
    if (!req) return;
    this.classifyButton.disabled = true;
    this.output.replaceChildren(h('p', { class: 'muted' }, 'Classifying…'));
    try {
      // A text longer than the model's positions is cut to fit, as a classifier pipeline does.
      const r = await req.rt.classify(req.tenant, req.text, { truncate: true });
      const names = labelNames(r, req.entry?.labels ?? []);
      const bars = r.scores.map((s, i) =>
        h(
          'div',
          { class: `score${i === r.labelIndex ? ' best' : ''}`, role: 'listitem', 'data-label': names[i] },
          h('span', { class: 'score-label', title: names[i] }, names[i]),
          h('span', { class: 'score-bar' }, h('span', { style: `inline-size:${(s * 100).toFixed(1)}%` })),
          h('span', { class: 'score-value' }, formatPercent(s)),
        ),
      );
      this.output.replaceChildren(
        ...present(
        h('p', { class: 'result' }, h('span', { class: 'muted' }, `${r.tenantId} says `), h('strong', { class: 'label', 'data-label': r.label }, r.label)),
        h('div', { class: 'scores', role: 'list', 'aria-label': 'Scores by label' }, ...bars),
        h('p', { class: 'muted small' }, `${r.tokens} tokens · ${formatMs(r.latencyMs)}`),
        this.syntheticNote(req.entry, req.tenant),
        ),
      );
    } catch (e) {
      this.fail(e instanceof Error ? e.message : String(e), e instanceof Error ? e.name : undefined);
    } finally {
      this.classifyButton.disabled = this.family !== 'bert';
    }
  }

  private stop(): void {
    this.abort?.abort();
  }

  private async generate(): Promise<void> {
    const req = this.request();
    if (!req) return;
    this.abort = new AbortController();
    this.generateButton.textContent = 'Stop';
    const prompt = h('span', { class: 'prompt' }, req.text);
    const completion = h('span', { class: 'completion' });
    const meta = h('p', { class: 'muted small' }, 'Generating…');
    this.output.replaceChildren(
      ...present(h('p', { class: 'generated' }, prompt, completion, h('span', { class: 'caret', 'aria-hidden': 'true' })), meta, this.syntheticNote(req.entry, req.tenant)),
    );
    const started = performance.now();
    let tokens = 0;
    try {
      const options = { maxTokens: GENERATE_TOKENS, ...SAMPLING, seed: Math.floor(Math.random() * 2 ** 31), signal: this.abort.signal };
      for await (const chunk of req.rt.generate(req.tenant, req.text, options)) {
        if (!chunk.done || chunk.text) {
          completion.textContent += chunk.text;
          tokens++;
        }
        if (chunk.done) meta.textContent = `${tokens} tokens · ${formatMs(performance.now() - started)} · ${chunk.finishReason ?? 'done'}`;
      }
    } catch (e) {
      this.fail(e instanceof Error ? e.message : String(e), e instanceof Error ? e.name : undefined);
    } finally {
      this.abort = null;
      this.generateButton.textContent = 'Generate';
      this.output.querySelector('.caret')?.remove();
    }
  }
}
