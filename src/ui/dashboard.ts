/**
 * <hmi-dashboard>: a live view of a multi-tenant runtime, with its own load generator and a
 * "try it" panel. Importing this module registers the element.
 *
 *   <hmi-dashboard model="/models/hbert-mini/" tenants="1000" autostart></hmi-dashboard>
 *
 * Attributes: `model` (URL of an HF model directory), `tenants` (synthetic tenants to register,
 * default 1000; they persist in IndexedDB), `tenant-domains` (comma-separated domain ids the
 * synthetic tenants are spread over; default none), `autostart` (start the load generator).
 *
 * A "Train a tenant" panel trains a new tenant on the runtime's GPU (tenants.train) from pasted or
 * dropped JSONL/CSV; the tenant it makes is listed as trained, with the bundle's, and offered in
 * Try it.
 *
 * It runs its own runtime in a Worker (from `model`, default the embedded hbert-mini), or shows
 * one it is given (`el.runtime = runtime`). When a bundle index (`<model>/../index.json`, as
 * public/models/ ships) lists the runtime's model, its trained domains and tenants are loaded
 * too (loadBundle), and an own runtime reads the bundle's PLOT; the synthetic tenants, random
 * weights for load, are marked as such wherever tenants are listed. Without a bundle (a custom
 * model) there are synthetic tenants only. Every second it dispatches a bubbling, composed
 * `hmi-metrics` event whose detail is a HmiMetricsDetail. `data-state` on the host tells where
 * it is: loading, registering, ready, error or unsupported.
 */
import type { HmiRuntimeApi, MetricsSnapshot, Progress, RuntimeInfo } from '../runtime/api.js';
import { BUNDLE_INDEX, BUNDLE_VERSION, BundleModelMismatchError, bundleModelFor, bundlePlotSource, loadBundle, parseBundleIndex, type BundleIndex } from '../runtime/bundle.js';
import { createWorkerRuntime } from '../worker/client.js';
import { TenantCatalog, type TrainedTenant } from './catalog.js';
import { ThroughputChart } from './chart.js';
import { h, meter } from './dom.js';
import { DomainTree } from './domain-tree.js';
import { formatBytes, formatCount, formatMs, formatPercent, formatRate } from './format.js';
import { LoadGenerator } from './load-generator.js';
import { LoadPanel } from './load-panel.js';
import { KnowledgePanel, NO_BUNDLE, type BundleView } from './knowledge-panel.js';
import { ErrorView, ProgressView, unsupportedNotice } from './notices.js';
import { DASHBOARD_CSS } from './styles.js';
import { TenantTable } from './tenant-table.js';
import { TrainPanel } from './train-panel.js';
import { TryItPanel } from './try-it.js';

export type DashboardState = 'idle' | 'loading' | 'registering' | 'ready' | 'error' | 'unsupported';

export interface HmiMetricsDetail {
  readonly requestsPerSecond: number;
  readonly tokensPerSecond: number;
  readonly tenantsRegistered: number;
  readonly tenantsResident: number;
  readonly queueDepth: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly poolBytesUsed: number;
  readonly poolBytesTotal: number;
}

const DEFAULT_TENANTS = 1000;
const MODEL_DIR = 'models/hbert-mini/';
const POLL_MS = 1000;
const TENANT_REFRESH_TICKS = 2;

/**
 * In the dev server the model is served from public/ at the site root; in the built library it
 * is copied next to this module (dist/models/), so a page that only copies dist/ finds it.
 */
export function defaultModelUrl(): string {
  return import.meta.env.DEV ? new URL(`/${MODEL_DIR}`, document.baseURI).href : new URL(MODEL_DIR, import.meta.url).href;
}

const withSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);

/** A bundle index and the directory its paths are relative to. */
interface Bundle {
  readonly base: string;
  readonly index: BundleIndex;
}

/**
 * The bundle next to a model directory (`<model>/../index.json`), or null when there is none in
 * this format: no file (a custom model), an older index (the synthetic generator's), or a page a
 * static host serves for any path. A bundle that is there but broken throws BundleFormatError.
 */
