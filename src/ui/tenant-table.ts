/**
 * Every tenant, paginated: thousands of rows would make the DOM the bottleneck, so only one
 * page is ever rendered. Filter by id, domain or kind, sort by any column, state survives
 * refreshes. Trained tenants come first by default and synthetic ones carry a badge saying so.
 */
import type { TenantInfo } from '../runtime/api.js';
import type { TenantCatalog, TenantEntry } from './catalog.js';
import { h } from './dom.js';
import { formatBytes, formatCount, formatMs } from './format.js';

type Key = 'id' | 'kind' | 'domain' | 'residency' | 'rank' | 'bytes' | 'requests' | 'p50Ms' | 'p99Ms';

interface Row {
  readonly info: TenantInfo;
  readonly entry: TenantEntry | undefined;
  /** 0 trained, 1 synthetic: the sort order of the kind column. */
  readonly kind: number;
}

const kindBadge = (r: Row): Node =>
  r.kind === 0
    ? h('span', { class: 'badge badge-trained', title: r.entry?.about || undefined }, 'trained')
    : h('span', { class: 'badge badge-synthetic', title: r.entry?.about || undefined }, 'synthetic');

const COLUMNS: readonly { key: Key; label: string; numeric: boolean; cell(r: Row): Node | string }[] = [
  { key: 'id', label: 'Tenant', numeric: false, cell: (r) => r.info.id },
  { key: 'kind', label: 'Kind', numeric: false, cell: kindBadge },
  { key: 'domain', label: 'Domain', numeric: false, cell: (r) => r.info.domain || 'general' },
  {
    key: 'residency',
    label: 'Residency',
    numeric: false,
    cell: (r) => h('span', { class: `badge badge-${r.info.residency}` }, r.info.residency === 'gpu' ? 'GPU pool' : 'IndexedDB'),
  },
  { key: 'rank', label: 'Rank', numeric: true, cell: (r) => String(r.info.rank) },
  { key: 'bytes', label: 'Size', numeric: true, cell: (r) => formatBytes(r.info.bytes) },
  { key: 'requests', label: 'Requests', numeric: true, cell: (r) => formatCount(r.info.requests) },
  { key: 'p50Ms', label: 'p50', numeric: true, cell: (r) => formatMs(r.info.p50Ms) },
  { key: 'p99Ms', label: 'p99', numeric: true, cell: (r) => formatMs(r.info.p99Ms) },
];

function sortValue(r: Row, key: Key): number | string {
  return key === 'kind' ? r.kind : r.info[key];
}

const PAGE_SIZE = 25;

export class TenantTable {
  readonly root: HTMLElement;
  private rows: readonly Row[] = [];
  private view: Row[] = [];
  private page = 0;
  private sortKey: Key = 'kind';
  private descending = false;
  private filter = '';
  private readonly body: HTMLTableSectionElement;
  private readonly headers = new Map<Key, HTMLElement>();
  private readonly status: HTMLElement;
  private readonly prev: HTMLButtonElement;
  private readonly next: HTMLButtonElement;

  constructor() {
    const search = h('input', { type: 'search', placeholder: 'Filter: tenant, domain, trained, synthetic', 'aria-label': 'Filter tenants' });
    search.addEventListener('input', () => {
      this.filter = search.value.trim().toLowerCase();
      this.page = 0;
      this.render();
    });
    const head = h('tr');
    for (const col of COLUMNS) {
      const button = h('button', { type: 'button', class: 'sort' }, col.label);
      button.addEventListener('click', () => this.sortBy(col.key));
      const th = h('th', { scope: 'col', class: col.numeric ? 'num' : undefined, 'aria-sort': 'none' }, button);
      this.headers.set(col.key, th);
      head.append(th);
    }
    this.body = h('tbody');
    this.prev = h('button', { type: 'button', 'aria-label': 'Previous page' }, '‹');
    this.next = h('button', { type: 'button', 'aria-label': 'Next page' }, '›');
    this.prev.addEventListener('click', () => this.turn(-1));
    this.next.addEventListener('click', () => this.turn(1));
    this.status = h('span', { class: 'muted', 'aria-live': 'polite' });
    this.root = h(
      'div',
      { class: 'tenant-table' },
      h('div', { class: 'toolbar' }, search, h('div', { class: 'pager' }, this.status, this.prev, this.next)),
      h('div', { class: 'table-scroll' }, h('table', { 'aria-label': 'Tenants' }, h('thead', {}, head), this.body)),
    );
    this.render();
  }

  setTenants(rows: readonly TenantInfo[], catalog: TenantCatalog): void {
    this.rows = rows.map((info) => {
      const entry = catalog.get(info.id);
      return { info, entry, kind: entry && !entry.synthetic ? 0 : 1 };
    });
    this.render();
  }

  private sortBy(key: Key): void {
    if (this.sortKey === key) this.descending = !this.descending;
    else {
      this.sortKey = key;
      this.descending = COLUMNS.find((c) => c.key === key)?.numeric ?? false;
    }
    this.render();
  }

  private turn(delta: number): void {
    this.page += delta;
    this.render();
  }

  private render(): void {
    const f = this.filter;
    const kinds = ['trained', 'synthetic'];
    this.view = f
      ? this.rows.filter((r) => r.info.id.toLowerCase().includes(f) || r.info.domain.toLowerCase().includes(f) || kinds[r.kind].startsWith(f))
      : [...this.rows];
    const key = this.sortKey;
    const dir = this.descending ? -1 : 1;
    this.view.sort((a, b) => {
      const x = sortValue(a, key);
      const y = sortValue(b, key);
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), 'en', { numeric: true });
      // Within a kind, the busiest first: what the load generator is doing shows on page one.
      const busier = key === 'kind' ? b.info.requests - a.info.requests : 0;
      return c * dir || busier || a.info.id.localeCompare(b.info.id, 'en', { numeric: true });
    });
    const pages = Math.max(1, Math.ceil(this.view.length / PAGE_SIZE));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    const start = this.page * PAGE_SIZE;
    const slice = this.view.slice(start, start + PAGE_SIZE);
    this.body.replaceChildren(
      ...slice.map((r) =>
        h(
          'tr',
          { 'data-tenant': r.info.id, 'data-kind': kinds[r.kind] },
          ...COLUMNS.map((c) => h('td', { class: c.numeric ? 'num' : undefined }, c.cell(r))),
        ),
      ),
    );
    if (slice.length === 0) {
      this.body.append(h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'empty' }, this.rows.length ? 'No tenant matches the filter.' : 'No tenants registered yet.')));
    }
    for (const [k, th] of this.headers) th.setAttribute('aria-sort', k === key ? (this.descending ? 'descending' : 'ascending') : 'none');
    this.status.textContent = this.view.length
      ? `${formatCount(start + 1)}–${formatCount(start + slice.length)} of ${formatCount(this.view.length)}`
      : '0 tenants';
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
  }
}
