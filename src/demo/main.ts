// The demo page: the dashboard on the embedded default model, with its trained tenants (the
// dashboard loads them from models/index.json) and synthetic load tenants. `?tenants=N`,
// `?model=URL` and `?autostart=0` adjust it without editing the page.
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
 * Domain knowledge for the synthetic tenants: they live in the general domain. Its PLOT ships
 * with the trained models; only a model without one (a custom `?model=`) gets a PLOT built here
 * from the texts the load generator sends, so that most tokens skip the lower layers.
 */
async function buildDemoPlot(rt: HmiRuntimeApi): Promise<void> {
  // A shipped PLOT's tables are read when first used, so general may look empty here: never overwrite them.
  if (dashboard.plotSource !== null || (await rt.info()).family !== 'bert') return;
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