async function readBundleNextTo(modelUrl: string): Promise<Bundle | null> {
  const base = new URL('../', withSlash(modelUrl)).href;
  const url = base + BUNDLE_INDEX;
  const res = await fetch(url).catch(() => null);
  if (!res?.ok) return null;
  const json: unknown = await res.json().catch(() => null);
  if (typeof json !== 'object' || json === null || (json as { version?: unknown }).version !== BUNDLE_VERSION) return null;
  return { base, index: parseBundleIndex(json, url) };
}

/** The PLOT the bundle ships for the model at `modelUrl` (an own runtime's createRuntime option). */
function plotSourceFor(bundle: Bundle | null, modelUrl: string): string | undefined {
  const model = bundle?.index.models.find((m) => new URL(m.path, bundle.base).href === withSlash(modelUrl));
  return bundle && model ? bundlePlotSource(bundle.index, model.id, bundle.base) : undefined;
}

let instances = 0;

export class HmiDashboard extends HTMLElement {
  static readonly observedAttributes = ['model', 'tenants', 'tenant-domains'];

  private readonly shadow: ShadowRoot;
  private readonly uid = `hmi${++instances}`;
  private own: HmiRuntimeApi | null = null;
  private given: HmiRuntimeApi | null = null;
  private active: HmiRuntimeApi | null = null;
  private info: RuntimeInfo | null = null;
  private readonly catalog = new TenantCatalog();
  private bundle: BundleView = NO_BUNDLE;
  /** Tenants trained in this element's train panel since it (re)started: known like the bundle's. */
  private trainedHere: TrainedTenant[] = [];
  private shippedPlot: string | null = null;
  private run = 0;
  private started = false;
  private poller: ReturnType<typeof setInterval> | null = null;
  private counters: ReturnType<typeof setInterval> | null = null;
  private polling = false;
  private ticks = 0;
  private current: DashboardState = 'idle';

  private readonly generator: LoadGenerator;
  private readonly progress = new ProgressView();
  private readonly errors: ErrorView;
  private readonly unsupported = unsupportedNotice();
  private readonly pill = h('span', { class: 'pill', role: 'status', 'data-state': 'idle' }, 'idle');
  private readonly modelLine = h('span', { class: 'model' });
  private readonly body: HTMLElement;
  private readonly kpis = new Map<string, HTMLElement>();
  private chart: ThroughputChart | null = null;
  private readonly chartBox = h('div', { class: 'chart', role: 'img', 'aria-label': 'Requests and tokens per second over the last two minutes' });
  private readonly pool = meter('GPU adapter pool');
  private readonly kv = meter('KV cache');
  private readonly memoryStats = h('dl', { class: 'stats' });
  private readonly table = new TenantTable();
  private readonly load: LoadPanel;
  private readonly tryIt: TryItPanel;
  private readonly trainPanel: TrainPanel;
  private readonly knowledge: KnowledgePanel;
  private readonly domainTree = new DomainTree();
  private readonly plotLine = h('p', { class: 'muted small' });
  private readonly infoList = h('dl', { class: 'info' });

