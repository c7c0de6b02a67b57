// Building DOM nodes from data without ever parsing HTML: text goes in as text nodes, attributes with
// setAttribute. Device ids, versions and reasons are device-controlled: this is the only way they reach the page.

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  id?: string;
  title?: string;
  /** other attributes (never an event handler or a URL built from device data) */
  attrs?: Record<string, string>;
  on?: Partial<{ [K in keyof HTMLElementEventMap]: (e: HTMLElementEventMap[K]) => void }>;
}

/** An element with `props` and `children` (strings become text nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.id) el.id = props.id;
  if (props.title) el.title = props.title;
  for (const [k, v] of Object.entries(props.attrs ?? {})) {
    if (/^on/i.test(k)) throw new Error(`event handler attribute ${k}: use props.on`);
    el.setAttribute(k, v);
  }
  for (const [type, fn] of Object.entries(props.on ?? {})) el.addEventListener(type, fn as EventListener);
  append(el, ...children);
  return el;
}

/** Appends `children` to `el`; returns `el`. */
export function append<T extends Node>(el: T, ...children: Child[]): T {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return el;
}

/** Replaces every child of `el`. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** A <select> with `options` ([value, label]); `value` selected. */
export function select(name: string, options: readonly (readonly [string, string])[], value: string, props: Props = {}): HTMLSelectElement {
  const s = h('select', { ...props, attrs: { name, ...props.attrs } });
  for (const [v, label] of options) {
    const o = h('option', { attrs: { value: v } }, label);
    if (v === value) o.selected = true;
    s.appendChild(o);
  }
  return s;
}

/** A labelled form field. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLLabelElement {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control, hint ? h('small', {}, hint) : null);
}

/** A progress bar 0..100 with its number. */
export function bar(percent: number, label?: string): HTMLElement {
  const p = Math.max(0, Math.min(100, Math.round(percent)));
  const fill = h('span', { class: 'fill' });
  // a style property, not a style attribute string (the policy allows no inline style attributes)
  fill.style.width = `${p}%`;
  return h('span', { class: 'bar', attrs: { role: 'progressbar', 'aria-valuenow': String(p), 'aria-valuemin': '0', 'aria-valuemax': '100' } }, h('span', { class: 'track' }, fill), h('span', { class: 'pct' }, label ?? `${p}%`));
}

/** Asks a yes/no question in a modal <dialog>; resolves true on the confirming button. */
export function confirmDialog(question: string, detail: string, yes: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm' });
    const done = (ok: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    append(
      dialog,
      h('p', { class: 'question' }, question),
      detail ? h('p', { class: 'detail' }, detail) : null,
      h('div', { class: 'buttons' }, h('button', { class: 'danger', attrs: { type: 'button' }, on: { click: () => done(true) } }, yes), h('button', { attrs: { type: 'button', autofocus: '' }, on: { click: () => done(false) } }, 'Keep it')),
    );
    dialog.addEventListener('cancel', () => done(false));
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}
