/**
 * "What the tenants know": the base model's pretraining, each trained tenant's task, labels and
 * training data (from the bundle's index.json), and the plain statement that synthetic tenants
 * know nothing. A tenant's id opens it in the try-it panel.
 */
import type { TrainedTenant } from './catalog.js';
import { h, present } from './dom.js';
import { formatCount } from './format.js';

/** What the dashboard learned from the model's bundle (or why it has none). */
export interface BundleView {
  /** The base model's entry in the bundle. */
  readonly model: { readonly id: string; readonly trainedOn: string } | null;
  /** The domains the bundle registered, with what their lower layers were adapted on. */
  readonly domains: readonly { readonly id: string; readonly trainedOn: string }[];
  readonly tenants: readonly TrainedTenant[];
  /** Set when the bundle was there but could not be loaded; the synthetic tenants still run. */
  readonly error: Error | null;
}

export const NO_BUNDLE: BundleView = { model: null, domains: [], tenants: [], error: null };

export class KnowledgePanel {
  readonly root = h('div', { class: 'knowledge' });

  constructor(private readonly onTry: (tenant: string) => void) {}

  render(view: BundleView, synthetic: number): void {
    const parts: (HTMLElement | null)[] = [];
    if (view.model) {
      parts.push(h('p', { class: 'base' }, 'Base model ', h('strong', {}, view.model.id), view.model.trainedOn ? `: ${view.model.trainedOn}` : ''));
    }
    if (view.error) {
      parts.push(
        h('p', { class: 'error-text', role: 'alert' }, h('strong', {}, `${view.error.name}: `), `the trained tenants could not be loaded (${view.error.message}); the synthetic ones still run.`),
      );
    }
    if (view.tenants.length) {
      parts.push(this.table(view.tenants));
      parts.push(
        h(
          'p',
          { class: 'muted small accuracy' },
          'How well each trained tenant does when served here (PLOT lower layers, adapter on the upper layers) against a conventional adapter on every layer of the full model: the accuracy table in the README.',
        ),
      );
    } else if (!view.error) {
      parts.push(h('p', { class: 'muted no-bundle' }, 'No trained tenants for this model (no bundle index.json lists it), so every tenant here is synthetic.'));
    }
    parts.push(
      h(
        'p',
        { class: 'synthetic-summary small' },
        h('span', { class: 'badge badge-synthetic' }, 'synthetic'),
        ` ${formatCount(synthetic)} synthetic tenants: random weights, registered to put the runtime under load. Their answers are random by construction.`,
      ),
    );
    this.root.replaceChildren(...present(...parts));
  }

  private table(tenants: readonly TrainedTenant[]): HTMLElement {
    const rows = tenants.map((t) => {
      const open = h('button', { type: 'button', class: 'link', title: `Try ${t.id}` }, t.id);
      open.addEventListener('click', () => this.onTry(t.id));
      return h(
        'tr',
        { 'data-tenant': t.id },
        h('td', {}, open),
        h('td', {}, t.domain),
        h('td', {}, t.task === 'classify' ? t.labels.join(', ') : 'generates text'),
        h('td', { class: 'wrap' }, t.trainedOn),
      );
    });
    const head = h('tr', {}, ...['Tenant', 'Domain', 'Labels / task', 'Trained on'].map((c) => h('th', { scope: 'col' }, c)));
    return h('div', { class: 'table-scroll' }, h('table', { 'aria-label': 'Trained tenants' }, h('thead', {}, head), h('tbody', {}, ...rows)));
  }
}