  constructor() {
    super();
    this.shadow = this.attachShadow({ mode: 'open' });
    this.generator = new LoadGenerator(
      { classify: (t, x) => this.rt().classify(t, x), generate: (t, x, o) => this.rt().generate(t, x, o) },
      () => this.catalog.loadIds,
      Math.random,
      (e) => this.onRequestError(e),
    );
    this.errors = new ErrorView(() => this.start());
    this.load = new LoadPanel(this.generator, `${this.uid}-load`);
    this.tryIt = new TryItPanel(() => this.active, () => this.catalog, `${this.uid}-try`);
    this.trainPanel = new TrainPanel(
      () => (this.current === 'ready' ? this.active : null),
      () => this.catalog,
      (tenant) => this.onTrained(tenant),
      () => {
        const c = this.chartColors();
        return { loss: c.requests, validation: c.tokens, grid: c.grid, text: c.text };
      },
      `${this.uid}-train`,
    );
    this.knowledge = new KnowledgePanel((id) => {
      this.tryIt.select(id);
      this.shadow.querySelector('.try-card')?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    });

    const kpi = (key: string, label: string): HTMLElement => {
      const value = h('div', { class: 'value', 'data-kpi': key }, '–');
      this.kpis.set(key, value);
      return h('div', { class: 'card kpi' }, value, h('div', { class: 'label' }, label));
    };
    const card = (cls: string, title: string, ...children: (Node | null)[]): HTMLElement =>
      h('section', { class: `card ${cls}`, 'aria-label': title }, h('h2', {}, title), ...children);

    this.body = h(
      'div',
      { class: 'body', hidden: true },
      h(
        'div',
        { class: 'kpis', style: 'margin-bottom: var(--hmi-gap)' },
        kpi('rps', 'requests / s'),
        kpi('tps', 'tokens / s'),
        kpi('p50', 'latency p50'),
        kpi('p99', 'latency p99'),
        kpi('queue', 'queued'),
        kpi('tenants', 'tenants resident / registered'),
      ),
      h(
        'div',
        { class: 'grid' },
        card('span-8 throughput', 'Throughput', this.chartBox),
        card('span-4 memory', 'Memory', this.pool.root, this.kv.root, this.memoryStats),
        card('span-6 load-card', 'Load generator', this.load.root),
        card('span-6 try-card', 'Try it', this.tryIt.root),
        card('span-12 train-card', 'Train a tenant', this.trainPanel.root),
        card('span-12 knowledge-card', 'What the tenants know', this.knowledge.root),
        card('span-12 tenants', 'Tenants', this.table.root),
        card('span-6 domains', 'Domain knowledge', this.plotLine, h('slot', { name: 'domains' }, this.domainTree.root)),
        card('span-6 model-info', 'Model', this.infoList),
      ),
    );
    const style = h('style');
    style.textContent = DASHBOARD_CSS;
    this.shadow.append(
      style,
      h('header', { class: 'top' }, h('span', { class: 'title' }, 'HMI-Web'), this.modelLine, this.pill),
      this.unsupported,
      this.errors.root,
      this.progress.root,
      this.body,
    );
    this.unsupported.hidden = true;
  }

  /** The runtime shown: the one given, or the one this element created. */
  get runtime(): HmiRuntimeApi | null {
    return this.active;
  }

  /** Shows this runtime instead of creating one; `null` goes back to an own runtime. */
  set runtime(rt: HmiRuntimeApi | null) {
    if (rt === this.given) return;
    this.given = rt;
    if (this.started) this.start();
  }

  get state(): DashboardState {
    return this.current;
  }

  /** The bundle's PLOT that the own runtime reads (createRuntime `plotSource`), or null. */
  get plotSource(): string | null {
    return this.shippedPlot;
  }

  /** The load generator, for pages that script the dashboard. */
  get loadGenerator(): LoadGenerator {
    return this.generator;
  }

  connectedCallback(): void {
    // Deferred so that `append(el); el.runtime = rt;` in one task uses rt, not a new worker.
    queueMicrotask(() => {
      if (this.isConnected && !this.started) this.start();
    });
  }

  disconnectedCallback(): void {
    this.started = false;
    this.run++;
    this.halt();
    void this.releaseOwn();
    this.setState('idle');
  }

  attributeChangedCallback(_name: string, old: string | null, value: string | null): void {
    if (old !== value && this.started) this.start();
  }

  /** (Re)starts: creates or adopts the runtime, registers synthetic tenants, begins polling. */
  start(): void {
    this.started = true;
    const run = ++this.run;
    this.halt();
    void this.boot(run);
  }

  private chartColors(): { requests: string; tokens: string; grid: string; text: string } {
    const s = getComputedStyle(this);
    const v = (name: string, fallback: string): string => s.getPropertyValue(name).trim() || fallback;
    return { requests: v('--hmi-accent', '#4f46e5'), tokens: v('--hmi-accent-2', '#0ea5a4'), grid: v('--hmi-border', '#e2e5ee'), text: v('--hmi-muted', '#5d6478') };
  }

  private rt(): HmiRuntimeApi {
    if (!this.active) throw new Error('the dashboard has no runtime');
    return this.active;
  }

  private setState(s: DashboardState, label: string = s): void {
    this.current = s;
    this.dataset.state = s;
    this.pill.dataset.state = s;
    this.pill.textContent = label;
    // Training needs a ready runtime: the panel offers it, or not, with the state.
    this.trainPanel.refresh();
    this.dispatchEvent(new CustomEvent('hmi-state', { detail: { state: s }, bubbles: true, composed: true }));
  }

