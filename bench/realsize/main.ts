// The Chromium half of `npm run bench -- realsize`: scripts/bench.mjs opens
// /bench/realsize/index.html?bert=<url>&gpt=<url>&options=<json> in headless Chromium (Vite
// serves the checkpoints from bench/realsize-models/) and waits for window.__benchResult.
import { browserEnv } from '../lib/env-browser.js';
import { runRealsize, DEFAULT_REALSIZE_OPTIONS, type RealsizeOptions } from '../lib/realsize.js';

type Outcome = { ok: true; result: unknown } | { ok: false; error: string };
const publish = (o: Outcome): void => {
  (window as unknown as { __benchResult?: Outcome }).__benchResult = o;
};

const log = (msg: string): void => {
  console.log(msg);
  const status = document.getElementById('status');
  if (status) status.textContent = msg;
};

async function main(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const bert = q.get('bert');
  const gpt = q.get('gpt');
  if (!bert || !gpt) throw new Error('the page needs ?bert=<model url>&gpt=<model url>');
  const options: RealsizeOptions = { ...DEFAULT_REALSIZE_OPTIONS, ...(JSON.parse(q.get('options') ?? '{}') as Partial<RealsizeOptions>) };
  const env = { ...browserEnv(log), bertModel: new URL(bert, location.href).href, gptModel: new URL(gpt, location.href).href };
  publish({ ok: true, result: await runRealsize(env, options) });
}

main().catch((e: unknown) => publish({ ok: false, error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) }));
