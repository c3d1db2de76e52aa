// The Chromium half of `npm run bench -- realsize`: scripts/bench.mjs opens
// /bench/realsize/index.html?bert=<url>&gpt=<url>&options=<json> in headless Chromium (Vite
// serves the checkpoints from bench/realsize-models/) and waits for window.__benchResult.
import { browserEnv } from '../lib/env-browser.js';
import { runRealsize, DEFAULT_REALSIZE_OPTIONS, type RealsizeOptions } from '../lib/realsize.js';
import { runBenchPage } from '../lib/page.js';

runBenchPage(async (q, log) => {
  const bert = q.get('bert');
  const gpt = q.get('gpt');
  if (!bert || !gpt) throw new Error('the page needs ?bert=<model url>&gpt=<model url>');
  const options: RealsizeOptions = { ...DEFAULT_REALSIZE_OPTIONS, ...(JSON.parse(q.get('options') ?? '{}') as Partial<RealsizeOptions>) };
  const env = { ...browserEnv(log), bertModel: new URL(bert, location.href).href, gptModel: new URL(gpt, location.href).href };
  return await runRealsize(env, options);
});
