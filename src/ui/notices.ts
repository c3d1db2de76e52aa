/** The in-place messages: loading progress, errors with Retry, and "no WebGPU here". */
import type { Progress } from '../runtime/api.js';
import { h } from './dom.js';

export class ProgressView {
  readonly root: HTMLElement;
  private readonly text: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly fill: HTMLElement;

  constructor() {
    this.text = h('span');
    this.fill = h('span');
    this.bar = h('div', { class: 'bar', role: 'progressbar', 'aria-label': 'Progress', 'aria-valuemin': 0, 'aria-valuemax': 100 }, this.fill);
    this.root = h('div', { class: 'card progress', hidden: true }, this.text, this.bar);
  }

  show(title: string, p?: Progress): void {
    this.root.hidden = false;
    const known = p !== undefined && p.total > 0;
    const pct = known ? Math.min(100, (100 * p.done) / p.total) : 0;
    this.text.textContent = known ? `${title}: ${p.phase} (${p.done.toLocaleString('en-US')} / ${p.total.toLocaleString('en-US')})` : p ? `${title}: ${p.phase}` : title;
    this.bar.classList.toggle('indeterminate', !known);
    this.fill.style.inlineSize = known ? `${pct.toFixed(1)}%` : '';
    if (known) this.bar.setAttribute('aria-valuenow', pct.toFixed(0));
    else this.bar.removeAttribute('aria-valuenow');
  }

  hide(): void {
    this.root.hidden = true;
  }
}

export class ErrorView {
  readonly root: HTMLElement;
  private readonly title: HTMLElement;
  private readonly message: HTMLElement;
  private readonly detail: HTMLElement;

  constructor(onRetry: () => void) {
    this.title = h('h3');
    this.message = h('p');
    this.detail = h('p', { class: 'muted small mono' });
    const retry = h('button', { type: 'button', class: 'primary' }, 'Retry');
    retry.addEventListener('click', onRetry);
    this.root = h('div', { class: 'card notice', role: 'alert', hidden: true }, this.title, this.message, this.detail, retry);
  }

  show(title: string, error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    const code = (e as { code?: unknown }).code;
    this.title.textContent = title;
    this.message.textContent = e.message;
    this.detail.textContent = typeof code === 'string' ? `${e.name} · ${code}` : e.name;
    this.root.dataset.error = e.name;
    this.root.hidden = false;
  }

  hide(): void {
    this.root.hidden = true;
  }
}

export function unsupportedNotice(): HTMLElement {
  const secure = typeof window === 'undefined' || window.isSecureContext;
  return h(
    'div',
    { class: 'card notice unsupported', role: 'alert' },
    h('h3', {}, 'This browser does not offer WebGPU'),
    h('p', {}, 'HMI-Web runs the models on your GPU through WebGPU, and navigator.gpu is missing here.'),
    h(
      'ul',
      {},
      !secure && h('li', {}, 'WebGPU only exists on secure pages: open this page over https:// or from http://localhost.'),
      h('li', {}, 'Chrome or Edge 113+ on Windows, macOS and ChromeOS; Chrome 121+ on Android.'),
      h('li', {}, 'Chrome on Linux: enable chrome://flags/#enable-unsafe-webgpu and chrome://flags/#enable-vulkan, then restart.'),
      h('li', {}, 'Safari 26+ (macOS, iOS, iPadOS); older Safari: Develop › Feature Flags › WebGPU.'),
      h('li', {}, 'Firefox 141+ on Windows; elsewhere Firefox Nightly, or set dom.webgpu.enabled in about:config.'),
    ),
  );
}
