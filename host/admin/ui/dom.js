// Building the page's DOM. Everything that comes from the API goes in as text nodes or
// attribute values, never as HTML: there is no innerHTML anywhere in the page.

/**
 * `h('td', {class: 'num', title: full}, text, child)`. Props: `class`, `value`, `checked`,
 * `disabled`, `on<event>` (listeners); anything else is an attribute. Children: nodes, or
 * values shown as text; null, undefined and false are skipped, arrays are flattened.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key === 'value') element.value = value;
    else if (key === 'checked' || key === 'disabled' || key === 'hidden') element[key] = Boolean(value);
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Replaces an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

/** An SVG element (the sparklines). */
export function svg(tag, attributes = {}) {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

/**
 * A button that acts on the second click: the first turns it into "Confirm …" for a few
 * seconds (no modal dialog: a deregistration or a delete is one deliberate step more).
 */
export function confirmButton(label, confirmLabel, action, props = {}) {
  let armed;
  const button = h('button', {
    type: 'button',
    ...props,
    onclick: () => {
      if (armed === undefined) {
        button.textContent = confirmLabel;
        button.classList.add('armed');
        armed = setTimeout(() => {
          armed = undefined;
          button.textContent = label;
          button.classList.remove('armed');
        }, 4000);
        return;
      }
      clearTimeout(armed);
      armed = undefined;
      button.disabled = true;
      Promise.resolve(action()).finally(() => {
        button.disabled = false;
        button.textContent = label;
        button.classList.remove('armed');
      });
    },
  }, label);
  return button;
}

// ---- numbers as people read them ----------------------------------------------------------

export function formatMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  if (ms < 1) return `${(ms * 1000).toFixed(ms < 0.01 ? 1 : 0)} µs`;
  if (ms < 100) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function formatRate(perSecond) {
  if (perSecond === null || perSecond === undefined) return '–';
  return perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(perSecond >= 10 ? 1 : 2);
}

export function formatShare(share) {
  if (share === null || share === undefined) return '–';
  return `${(share * 100).toFixed(share === 1 ? 0 : 1)} %`;
}

/** 95 -> "1 min 35 s" */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** An ISO time as local date and time, to the second. */
export function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}
