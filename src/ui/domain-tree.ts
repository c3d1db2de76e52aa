/**
 * The domain knowledge tree: each node with its tenants, how full its PLOT is and how often it
 * answers, and (for a trained bundle's domains) what its lower layers were adapted on. Tenants
 * whose domain is not a node (e.g. "no PLOT, all layers") get a row of their own.
 */
import type { DomainInfo, TenantInfo } from '../runtime/api.js';
import { h } from './dom.js';
import { formatBytes, formatCount, formatPercent } from './format.js';

interface Counts {
  tenants: number;
  resident: number;
  /** Ids of its real (non-synthetic) tenants: few, so each is named under its node. */
  named: string[];
}

export interface DomainTreeExtras {
  /** What each domain was trained on, by id (a bundle's domains; others have none). */
  readonly about?: ReadonlyMap<string, string>;
  /** Whether a tenant is real (named under its domain) rather than synthetic (only counted). */
  readonly isReal?: (tenantId: string) => boolean;
}

/** Whose lower layers the node runs, and whether its misses take an ancestor's entries. */
function layersNote(d: DomainInfo): string {
  const weights = d.scope.startsWith('w:') ? d.scope.slice(2) : d.scope;
  const layers = weights === d.id ? ' · own lower layers' : d.parent !== null && d.scope !== 'base' && weights !== 'general' ? ` · ${weights}'s lower layers` : '';
  return `${layers}${d.policy === 'inherit' ? ' · misses inherit' : ''}`;
}

/** Names the node's real tenants (a few); synthetic ones, thousands, are only counted. */
function named(c: Counts | undefined): HTMLElement | null {
  if (!c?.named.length) return null;
  const ids = [...c.named].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return h('span', { class: 'named small' }, ...ids.map((id) => h('span', { class: 'badge badge-trained', 'data-tenant': id }, id)));
}

export class DomainTree {
  readonly root = h('ul', { class: 'domain-tree', role: 'tree', 'aria-label': 'Domain knowledge tree' });

  render(domains: readonly DomainInfo[], tenants: readonly TenantInfo[], extras: DomainTreeExtras = {}): void {
    const about = extras.about ?? new Map<string, string>();
    const counts = new Map<string, Counts>();
    for (const t of tenants) {
      const c = counts.get(t.domain) ?? { tenants: 0, resident: 0, named: [] };
      c.tenants++;
      if (t.residency === 'gpu') c.resident++;
      if (extras.isReal?.(t.id)) c.named.push(t.id);
      counts.set(t.domain, c);
    }
    const children = new Map<string | null, DomainInfo[]>();
    const known = new Set(domains.map((d) => d.id));
    for (const d of domains) {
      const parent = d.parent !== null && known.has(d.parent) ? d.parent : null;
      const list = children.get(parent) ?? [];
      list.push(d);
      children.set(parent, list);
    }
    const rows: HTMLElement[] = [];
    const walk = (parent: string | null, depth: number): void => {
      for (const d of (children.get(parent) ?? []).sort((a, b) => a.id.localeCompare(b.id))) {
        rows.push(this.node(d, counts.get(d.id), depth, about.get(d.id)));
        walk(d.id, depth + 1);
      }
    };
    walk(null, 0);
    for (const [id, c] of counts) if (!known.has(id)) rows.push(this.bare(id, c));
    this.root.replaceChildren(...rows);
    if (rows.length === 0) this.root.append(h('li', { class: 'muted' }, 'No domains yet.'));
  }

  private node(d: DomainInfo, c: Counts | undefined, depth: number, about: string | undefined): HTMLElement {
    const fill = d.budgetEntries > 0 ? Math.min(1, d.entries / d.budgetEntries) : 0;
    return h(
      'li',
      { role: 'treeitem', 'aria-level': depth + 1, 'data-domain': d.id, style: `--depth:${depth}` },
      h('span', { class: 'tree' }, depth > 0 ? '└ ' : '', h('strong', {}, d.id), h('span', { class: 'muted small' }, layersNote(d))),
      h('span', { class: 'muted small' }, `${formatCount(c?.tenants ?? 0)} tenants · ${formatCount(c?.resident ?? 0)} on GPU`),
      h(
        'span',
        { class: 'plot', title: `${formatCount(d.entries)} of ${formatCount(d.budgetEntries)} PLOT entries, ${formatBytes(d.bytes)}` },
        h('span', { class: 'plot-bar' }, h('span', { style: `inline-size:${(fill * 100).toFixed(1)}%` })),
        `${formatCount(d.entries)} entries · ${d.lookups > 0 ? `${formatPercent(d.hitRate)} hits` : 'no lookups yet'}`,
      ),
      about ? h('span', { class: 'about muted small' }, about) : null,
      named(c),
    );
  }

  private bare(id: string, c: Counts): HTMLElement {
    return h(
      'li',
      { role: 'treeitem', 'aria-level': 1, 'data-domain': id, style: '--depth:0' },
      h('span', { class: 'tree' }, h('strong', {}, id)),
      h('span', { class: 'muted small' }, `${formatCount(c.tenants)} tenants · ${formatCount(c.resident)} on GPU`),
      h('span', { class: 'plot muted small' }, 'no PLOT: lower layers computed'),
      named(c),
    );
  }
}
