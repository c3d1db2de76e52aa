// The dashboard's stylesheet, scoped by its shadow root. Theme through the --hmi-* custom
// properties on the host (they inherit through the shadow boundary).
import uplotCss from 'uplot/dist/uPlot.min.css?inline';

const css = /* css */ `
:host {
  --hmi-font: ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  --hmi-mono: ui-monospace, "SF Mono", "Cascadia Mono", Menlo, Consolas, monospace;
  --hmi-bg: #f6f7fb;
  --hmi-surface: #ffffff;
  --hmi-fg: #14161f;
  --hmi-muted: #5d6478;
  --hmi-border: #e2e5ee;
  --hmi-accent: #4f46e5;
  --hmi-accent-2: #0ea5a4;
  --hmi-ok: #16a34a;
  --hmi-warn: #d97706;
  --hmi-danger: #dc2626;
  --hmi-radius: 12px;
  --hmi-gap: 16px;
  display: block;
  container-type: inline-size;
  font: 14px/1.45 var(--hmi-font);
  color: var(--hmi-fg);
  background: var(--hmi-bg);
  border-radius: calc(var(--hmi-radius) + 4px);
  padding: var(--hmi-gap);
  -webkit-font-smoothing: antialiased;
}
@media (prefers-color-scheme: dark) {
  :host {
    --hmi-bg: #0e1016;
    --hmi-surface: #161922;
    --hmi-fg: #e8eaf2;
    --hmi-muted: #9aa1b5;
    --hmi-border: #262b38;
    --hmi-accent: #818cf8;
    --hmi-accent-2: #2dd4bf;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
h2 { font-size: 13px; font-weight: 600; letter-spacing: .04em; text-transform: uppercase; color: var(--hmi-muted); margin: 0 0 12px; }
.muted { color: var(--hmi-muted); }
.small { font-size: 12px; }
code, .mono { font-family: var(--hmi-mono); font-size: 12.5px; }
button, input, textarea, select { font: inherit; color: inherit; }
button {
  border: 1px solid var(--hmi-border); background: var(--hmi-surface); border-radius: 8px;
  padding: 6px 14px; cursor: pointer; transition: background .15s, border-color .15s;
}
button:hover:not(:disabled) { border-color: var(--hmi-accent); }
button:disabled { opacity: .45; cursor: not-allowed; }
button.primary { background: var(--hmi-accent); border-color: var(--hmi-accent); color: #fff; font-weight: 600; }
button.primary:hover:not(:disabled) { filter: brightness(1.08); }
:focus-visible { outline: 2px solid var(--hmi-accent); outline-offset: 2px; }
input[type=search], input:not([type]), textarea {
  inline-size: 100%; border: 1px solid var(--hmi-border); border-radius: 8px; padding: 7px 10px;
  background: var(--hmi-bg);
}
textarea { resize: vertical; }
input[type=range] { accent-color: var(--hmi-accent); inline-size: 100%; }

header.top { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; margin-bottom: var(--hmi-gap); }
header.top .title { font-size: 18px; font-weight: 700; letter-spacing: -.01em; }
header.top .model { color: var(--hmi-muted); font-family: var(--hmi-mono); font-size: 12.5px; }
.pill { display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; background: var(--hmi-surface); border: 1px solid var(--hmi-border); margin-inline-start: auto; }
.pill::before { content: ""; inline-size: 8px; block-size: 8px; border-radius: 50%; background: var(--hmi-muted); }
.pill[data-state=ready]::before { background: var(--hmi-ok); box-shadow: 0 0 0 3px color-mix(in srgb, var(--hmi-ok) 25%, transparent); }
.pill[data-state=loading]::before, .pill[data-state=registering]::before { background: var(--hmi-warn); animation: pulse 1s infinite alternate; }
.pill[data-state=error]::before, .pill[data-state=unsupported]::before { background: var(--hmi-danger); }
@keyframes pulse { to { opacity: .3; } }

.card { background: var(--hmi-surface); border: 1px solid var(--hmi-border); border-radius: var(--hmi-radius); padding: 16px; min-inline-size: 0; }
.grid { display: grid; gap: var(--hmi-gap); grid-template-columns: repeat(12, minmax(0, 1fr)); }
.span-12 { grid-column: span 12; } .span-8 { grid-column: span 8; } .span-6 { grid-column: span 6; } .span-4 { grid-column: span 4; }
@container (max-width: 900px) { .span-8, .span-6, .span-4 { grid-column: span 12; } }

.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: var(--hmi-gap); }
.kpi { padding: 12px 16px; }
.kpi .value { font-size: clamp(18px, 2.1cqi, 26px); font-weight: 700; letter-spacing: -.02em; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kpi .label { color: var(--hmi-muted); font-size: 12px; }

.progress { margin-bottom: var(--hmi-gap); }
.progress .bar { block-size: 8px; border-radius: 999px; background: var(--hmi-border); overflow: hidden; margin-top: 8px; }
.progress .bar span { display: block; block-size: 100%; inline-size: 0; background: linear-gradient(90deg, var(--hmi-accent), var(--hmi-accent-2)); transition: inline-size .2s; }
.progress .bar.indeterminate span { inline-size: 30%; animation: slide 1.2s infinite ease-in-out; }
@keyframes slide { from { transform: translateX(-100%); } to { transform: translateX(340%); } }

.notice { border-color: color-mix(in srgb, var(--hmi-danger) 45%, var(--hmi-border)); background: color-mix(in srgb, var(--hmi-danger) 6%, var(--hmi-surface)); margin-bottom: var(--hmi-gap); }
.notice h3 { margin: 0 0 6px; font-size: 15px; }
.notice p { margin: 4px 0 10px; }
.notice.unsupported { border-color: color-mix(in srgb, var(--hmi-warn) 45%, var(--hmi-border)); background: color-mix(in srgb, var(--hmi-warn) 7%, var(--hmi-surface)); }
.notice ul { margin: 6px 0 0; padding-inline-start: 20px; }
.error-text { color: var(--hmi-danger); }

.meter-row { display: grid; grid-template-columns: 1fr auto; gap: 4px 8px; margin-bottom: 12px; }
.meter-label { font-weight: 600; }
.meter-value { color: var(--hmi-muted); font-variant-numeric: tabular-nums; font-size: 12.5px; }
.meter { grid-column: 1 / -1; block-size: 10px; border-radius: 999px; background: var(--hmi-border); overflow: hidden; }
.meter-fill { display: block; block-size: 100%; inline-size: 0; background: var(--hmi-accent); transition: inline-size .3s; border-radius: inherit; }
.meter-row:nth-of-type(2) .meter-fill { background: var(--hmi-accent-2); }
.stats { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; margin: 8px 0 0; }
.stats div { background: var(--hmi-bg); border-radius: 8px; padding: 8px 10px; }
.stats dt { color: var(--hmi-muted); font-size: 12px; }
.stats dd { margin: 0; font-weight: 650; font-variant-numeric: tabular-nums; }

.chart { min-block-size: 250px; }
.uplot { font-family: var(--hmi-font); }
.u-legend { font-size: 12px; color: var(--hmi-muted); }

.load .fields { display: grid; grid-template-columns: max-content 1fr 5ch; align-items: center; gap: 8px 12px; }
.load output { font-variant-numeric: tabular-nums; text-align: end; color: var(--hmi-muted); }
.actions { display: flex; gap: 8px; margin: 14px 0 8px; flex-wrap: wrap; }
.load.running button.primary { background: var(--hmi-danger); border-color: var(--hmi-danger); }
.load input[type=checkbox] { justify-self: start; accent-color: var(--hmi-accent); }
.counters { display: grid; grid-template-columns: repeat(auto-fit, minmax(9ch, 1fr)); gap: 6px; margin: 0; }
.counters div { background: var(--hmi-bg); border-radius: 8px; padding: 6px 8px; }
.counters dt { font-size: 11px; color: var(--hmi-muted); }
.counters dd { margin: 0; font-weight: 650; font-variant-numeric: tabular-nums; }
.rejections { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 6px; }
.rejections li { background: color-mix(in srgb, var(--hmi-warn) 14%, transparent); border-radius: 6px; padding: 2px 8px; font-size: 12px; }

.try-it { display: grid; grid-template-columns: minmax(0, 1fr); gap: 6px; }
.try-it label { font-weight: 600; font-size: 12.5px; }
.try-output { min-block-size: 64px; overflow-wrap: anywhere; }
.try-output .result { margin: 6px 0; font-size: 15px; }
.try-output .label { color: var(--hmi-accent); }
.scores { display: grid; gap: 4px; }
.score { display: grid; grid-template-columns: minmax(6ch, 22ch) 1fr 5ch; gap: 8px; align-items: center; font-size: 12.5px; }
.score-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.score-bar { block-size: 8px; background: var(--hmi-border); border-radius: 999px; overflow: hidden; }
.score-bar span { display: block; block-size: 100%; background: var(--hmi-muted); border-radius: inherit; }
.score.best .score-bar span { background: var(--hmi-accent); }
.score-value { text-align: end; font-variant-numeric: tabular-nums; color: var(--hmi-muted); }
.picks, .examples { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
button.chip { padding: 2px 10px; border-radius: 999px; font-size: 12.5px; max-inline-size: 100%; }
button.chip[aria-pressed=true] { border-color: var(--hmi-accent); background: color-mix(in srgb, var(--hmi-accent) 12%, var(--hmi-surface)); }
button.chip.example { max-inline-size: 32ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; text-align: start; }
.tenant-about { margin: 2px 0; }
.synthetic-note { color: var(--hmi-warn); margin: 6px 0 0; }
.generated .prompt { color: var(--hmi-muted); }
.generated .completion { font-weight: 600; }
.caret { display: inline-block; inline-size: .5em; block-size: 1em; background: var(--hmi-accent); vertical-align: text-bottom; animation: pulse .6s infinite alternate; }

.train { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 7fr); gap: var(--hmi-gap); }
@container (max-width: 900px) { .train { grid-template-columns: minmax(0, 1fr); } }
.train-form { display: grid; grid-template-columns: minmax(0, 1fr); gap: 6px; align-content: start; }
.train label { font-weight: 600; font-size: 12.5px; }
.train textarea { font-family: var(--hmi-mono); font-size: 12.5px; }
.drop { position: relative; border: 1px dashed var(--hmi-border); border-radius: 8px; padding: 10px; text-align: center; color: var(--hmi-muted); font-size: 12.5px; transition: background .15s, border-color .15s; }
.drop.over { border-color: var(--hmi-accent); background: color-mix(in srgb, var(--hmi-accent) 8%, var(--hmi-surface)); }
.drop.disabled { opacity: .45; }
.drop .file-pick { color: var(--hmi-accent); text-decoration: underline; cursor: pointer; font-weight: 600; }
.drop input[type=file] { position: absolute; inline-size: 1px; block-size: 1px; opacity: 0; overflow: hidden; }
.data-status { margin: 0; min-block-size: 1.45em; overflow-wrap: anywhere; }
.train-fields { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 3fr) repeat(3, minmax(0, 2fr)); gap: 8px; margin-top: 4px; }
@container (max-width: 560px) { .train-fields { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.train-fields .field { display: grid; gap: 4px; align-content: start; }
.train-fields input, .train-fields select { inline-size: 100%; border: 1px solid var(--hmi-border); border-radius: 8px; padding: 6px 8px; background: var(--hmi-bg); font-variant-numeric: tabular-nums; }
.train-view { min-inline-size: 0; }
.chart.train-chart { min-block-size: 240px; }
.train-status { font-variant-numeric: tabular-nums; margin: 8px 0 0; }
.train[data-state=error] .train-status { color: var(--hmi-danger); }
.train-outcome p { margin: 6px 0 0; }

.toolbar { display: flex; gap: 12px; align-items: center; justify-content: space-between; margin-bottom: 8px; flex-wrap: wrap; }
.toolbar input { max-inline-size: 320px; }
.pager { display: flex; align-items: center; gap: 6px; font-variant-numeric: tabular-nums; }
.pager button { padding: 2px 10px; }
.table-scroll { overflow-x: auto; }
table { inline-size: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: start; padding: 6px 10px; border-bottom: 1px solid var(--hmi-border); white-space: nowrap; }
th { font-size: 12px; color: var(--hmi-muted); font-weight: 600; }
th button.sort { border: 0; background: none; padding: 0; font-weight: inherit; color: inherit; }
th[aria-sort=ascending] button::after { content: " ▲"; font-size: 9px; }
th[aria-sort=descending] button::after { content: " ▼"; font-size: 9px; }
.num { text-align: end; }
td.empty { text-align: center; color: var(--hmi-muted); padding: 20px; }
tbody tr:hover { background: var(--hmi-bg); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11.5px; font-weight: 600; }
.badge-gpu { background: color-mix(in srgb, var(--hmi-accent) 16%, transparent); color: var(--hmi-accent); }
.badge-store { background: var(--hmi-bg); color: var(--hmi-muted); border: 1px solid var(--hmi-border); }
.badge-trained { background: color-mix(in srgb, var(--hmi-ok) 16%, transparent); color: var(--hmi-ok); }
.badge-synthetic { background: color-mix(in srgb, var(--hmi-warn) 16%, transparent); color: var(--hmi-warn); }

.domain-tree { list-style: none; margin: 0; padding: 0; }
.domain-tree li { display: grid; grid-template-columns: 1fr auto; gap: 2px 12px; padding: 8px 0 8px calc(var(--depth, 0) * 18px); border-bottom: 1px dashed var(--hmi-border); }
.domain-tree .tree { font-family: var(--hmi-mono); font-size: 12.5px; }
.domain-tree .plot { grid-column: 1 / -1; display: flex; align-items: center; gap: 8px; font-size: 12px; color: var(--hmi-muted); }
.domain-tree .about, .domain-tree .named { grid-column: 1 / -1; }
.domain-tree .named { display: flex; flex-wrap: wrap; gap: 4px; }
.plot-bar { flex: 0 0 120px; block-size: 6px; border-radius: 999px; background: var(--hmi-border); overflow: hidden; }
.plot-bar span { display: block; block-size: 100%; background: var(--hmi-accent-2); }
.knowledge p { margin: 0 0 10px; }
.knowledge td.wrap { white-space: normal; min-inline-size: 30ch; }
.knowledge td { vertical-align: top; }
button.link { border: 0; background: none; padding: 0; color: var(--hmi-accent); font-weight: 600; text-decoration: underline; }
dl.info { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; }
dl.info dt { color: var(--hmi-muted); }
dl.info dd { margin: 0; font-family: var(--hmi-mono); font-size: 12.5px; overflow-wrap: anywhere; }
`;

export const DASHBOARD_CSS = `${uplotCss}\n${css}`;
