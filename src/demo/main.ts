// The demo page: the dashboard on the embedded default model. `?tenants=N`, `?model=URL` and
// `?autostart=0` adjust it without editing the page.
import type { HmiRuntimeApi } from '../runtime/api.js';
import '../ui/dashboard.js';
import { LOAD_TEXTS } from '../ui/load-generator.js';

const dashboard = document.querySelector('hmi-dashboard')!;
const params = new URLSearchParams(location.search);
const model = params.get('model');
const tenants = params.get('tenants');
if (model) dashboard.setAttribute('model', model);
if (tenants) dashboard.setAttribute('tenants', tenants);
if (params.get('autostart') === '0') dashboard.removeAttribute('autostart');

/**
 * Domain knowledge for the demo: the synthetic tenants live in the general domain, whose PLOT
 * is built from the texts the load generator sends, so most tokens skip the lower layers.
 */
async function buildDemoPlot(rt: HmiRuntimeApi): Promise<void> {
  if ((await rt.info()).family !== 'bert') return;
  const general = (await rt.domains.list()).find((d) => d.id === 'general');
  if (general && general.entries === 0) await rt.domains.build('general', LOAD_TEXTS);
}

dashboard.setAttribute('tenant-domains', 'general');
dashboard.addEventListener('hmi-state', (e) => {
  const rt = dashboard.runtime;
  if ((e as CustomEvent<{ state: string }>).detail.state !== 'ready' || !rt) return;
  // The demo works without it (lower layers are computed on a miss), so a failure only logs.
  buildDemoPlot(rt).catch((err: unknown) => console.warn('demo PLOT not built:', err));
});
