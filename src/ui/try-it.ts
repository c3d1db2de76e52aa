/** Pick a tenant, type text, see that tenant's answer: its label and scores, or streamed text. */
import type { HmiRuntimeApi, RuntimeInfo } from '../runtime/api.js';
import { h } from './dom.js';
import { formatMs, formatPercent } from './format.js';

const SUGGESTIONS = 12;

export class TryItPanel {
  readonly root: HTMLElement;
  private readonly tenant: HTMLInputElement;
  private readonly options: HTMLDataListElement;
  private readonly text: HTMLTextAreaElement;
  private readonly classifyButton: HTMLButtonElement;
  private readonly generateButton: HTMLButtonElement;
  private readonly output: HTMLElement;
  private abort: AbortController | null = null;
  private family: RuntimeInfo['family'] = 'bert';

  constructor(
    private readonly runtime: () => HmiRuntimeApi | null,
    private readonly tenantIds: () => readonly string[],
    idPrefix: string,
  ) {
    const listId = `${idPrefix}-tenants`;
    this.tenant = h('input', { id: `${idPrefix}-tenant`, list: listId, autocomplete: 'off', spellcheck: false, value: '' });
    this.options = h('datalist', { id: listId });
    this.tenant.addEventListener('input', () => this.suggest());
    this.text = h('textarea', { id: `${idPrefix}-text`, rows: 3 });
    this.text.value = 'the delivery arrived two days late and the box was crushed';
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

  /** Called when the tenant list changes: keeps a valid default selected. */
  refresh(): void {
    const ids = this.tenantIds();
    if (!this.tenant.value && ids.length > 0) this.tenant.value = ids[0];
    this.suggest();
  }

  private suggest(): void {
    const q = this.tenant.value.toLowerCase();
    const ids = this.tenantIds();
    const matches: string[] = [];
    for (const id of ids) {
      if (id.toLowerCase().includes(q)) matches.push(id);
      if (matches.length >= SUGGESTIONS) break;
    }
    this.options.replaceChildren(...matches.map((id) => h('option', { value: id })));
  }

  private request(): { rt: HmiRuntimeApi; tenant: string; text: string } | null {
    const rt = this.runtime();
    const tenant = this.tenant.value.trim();
    const text = this.text.value;
    if (!rt) return this.fail('The runtime is not ready yet.');
    if (!tenant) return this.fail('Pick a tenant first.');
    if (!text.trim()) return this.fail('Type some text first.');
    return { rt, tenant, text };
  }

  private fail(message: string, name?: string): null {
    this.output.replaceChildren(h('p', { class: 'error-text' }, name ? h('strong', {}, `${name}: `) : null, message));
    return null;
  }

  private async classify(): Promise<void> {
    const req = this.request();
    if (!req) return;
    this.classifyButton.disabled = true;
    this.output.replaceChildren(h('p', { class: 'muted' }, 'Classifying…'));
    try {
      const r = await req.rt.classify(req.tenant, req.text);
      const bars = r.scores.map((s, i) =>
        h(
          'div',
          { class: `score${i === r.labelIndex ? ' best' : ''}`, role: 'listitem' },
          h('span', { class: 'score-label' }, i === r.labelIndex ? r.label : `#${i}`),
          h('span', { class: 'score-bar' }, h('span', { style: `inline-size:${(s * 100).toFixed(1)}%` })),
          h('span', { class: 'score-value' }, formatPercent(s)),
        ),
      );
      this.output.replaceChildren(
        h('p', { class: 'result' }, h('span', { class: 'muted' }, `${r.tenantId} says `), h('strong', { class: 'label', 'data-label': r.label }, r.label)),
        h('div', { class: 'scores', role: 'list', 'aria-label': 'Scores by label' }, ...bars),
        h('p', { class: 'muted small' }, `${r.tokens} tokens · ${formatMs(r.latencyMs)}`),
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
    this.output.replaceChildren(h('p', { class: 'generated' }, prompt, completion, h('span', { class: 'caret', 'aria-hidden': 'true' })), meta);
    const started = performance.now();
    let tokens = 0;
    try {
      for await (const chunk of req.rt.generate(req.tenant, req.text, { maxTokens: 48, signal: this.abort.signal })) {
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