  private halt(): void {
    this.generator.stop();
    // A training on the runtime being left behind would store a tenant nobody shows.
    this.trainPanel.cancel();
    this.load.render();
    if (this.poller) clearInterval(this.poller);
    if (this.counters) clearInterval(this.counters);
    this.poller = this.counters = null;
  }

  private async releaseOwn(): Promise<void> {
    const own = this.own;
    this.own = null;
    if (this.active === own) this.active = null;
    await own?.dispose().catch(() => undefined);
  }

  private async boot(run: number): Promise<void> {
    const stale = (): boolean => run !== this.run;
    this.errors.hide();
    this.unsupported.hidden = true;
    try {
      await this.releaseOwn();
      if (stale()) return;
      // Read once, for the PLOT option of an own runtime and for the tenants of any runtime.
      const bundleRead = readBundleNextTo(this.modelUrl());
      bundleRead.catch(() => undefined); // awaited below; an error is reported there
      this.shippedPlot = null;
      if (this.given) {
        this.active = this.given;
      } else {
        if (typeof navigator === 'undefined' || !navigator.gpu) {
          this.progress.hide();
          this.body.hidden = true;
          this.unsupported.hidden = false;
          this.setState('unsupported', 'no WebGPU');
          return;
        }
        this.progress.show('Loading model');
        this.setState('loading', 'loading model');
        const model = this.modelUrl();
        this.modelLine.textContent = model;
        // Read first: the runtime takes the bundle's PLOT as an option.
        const plotSource = plotSourceFor(await bundleRead.catch(() => null), model);
        if (stale()) return;
        this.shippedPlot = plotSource ?? null;
        const rt = await createWorkerRuntime({
          model,
          ...(plotSource !== undefined ? { plotSource } : {}),
          onProgress: (p: Progress) => !stale() && this.progress.show('Loading model', p),
        });
        if (stale()) {
          await rt.dispose();
          return;
        }
        this.own = this.active = rt;
      }
      const rt = this.active;
      this.trainedHere = [];
      this.info = await rt.info();
      if (stale()) return;
      this.showInfo(this.info);
      this.trainPanel.setFamily(this.info.family);
      this.progress.show('Registering tenants');
      this.setState('registering', 'registering tenants');
      // Trained knowledge first: a page may spread its synthetic tenants over the bundle's domains.
      this.bundle = await this.loadTrained(rt, this.info, bundleRead, (p) => !stale() && this.progress.show('Loading trained tenants', p));
      if (stale()) return;
      const count = Math.max(0, Math.floor(Number(this.getAttribute('tenants') ?? DEFAULT_TENANTS)) || 0);
      const domains = (this.getAttribute('tenant-domains') ?? '')
        .split(',')
        .map((d) => d.trim())
        .filter(Boolean);
      if (count > 0) {
        const options = domains.length ? { count, domains } : { count };
        await rt.tenants.addSynthetic(options, (p) => !stale() && this.progress.show('Registering tenants', p));
      }
      if (stale()) return;
      await this.refreshTenants(rt);
      if (stale()) return;
      // Also when the tenants are as before (a restart): the bundle's outcome may differ.
      this.knowledge.render(this.knowledgeView(), this.catalog.synthetic.length);
      this.progress.hide();
      this.body.hidden = false;
      // Created once visible and styled, so it has a width and the theme's colors.
      this.chart ??= new ThroughputChart(this.chartBox, this.chartColors());
      this.load.setLimits(this.catalog.size, this.info.family === 'gpt2' ? 'generate' : 'classify');
      this.tryIt.setFamily(this.info.family);
      this.tryIt.refresh();
      this.setState('ready');
      this.poller = setInterval(() => void this.poll(run), POLL_MS);
      this.counters = setInterval(() => this.load.render(), 250);
      void this.poll(run);
      if (this.hasAttribute('autostart')) this.load.start();
    } catch (e) {
      if (!stale()) this.fail(this.current === 'registering' ? 'Could not register the tenants' : 'Could not start the runtime', e);
    }
  }

  private fail(title: string, e: unknown): void {
    this.halt();
    this.progress.hide();
    this.errors.show(title, e);
    this.setState('error');
  }

