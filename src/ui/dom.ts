// A tiny element builder: the dashboard has no framework, and string HTML would invite injection.

type Attrs = Record<string, string | number | boolean | undefined>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

/** The children that are there: for replaceChildren, which takes no null. */
export function present(...children: Child[]): (Node | string)[] {
  return children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false && c !== '');
}

/** A labelled meter: `role=meter` so screen readers announce the value, a bar for the eye. */
export function meter(label: string): { root: HTMLElement; set(value: number, max: number, text: string): void } {
  const fill = h('span', { class: 'meter-fill' });
  const value = h('span', { class: 'meter-value' });
  const bar = h('div', { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuemin': 0 }, fill);
  const root = h('div', { class: 'meter-row' }, h('span', { class: 'meter-label' }, label), value, bar);
  return {
    root,
    set(v, max, text) {
      const f = max > 0 ? Math.max(0, Math.min(1, v / max)) : 0;
      fill.style.inlineSize = `${(f * 100).toFixed(2)}%`;
      bar.setAttribute('aria-valuemax', String(max));
      bar.setAttribute('aria-valuenow', String(v));
      bar.setAttribute('aria-valuetext', text);
      value.textContent = text;
    },
  };
}
