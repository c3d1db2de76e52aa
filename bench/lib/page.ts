/**
 * A bench page's side of the handshake with scripts/bench.mjs: `body` runs once with the page's
 * query and a logger (console and #status), and its result, or its error, is published as
 * window.__benchResult, which the script polls for.
 */
type Outcome = { ok: true; result: unknown } | { ok: false; error: string };

export type PageLog = (msg: string) => void;

export function runBenchPage(body: (query: URLSearchParams, log: PageLog) => Promise<unknown>): void {
  const publish = (o: Outcome): void => {
    (window as unknown as { __benchResult?: Outcome }).__benchResult = o;
  };
  const log: PageLog = (msg) => {
    console.log(msg);
    const status = document.getElementById('status');
    if (status) status.textContent = msg;
  };
  body(new URLSearchParams(location.search), log).then(
    (result) => publish({ ok: true, result }),
    (e: unknown) => publish({ ok: false, error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) }),
  );
}