  private onRequestError(e: unknown): void {
    if (e instanceof Error && e.name === 'WorkerCrashedError' && this.current === 'ready') {
      this.run++;
      this.fail('The runtime worker stopped', e);
    }
  }

  /** The model directory of an own runtime, and where a given runtime's bundle is looked for. */
  private modelUrl(): string {
    return new URL(this.getAttribute('model') || defaultModelUrl(), document.baseURI).href;
  }

  /**
   * Registers the trained domains and tenants of the runtime's model from the bundle next to
   * `model` (`bundleRead`). No bundle, or one for other weights (a custom model), means
   * synthetic tenants only; a bundle that fails to load is shown in the knowledge panel and the
   * dashboard goes on without it, unless the worker died.
   */
  private async loadTrained(rt: HmiRuntimeApi, info: RuntimeInfo, bundleRead: Promise<Bundle | null>, onProgress: (p: Progress) => void): Promise<BundleView> {
    try {
      const bundle = await bundleRead;
      if (!bundle) return NO_BUNDLE;
      try {
        bundleModelFor(bundle.index, info, bundle.base);
      } catch (e) {
        if (e instanceof BundleModelMismatchError) return NO_BUNDLE;
        throw e;
      }
      const loaded = await loadBundle(rt, bundle.base, { onProgress });
      return {
        model: { id: loaded.model.id, trainedOn: loaded.model.trainedOn ?? '' },
        domains: loaded.domains.map((d) => ({ id: d.id, trainedOn: d.trainedOn ?? '' })),
        tenants: loaded.tenants.map((t) => ({
          id: t.id,
          domain: t.domain ?? 'general',
          task: t.task,
          labels: t.labels ?? [],
          trainedOn: t.trainedOn ?? '',
          examples: t.examples ?? [],
        })),
        error: null,
      };
    } catch (e) {
      if (e instanceof Error && e.name === 'WorkerCrashedError') throw e;
      console.warn('hmi-dashboard: the trained tenants were not loaded:', e);
      return { ...NO_BUNDLE, error: e instanceof Error ? e : new Error(String(e)) };
    }
  }

  /** The bundle's view with the tenants trained here added: what the tenants are known to know. */
  private knowledgeView(): BundleView {
    if (this.trainedHere.length === 0) return this.bundle;
    const here = new Set(this.trainedHere.map((t) => t.id));
    return { ...this.bundle, tenants: [...this.bundle.tenants.filter((t) => !here.has(t.id)), ...this.trainedHere] };
  }

  /**
   * A tenant the train panel made: known from now on (labels, examples, what it was trained on),
   * listed at once in the table and Try it (not at the next poll), and selected there.
   */
  private async onTrained(tenant: TrainedTenant): Promise<void> {
    this.trainedHere = [...this.trainedHere.filter((t) => t.id !== tenant.id), tenant];
    const rt = this.active;
    if (!rt) return;
    await this.refreshTenants(rt);
    this.tryIt.select(tenant.id);
  }

  private async refreshTenants(rt: HmiRuntimeApi): Promise<void> {
    const list = await rt.tenants.list();
    const view = this.knowledgeView();
    if (this.catalog.update(list, view.tenants)) {
      this.tryIt.refresh();
      this.knowledge.render(view, this.catalog.synthetic.length);
      this.trainPanel.refresh();
    }
    this.table.setTenants(list, this.catalog);
    // A runtime without a domain tree (e.g. hGPT) still shows its tenants' domains.
    const domains = await rt.domains.list().catch((e: unknown) => {
      if (e instanceof Error && e.name === 'WorkerCrashedError') throw e;
      return [];
    });
    this.trainPanel.setDomains(domains.map((d) => d.id));
    const about = new Map(this.bundle.domains.filter((d) => d.trainedOn).map((d) => [d.id, d.trainedOn]));
    this.domainTree.render(domains, list, { about, isReal: (id) => this.catalog.get(id)?.synthetic === false });
  }

