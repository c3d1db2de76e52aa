/**
 * Every tenant, paginated: thousands of rows would make the DOM the bottleneck, so only one
 * page is ever rendered. Filter by id or domain, sort by any column, state survives refreshes.
 */
import type { TenantInfo } from '../runtime/api.js';
import { h } from './dom.js';
import { formatBytes, formatCount, formatMs } from './format.js';

type Key = 'id' | 'domain' | 'residency' | 'rank' | 'bytes' | 'requests' | 'p50Ms' | 'p99Ms';

const COLUMNS: readonly { key: Key; label: string; numeric: boolean; cell(t: TenantInfo): Node | string }[] = [
  { key: 'id', label: 'Tenant', numeric: false, cell: (t) => t.id },
  { key: 'domain', label: 'Domain', numeric: false, cell: (t) => t.domain || 'general' },
  {
    key: 'residency',
    label: 'Residency',
    numeric: false,
    cell: (t) => h('span', { class: `badge badge-${t.residency}` }, t.residency === 'gpu' ? 'GPU pool' : 'IndexedDB'),
  },
  { key: 'rank', label: 'Rank', numeric: true, cell: (t) => String(t.rank) },
  { key: 'bytes', label: 'Size', numeric: true, cell: (t) => formatBytes(t.bytes) },
  { key: 'requests', label: 'Requests', numeric: true, cell: (t) => formatCount(t.requests) },
  { key: 'p50Ms', label: 'p50', numeric: true, cell: (t) => formatMs(t.p50Ms) },
  { key: 'p99Ms', label: 'p99', numeric: true, cell: (t) => formatMs(t.p99Ms) },
];

const PAGE_SIZE = 25;

export class TenantTable {
  readonly root: HTMLElement;
  private rows: readonly TenantInfo[] = [];
  private view: TenantInfo[] = [];
  private page = 0;
  private sortKey: Key = 'requests';
  private descending = true;
  private filter = '';
  private readonly body: HTMLTableSectionElement;
  private readonly headers = new Map<Key, HTMLElement>();
  private readonly status: HTMLElement;
  private readonly prev: HTMLButtonElement;
  private readonly next: HTMLButtonElement;

  constructor() {
    const search = h('input', { type: 'search', placeholder: 'Filter by tenant or domain', 'aria-label': 'Filter tenants' });
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

  setTenants(rows: readonly TenantInfo[]): void {
    this.rows = rows;
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
    this.view = f ? this.rows.filter((t) => t.id.toLowerCase().includes(f) || t.domain.toLowerCase().includes(f)) : [...this.rows];
    const key = this.sortKey;
    const dir = this.descending ? -1 : 1;
    this.view.sort((a, b) => {
      const x = a[key];
      const y = b[key];
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), 'en', { numeric: true });
      return c * dir || a.id.localeCompare(b.id, 'en', { numeric: true });
    });
    const pages = Math.max(1, Math.ceil(this.view.length / PAGE_SIZE));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    const start = this.page * PAGE_SIZE;
    const slice = this.view.slice(start, start + PAGE_SIZE);
    this.body.replaceChildren(
      ...slice.map((t) => h('tr', { 'data-tenant': t.id }, ...COLUMNS.map((c) => h('td', { class: c.numeric ? 'num' : undefined }, c.cell(t))))),
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