  private async poll(run: number): Promise<void> {
    if (this.polling || run !== this.run || !this.active) return;
    this.polling = true;
    const rt = this.active;
    try {
      const m = await rt.metrics();
      if (run !== this.run) return;
      this.showMetrics(m);
      if (++this.ticks % TENANT_REFRESH_TICKS === 0) await this.refreshTenants(rt);
    } catch (e) {
      if (run === this.run) {
        this.run++;
        this.fail(e instanceof Error && e.name === 'WorkerCrashedError' ? 'The runtime worker stopped' : 'Lost contact with the runtime', e);
      }
    } finally {
      this.polling = false;
    }
  }

  private showMetrics(m: MetricsSnapshot): void {
    const set = (k: string, v: string): void => {
      const el = this.kpis.get(k);
      if (el && el.textContent !== v) el.textContent = v;
    };
    set('rps', formatRate(m.requestsPerSecond));
    set('tps', formatRate(m.tokensPerSecond));
    set('p50', formatMs(m.p50Ms));
    set('p99', formatMs(m.p99Ms));
    set('queue', formatCount(m.queueDepth));
    set('tenants', `${formatCount(m.tenantsResident)} / ${formatCount(m.tenantsRegistered)}`);
    this.chart?.push(Date.now(), m.requestsPerSecond, m.tokensPerSecond);
    this.pool.set(m.poolBytesUsed, m.poolBytesTotal, `${formatBytes(m.poolBytesUsed)} of ${formatBytes(m.poolBytesTotal)}`);
    this.kv.set(m.kvBytesUsed, m.kvBytesTotal, m.kvBytesTotal > 0 ? `${formatBytes(m.kvBytesUsed)} of ${formatBytes(m.kvBytesTotal)}` : 'unused by this model');
    const stats: [string, string][] = [
      ['pool hit rate', formatPercent(m.poolHitRate)],
      ['PLOT hit rate', formatPercent(m.plotHitRate)],
      ['prefetch hidden', formatPercent(m.prefetchHidden)],
      ['uploaded', formatBytes(m.bytesUploaded)],
      ['served', formatCount(m.requestsServed)],
      ['rejected', formatCount(m.requestsRejected)],
      ['device recoveries', formatCount(m.deviceRecoveries)],
      ['training on GPU', m.trainingGpuBytes > 0 ? formatBytes(m.trainingGpuBytes) : 'none'],
      ['tenants on GPU', formatCount(m.tenantsResident)],
    ];
    this.memoryStats.replaceChildren(...stats.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
    this.plotLine.textContent = `PLOT hit rate ${formatPercent(m.plotHitRate)}: share of token positions whose lower-layer output came from a table instead of the GPU.`;
    const detail: HmiMetricsDetail = {
      requestsPerSecond: m.requestsPerSecond,
      tokensPerSecond: m.tokensPerSecond,
      tenantsRegistered: m.tenantsRegistered,
      tenantsResident: m.tenantsResident,
      queueDepth: m.queueDepth,
      p50Ms: m.p50Ms,
      p99Ms: m.p99Ms,
      poolBytesUsed: m.poolBytesUsed,
      poolBytesTotal: m.poolBytesTotal,
    };
    this.dispatchEvent(new CustomEvent<HmiMetricsDetail>('hmi-metrics', { detail, bubbles: true, composed: true }));
  }

  private showInfo(i: RuntimeInfo): void {
    this.modelLine.textContent = `${i.modelId} · ${i.family === 'bert' ? 'hBERT' : 'hGPT'}`;
    const variants = Object.entries(i.matmulVariants)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
    const rows: [string, string][] = [
      ['model', i.modelId],
      ['family', i.family === 'bert' ? 'BERT (classification)' : 'GPT-2 (generation)'],
      ['hash', i.modelHash.slice(0, 16)],
      ['hidden size', String(i.hiddenSize)],
      ['layers', `${i.numLayers} (PLOT below ${i.splitLayer}, adapters from ${i.splitLayer})`],
      ['GPU adapter', i.adapter],
      ['matmul kernels', variants || '–'],
    ];
    this.infoList.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }
}

if (!customElements.get('hmi-dashboard')) customElements.define('hmi-dashboard', HmiDashboard);

declare global {
  interface HTMLElementTagNameMap {
    'hmi-dashboard': HmiDashboard;
  }
  interface HTMLElementEventMap {
    'hmi-metrics': CustomEvent<HmiMetricsDetail>;
  }
}
