// Latchkey web components: <latchkey-login>, <latchkey-append> and <latchkey-passkeys>.
// Importing this module defines the three elements; it re-exports the SDK.
//
//   <script type="module" src="https://broker.example.com/web/latchkey-components.js"></script>
//   <latchkey-login project-id="prj-..."></latchkey-login>
//
// Each element takes the attributes project-id, broker-url (default: the origin this module was
// loaded from), theme (light, dark or auto) and lang, asks the page for connect tokens through
// its connectToken property (async (type) => secret), and dispatches bubbling, composed
// CustomEvents: complete, fallback (login only), dismiss, decline and upgrade (append only),
// rollout (when the project's rollout turned the element off) and error. Every text
// comes from the catalogues of latchkey-messages.js in the page's language; setMessages and the
// messages property override any of them. The elements build their DOM with createElement and
// style it with a constructable stylesheet, so they work under a Content Security Policy
// without 'unsafe-inline' and with Trusted Types required. Types and documentation:
// /web/latchkey.d.ts.

import { Latchkey, LatchkeyError } from './latchkey.js';
import { catalogues } from './latchkey-messages.js';

export { Latchkey, LatchkeyError, catalogues };

const brokerOrigin = new URL(import.meta.url).origin;

// ---- Messages ----

// overrides holds the app's own messages per language (setMessages).
const overrides = {};

/**
 * setMessages overrides messages of the components for lang ('en', 'de', 'pt-BR', ...): keys
 * as in catalogues.en, texts with the same {placeholders}. A language without a catalogue of
 * its own falls back to English for the keys it does not set. Elements on the page update.
 */
export function setMessages(lang, messages) {
  const tag = String(lang).toLowerCase();
  overrides[tag] = { ...overrides[tag], ...messages };
  for (const el of connected) el.localize();
}

// languages returns the catalogue tags to try for a BCP 47 tag, most specific first.
function languages(tag) {
  const t = String(tag || '').toLowerCase();
  const out = [];
  for (let parts = t.split('-'); parts.length && parts[0]; parts.pop()) out.push(parts.join('-'));
  out.push('en');
  return out;
}

/**
 * message returns the text of key in the language tag, with each {name} replaced by
 * params[name]; own is an element's messages property, consulted first.
 */
export function message(tag, key, params = {}, own = null) {
  let text = own?.[key];
  for (const l of languages(tag)) {
    if (text !== undefined) break;
    text = overrides[l]?.[key] ?? catalogues[l]?.[key];
  }
  if (text === undefined) text = key;
  return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

// errorKey returns the catalogue key of the sentence for err in context ('login', 'append',
// 'manage').
function errorKey(err, context) {
  switch (err?.kind) {
    case 'cancelled':
      // The browser reports a closed prompt and a device without a passkey for the account
      // the same way (NotAllowedError), so the login sentence covers both.
      if (context === 'login') return 'error.cancelled_login';
      if (context === 'append') return 'error.cancelled_append';
      return 'error.cancelled';
    case 'not_supported':
      return 'error.not_supported';
    case 'already_registered':
      return 'error.already_registered';
    case 'network':
      return 'error.network';
    case 'app':
      return 'error.app';
    case 'server':
      switch (err.type) {
        case 'unknown_credential': return 'error.unknown_credential';
        case 'invalid_connect_token': return 'error.invalid_connect_token';
        case 'ceremony_not_found': return 'error.ceremony_not_found';
        case 'verification_failed': return 'error.verification_failed';
        case 'rate_limited': return 'error.rate_limited';
        case 'unavailable': return 'error.unavailable';
        case 'forbidden_origin': return 'error.forbidden_origin';
      }
      return 'error.server';
  }
  return 'error.other';
}

/**
 * userMessage returns a sentence for the user about err, a LatchkeyError, raised while signing
 * in ('login'), creating a passkey ('append') or managing passkeys ('manage'), in the language
 * lang (default: the document's).
 */
export function userMessage(err, context, lang = document.documentElement.lang) {
  return message(lang, errorKey(err, context));
}

// connected holds the connected elements, which update their texts when the document's lang
// changes or the app overrides messages.
const connected = new Set();
let langObserver = null;
function watchDocumentLang() {
  if (langObserver || typeof MutationObserver === 'undefined') return;
  langObserver = new MutationObserver(() => { for (const el of connected) el.localize(); });
  langObserver.observe(document.documentElement, { attributes: true, attributeFilter: ['lang'] });
}

// ---- Styles ----

// PALETTE holds each private colour's light and dark value. With theme="auto" (the default)
// the elements use light-dark(), so they follow the page's color-scheme (which follows the
// system only when the page says `color-scheme: light dark`); theme="light" and theme="dark"
// pick one. The page's --latchkey-* custom properties win over both.
const PALETTE = {
  '--_bg': ['var(--latchkey-bg, #ffffff)', 'var(--latchkey-bg, #16181d)'],
  '--_fg': ['var(--latchkey-fg, #111827)', 'var(--latchkey-fg, #eceef2)'],
  '--_border': ['var(--latchkey-border, #d5d9e0)', 'var(--latchkey-border, #3a3f4a)'],
  '--_subtle': ['color-mix(in srgb, var(--_fg) 4%, var(--_bg))', 'color-mix(in srgb, var(--_fg) 6%, var(--_bg))'],
  '--_field': ['var(--_bg)', 'color-mix(in srgb, var(--_fg) 3%, var(--_bg))'],
  '--_ring': ['var(--latchkey-focus-ring, var(--_accent))', 'var(--latchkey-focus-ring, color-mix(in srgb, var(--_accent) 45%, #ffffff))'],
  '--_accent-text': ['color-mix(in srgb, var(--_accent) 88%, var(--_fg))', 'color-mix(in srgb, var(--_accent) 40%, #ffffff)'],
  '--_danger': ['var(--latchkey-danger, #c81e1e)', 'var(--latchkey-danger, #f87171)'],
  '--_on-danger': ['#ffffff', '#1b0b0b'],
  '--_success': ['var(--latchkey-success, #15803d)', 'var(--latchkey-success, #4ade80)'],
  '--_shadow-near': ['rgb(16 24 40 / 0.05)', 'rgb(0 0 0 / 0.4)'],
  '--_shadow-far': ['rgb(16 24 40 / 0.18)', 'rgb(0 0 0 / 0.6)'],
};
const palette = (pick) => Object.entries(PALETTE).map(([name, v]) => `\n  ${name}: ${pick(v)};`).join('');
const LIGHT = palette(([light]) => light);
const DARK = palette(([, dark]) => dark);
const AUTO = palette(([light, dark]) => `light-dark(${light}, ${dark})`);

const STYLE = `
:host {
  --_accent: var(--latchkey-accent, #4f46e5);
  --_on-accent: var(--latchkey-accent-fg, #ffffff);
  --_radius: var(--latchkey-radius, 12px);
  --_muted: color-mix(in srgb, var(--_fg) 72%, var(--_bg));${LIGHT}
  display: block;
  color: var(--_fg);
  font-family: var(--latchkey-font, inherit);
  font-size: var(--latchkey-font-size, 15px);
  font-weight: 400;
  line-height: 1.5;
  -webkit-font-smoothing: antialiased;
}
@supports (color: light-dark(#fff, #000)) {
  :host {${AUTO}
  }
}
@supports not (color: light-dark(#fff, #000)) {
  @media (prefers-color-scheme: dark) {
    :host(:not([theme="light"])) {${DARK}
      color-scheme: dark;
    }
  }
}
:host([theme="light"]) {${LIGHT}
  color-scheme: light;
}
:host([theme="dark"]) {${DARK}
  color-scheme: dark;
}
:host([hidden]), [hidden] { display: none !important; }
:host([plain]) .card { background: transparent; border: 0; box-shadow: none; padding: 0; }
*, *::before, *::after { box-sizing: border-box; }
.card {
  background: var(--_bg);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
  box-shadow: 0 1px 2px var(--_shadow-near), 0 12px 32px -16px var(--_shadow-far);
  padding: 24px;
}
h2 { font-size: 1.134em; line-height: 1.3; font-weight: 650; margin: 0; letter-spacing: -0.01em; }
h2:focus { outline: none; }
p { margin: 0; }
.lead { color: var(--_muted); font-size: 0.934em; margin-top: 4px; }
.head { display: flex; gap: 14px; align-items: flex-start; margin-bottom: 20px; }
.glyph {
  flex: none; display: grid; place-items: center;
  width: 40px; height: 40px; border-radius: calc(var(--_radius) * 0.75);
  color: var(--_accent-text);
  background: color-mix(in srgb, var(--_accent) 14%, var(--_bg));
}
.glyph svg { width: 22px; height: 22px; }
label { display: block; font-size: 0.934em; font-weight: 600; margin: 0 0 6px; }
input {
  display: block; width: 100%; margin: 0 0 14px;
  font: inherit; color: inherit; background: var(--_field);
  border: 1px solid color-mix(in srgb, var(--_fg) 45%, var(--_bg)); border-radius: calc(var(--_radius) * 0.67);
  padding: 10px 12px; outline: none;
  transition: border-color 0.15s, box-shadow 0.15s;
}
input::placeholder { color: var(--_muted); }
input:focus { border-color: var(--_ring); box-shadow: 0 0 0 3px color-mix(in srgb, var(--_ring) 35%, transparent); }
button {
  font: inherit; font-size: 1em; font-weight: 600; line-height: 1.2;
  display: inline-flex; align-items: center; justify-content: center; gap: 8px;
  border-radius: calc(var(--_radius) * 0.67); padding: 10px 16px;
  border: 1px solid transparent; cursor: pointer;
  transition: background-color 0.15s, border-color 0.15s, color 0.15s, box-shadow 0.15s;
}
button svg { width: 18px; height: 18px; flex: none; }
button:focus-visible { outline: 2px solid var(--_ring); outline-offset: 2px; }
button:disabled, button[aria-disabled="true"] { cursor: default; opacity: 0.8; }
.primary { width: 100%; background: var(--_accent); color: var(--_on-accent); box-shadow: 0 1px 2px rgb(16 24 40 / 0.12); }
.primary:hover:not([aria-disabled="true"]) { background: color-mix(in srgb, var(--_accent) 86%, #000); }
.secondary { background: var(--_bg); color: var(--_fg); border-color: var(--_border); }
.secondary:hover:not(:disabled) { background: var(--_subtle); }
.quiet { background: transparent; color: var(--_muted); padding: 6px 10px; font-size: 0.934em; }
.quiet:hover:not(:disabled) { background: var(--_subtle); color: var(--_fg); }
.not-now { width: 100%; margin-top: 8px; }
.danger { background: var(--_danger); color: var(--_on-danger); padding: 6px 12px; font-size: 0.934em; }
.danger:hover:not(:disabled) { background: color-mix(in srgb, var(--_danger) 86%, #000); }
.quiet.delete:hover:not(:disabled) { color: color-mix(in srgb, var(--_danger) 70%, var(--_fg)); background: color-mix(in srgb, var(--_danger) 8%, var(--_bg)); }
.spinner {
  width: 16px; height: 16px; border-radius: 50%; flex: none;
  border: 2px solid currentColor; border-right-color: transparent;
  animation: spin 0.7s linear infinite;
}
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .spinner { animation-duration: 2s; } }
.msg { font-size: 0.934em; border-radius: calc(var(--_radius) * 0.67); }
.msg:focus { outline: 2px solid var(--_ring); outline-offset: 2px; }
.msg.shown { margin-top: 14px; padding: 10px 12px; border: 1px solid var(--_border); background: var(--_subtle); }
.live { display: flex; gap: 8px; align-items: flex-start; }
.msg svg { width: 18px; height: 18px; flex: none; margin-top: 1px; }
.msg.shown[data-tone="error"] {
  color: color-mix(in srgb, var(--_danger) 70%, var(--_fg));
  background: color-mix(in srgb, var(--_danger) 8%, var(--_bg));
  border-color: color-mix(in srgb, var(--_danger) 35%, var(--_bg));
}
.msg.shown[data-tone="success"] {
  color: color-mix(in srgb, var(--_success) 70%, var(--_fg));
  background: color-mix(in srgb, var(--_success) 8%, var(--_bg));
  border-color: color-mix(in srgb, var(--_success) 35%, var(--_bg));
}
.sr-only, .msg.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; margin: 0; padding: 0; border: 0; }
::slotted(input) { display: block; box-sizing: border-box; width: 100%; margin: 0 0 14px; }
.after { display: block; margin-top: 16px; color: var(--_muted); font-size: 0.934em; text-align: center; }
.done { display: flex; gap: 14px; align-items: flex-start; }
.done .glyph { color: color-mix(in srgb, var(--_success) 80%, var(--_fg)); background: color-mix(in srgb, var(--_success) 14%, var(--_bg)); }

/* passkey list */
.bar { display: flex; align-items: center; justify-content: space-between; gap: 12px; margin-bottom: 4px; }
.count { font-size: 0.867em; font-weight: 600; color: var(--_muted); background: var(--_subtle); border: 1px solid var(--_border); border-radius: 999px; padding: 1px 9px; }
ul { list-style: none; margin: 12px 0 0; padding: 0; }
li.item { border-top: 1px solid var(--_border); padding: 14px 0; }
li.item:first-child { border-top: 0; padding-top: 6px; }
li.item:last-child { padding-bottom: 2px; }
.row { display: flex; gap: 14px; align-items: center; }
.meta { flex: 1; min-width: 0; }
.name { font-weight: 600; display: flex; flex-wrap: wrap; align-items: center; gap: 6px 8px; overflow-wrap: anywhere; }
.sub { color: var(--_muted); font-size: 0.867em; margin-top: 2px; line-height: 1.45; }
.sub > span { display: block; }
.badge {
  display: inline-flex; align-items: center; gap: 4px;
  font-size: 0.8em; font-weight: 600; line-height: 1; padding: 4px 8px; border-radius: 999px;
  color: var(--_muted); background: var(--_subtle); border: 1px solid var(--_border);
}
.badge svg { width: 13px; height: 13px; }
.badge.synced { color: var(--_accent-text); background: color-mix(in srgb, var(--_accent) 10%, var(--_bg)); border-color: color-mix(in srgb, var(--_accent) 30%, var(--_bg)); }
.confirm {
  margin-top: 12px; padding: 12px 14px; display: flex; flex-wrap: wrap; gap: 10px 12px; align-items: center;
  border-radius: calc(var(--_radius) * 0.67);
  background: color-mix(in srgb, var(--_danger) 6%, var(--_bg));
  border: 1px solid color-mix(in srgb, var(--_danger) 30%, var(--_bg));
}
.confirm .q { flex: 1 1 14em; font-size: 0.934em; }
.confirm .q strong { display: block; font-weight: 600; }
.confirm .q span { color: color-mix(in srgb, var(--_fg) 82%, var(--_bg)); font-size: 0.934em; }
.confirm .actions { flex: 1 0 auto; display: flex; gap: 8px; justify-content: flex-end; }
.confirm button { padding: 6px 12px; font-size: 0.934em; }
.empty { text-align: center; padding: 20px 8px 8px; }
.empty .glyph { margin: 0 auto 10px; }
.empty-title { font-weight: 600; }
.skeleton { height: 54px; border-radius: calc(var(--_radius) * 0.67); margin-top: 12px;
  background: linear-gradient(90deg, var(--_subtle), color-mix(in srgb, var(--_fg) 8%, var(--_bg)), var(--_subtle));
  background-size: 200% 100%; animation: shimmer 1.2s ease-in-out infinite; }
@keyframes shimmer { from { background-position: 100% 0; } to { background-position: -100% 0; } }
@media (prefers-reduced-motion: reduce) { .skeleton { animation: none; } *, *::before, *::after { transition: none !important; } }
`;

// sheet is the elements' one constructable stylesheet, adopted by every shadow root: it needs
// no <style> element, so a style-src without 'unsafe-inline' allows it.
let sheet = null;
function adoptStyle(root) {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype) {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE);
    }
    root.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement('style'); // browsers before constructable stylesheets
    style.textContent = STYLE;
    root.append(style);
  }
}

// ---- DOM building ----

const SVG = 'http://www.w3.org/2000/svg';

// ICON holds each icon's shapes; icon builds one as DOM, never from markup.
const ICON = {
  passkey: [['circle', { cx: 9, cy: 7.5, r: 3.5 }], ['path', { d: 'M2.75 20.25c0-3.5 2.8-6.25 6.25-6.25 1.35 0 2.6.4 3.6 1.1' }], ['circle', { cx: 17.5, cy: 11.5, r: 2.6 }], ['path', { d: 'M17.5 14.1v6.4l1.6-1.3M17.5 17.2h1.6' }]],
  key: [['circle', { cx: 8, cy: 15, r: 4 }], ['path', { d: 'm10.85 12.15 8.4-8.4M16.5 6.5l2.5 2.5M14 9l2 2' }]],
  check: [['path', { d: 'm5 12.5 4.5 4.5L19 7.5' }]],
  alert: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M12 7.5v5.25M12 16.25v.25' }]],
  info: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M12 11v5.25M12 7.75v.25' }]],
  cloud: [['path', { d: 'M7 18.5a4.5 4.5 0 0 1-.6-8.96A6 6 0 0 1 17.9 9a4.75 4.75 0 0 1-.4 9.5Z' }]],
  device: [['rect', { x: 6, y: 2.75, width: 12, height: 18.5, rx: 2.5 }], ['path', { d: 'M11 18h2' }]],
};

function icon(name) {
  const el = document.createElementNS(SVG, 'svg');
  const attrs = { viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': '1.8', 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true', focusable: 'false' };
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const [tag, a] of ICON[name]) {
    const shape = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(a)) shape.setAttribute(k, String(v));
    el.append(shape);
  }
  el.classList.add('icon', `icon-${name}`);
  return el;
}

// h builds an element; strings become text nodes, so server data is never parsed as HTML.
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// ---- Elements ----

let conditionalSupport;
const conditionalSupported = () => (conditionalSupport ??= Latchkey.isConditionalSupported());

// The project's rollout (GET connect/config): asked once per page and broker project; null
// when the broker could not be asked, which the elements treat as off (fail closed).
const rolloutAnswers = new Map();
function rolloutConfig(client) {
  const key = `${client.brokerURL} ${client.projectID}`;
  if (!rolloutAnswers.has(key)) rolloutAnswers.set(key, client.getConfig().catch(() => null));
  return rolloutAnswers.get(key);
}

// LatchkeyElement is what the three elements share: the client, the connectToken property,
// events, messages in the page's language and the message region.
class LatchkeyElement extends HTMLElement {
  static observedAttributes = ['project-id', 'broker-url', 'theme', 'lang'];
  #client = null;
  #connectToken = null;
  #messages = null;
  #available = true;
  #msg; // the message region: always rendered, holding a polite status and an alert
  #status;
  #alert;
  #said = null; // what the region shows: { key, params, tone }, to show again in another language

  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
    adoptStyle(this.shadowRoot);
    this.#status = h('div', { class: 'live', role: 'status', 'aria-live': 'polite' });
    this.#alert = h('div', { class: 'live', role: 'alert' });
    this.#msg = h('div', { class: 'msg', tabindex: '-1' }, this.#status, this.#alert);
    // Properties set before the element was defined shadow the accessors; adopt their values.
    for (const prop of ['connectToken', 'messages', 'available']) {
      if (Object.prototype.hasOwnProperty.call(this, prop)) {
        const v = this[prop];
        delete this[prop];
        queueMicrotask(() => { this[prop] = v; });
      }
    }
  }

  /** The page's source of connect tokens: async (type) => secret. */
  get connectToken() { return this.#connectToken; }
  set connectToken(fn) {
    this.#connectToken = fn;
    this.connectTokenChanged();
  }

  connectTokenChanged() {}

  /** This element's own messages ({key: text}), over the catalogue of every language. */
  get messages() { return this.#messages; }
  set messages(m) {
    this.#messages = m || null;
    this.localize();
  }

  /**
   * Whether the element offers anything (default true). False renders nothing, so that the
   * page's own form stays as it is: e.g. when the project's rollout turned the component off.
   */
  get available() { return this.#available; }
  set available(on) {
    on = !!on;
    if (on === this.#available) return;
    this.#available = on;
    this.toggleAttribute('hidden', !on);
    this.availableChanged(on);
  }

  availableChanged() {}

  /**
   * applyRollout renders nothing until the project's rollout says that component ('login',
   * 'append' or 'manage') is on for this visitor, and nothing at all when it is off or the
   * broker cannot be asked (fail closed: the page's own form stays). An element holding the
   * page's own slot="identifier" input keeps it (it belongs to the page's password form) and
   * hides only its own buttons. Sets rolloutOn and resolves to it; when off, dispatches a
   * 'rollout' event { component, on: false }.
   */
  async applyRollout(component) {
    const slotted = !!this.querySelector(':scope > [slot="identifier"]');
    if (!slotted) this.available = false;
    const config = this.getAttribute('project-id') ? await rolloutConfig(this.client) : null;
    const on = config?.[component] === true;
    this.rolloutOn = on;
    if (slotted) {
      for (const b of this.shadowRoot.querySelectorAll('button')) b.hidden = !on;
    } else {
      this.available = on;
    }
    if (!on) this.emit('rollout', { component, on: false });
    return on;
  }

  connectedCallback() {
    connected.add(this);
    watchDocumentLang();
    this.localize();
  }

  disconnectedCallback() {
    connected.delete(this);
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue) return;
    if (name === 'lang') this.localize();
    else if (name === 'project-id' || name === 'broker-url') this.#client = null;
  }

  /** The language of the element's texts: its lang, an ancestor's (also across shadow roots), the document's. */
  get language() {
    for (let n = this; n; n = n.parentElement || n.getRootNode?.().host) {
      if (n.hasAttribute?.('lang') && n.getAttribute('lang')) return n.getAttribute('lang');
    }
    return document.documentElement.lang || navigator.language || 'en';
  }

  /** t returns the text of a message key in the element's language. */
  t(key, params) {
    return message(this.language, key, params, this.#messages);
  }

  // tNodes returns the text of key as parts, with each {name} replaced by the node nodes[name].
  tNodes(key, nodes) {
    const marked = {};
    for (const name of Object.keys(nodes)) marked[name] = `\u0000${name}\u0000`;
    return this.t(key, marked).split('\u0000').map((part, i) => (i % 2 ? nodes[part] : part)).filter((p) => p !== '');
  }

  /** localize shows every text in the element's current language. */
  localize() {
    if (this.#said) this.#show(this.#said);
  }

  /** The SDK client for this element's project-id and broker-url. */
  get client() {
    if (!this.#client) {
      this.#client = new Latchkey({
        projectID: this.getAttribute('project-id') || '',
        brokerURL: this.getAttribute('broker-url') || brokerOrigin,
      });
    }
    return this.#client;
  }

  /** report tells the broker's analytics (when the SDK has them) what happened; it never throws. */
  report(name, reason) {
    try {
      const p = this.client.report?.(name, reason === undefined ? {} : { reason });
      p?.catch?.(() => {});
    } catch {
      // analytics never break the component
    }
  }

  /**
   * token asks the page's connectToken callback for a token of type. Its failures are the
   * app's, kind 'app': the callback is missing, throws, or returns no token.
   */
  async token(type) {
    if (typeof this.#connectToken !== 'function') {
      throw new LatchkeyError('app', `<${this.localName}> needs a connectToken callback to get a ${type} token.`, { details: 'connectToken' });
    }
    let secret;
    try {
      secret = await this.#connectToken(type);
    } catch (cause) {
      throw new LatchkeyError('app', `The page's connectToken callback failed to get a ${type} token.`, { details: 'connectToken', cause });
    }
    if (typeof secret !== 'string' || secret === '') {
      throw new LatchkeyError('app', `The connectToken callback returned no ${type} token.`, { details: 'connectToken' });
    }
    return secret;
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  /** What the element does, for userMessage: 'login', 'append' or 'manage'. */
  get messageContext() { return 'manage'; }

  /**
   * fail shows err to the user and dispatches it as an error event. After a user's action
   * (focus set), when the control the user was on is gone or hidden, keyboard focus moves to
   * the message rather than dropping to <body>.
   */
  fail(err, tone = 'error', focus = false) {
    const e = err instanceof LatchkeyError ? err : new LatchkeyError('webauthn', String(err?.message || err), { cause: err });
    this.say(errorKey(e, this.messageContext), {}, tone);
    if (focus) this.rescueFocus();
    this.emit('error', { error: e });
  }

  /** rescueFocus moves focus to the message when the focused control went away. */
  rescueFocus() {
    const inner = this.shadowRoot.activeElement;
    const outer = document.activeElement;
    const lost = !inner || !inner.isConnected || (inner.checkVisibility && !inner.checkVisibility());
    if (lost && (outer === null || outer === document.body || outer === document.documentElement || outer === this)) {
      this.#msg.focus({ preventScroll: true });
    }
  }

  /** say shows the message key (with params) in the element's region; tone is info, success or error. */
  say(key, params = {}, tone = 'info') {
    this.#said = key ? { key, params, tone } : null;
    this.#show(this.#said);
  }

  #show(said) {
    const tone = said?.tone || 'info';
    this.#msg.dataset.tone = tone;
    this.#msg.classList.toggle('shown', !!said);
    // Errors go to the alert (assertive), the rest to the polite status.
    const region = tone === 'error' ? this.#alert : this.#status;
    const other = region === this.#alert ? this.#status : this.#alert;
    other.replaceChildren();
    if (!said) {
      region.replaceChildren();
      return;
    }
    region.replaceChildren(icon(tone === 'error' ? 'alert' : tone === 'success' ? 'check' : 'info'), h('span', {}, this.t(said.key, said.params)));
  }

  /** The message region, always rendered so that a first message is announced. */
  get messageRegion() { return this.#msg; }

  /** afterSlot is the default slot for the page's own content, hidden while empty. */
  afterSlot() {
    const box = h('div', { class: 'after', hidden: true });
    box.append(h('slot', { onslotchange: (ev) => { box.hidden = !ev.target.assignedNodes().some((n) => n.nodeType === 1 || n.textContent.trim()); } }));
    return box;
  }
}

// setBusy shows a button as busy (a spinner) or idle (its icon) with label. A busy button is
// aria-disabled rather than disabled, so that it keeps keyboard focus.
function setBusy(button, busy, label, iconName = 'passkey') {
  button.setAttribute('aria-disabled', String(busy));
  button.setAttribute('aria-busy', String(busy));
  button.replaceChildren(busy ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : icon(iconName), h('span', {}, label));
}

const isBusy = (button) => button.getAttribute('aria-busy') === 'true';

/**
 * <latchkey-login>: an identifier field offering passkeys in autofill, and a "Sign in with a
 * passkey" button (identifier-first when the field has a value, usernameless otherwise).
 */
export class LatchkeyLoginElement extends LatchkeyElement {
  static observedAttributes = [...LatchkeyElement.observedAttributes, 'label', 'placeholder'];
  #autofill = null; // AbortController of the pending autofill sign-in
  #autofillFailures = 0;
  #busy = false;
  #done = false;
  #button;
  #label;
  #field;

  get messageContext() { return 'login'; }

  constructor() {
    super();
    const id = 'identifier';
    this.#label = h('label', { for: id });
    this.#field = h('input', {
      id, name: 'username', type: 'text', autocomplete: 'username webauthn',
      autocapitalize: 'none', spellcheck: 'false',
    });
    this.#button = h('button', { type: 'submit', class: 'primary' });
    const form = h('form', { novalidate: true, part: 'form', onsubmit: (ev) => { ev.preventDefault(); this.signIn(); } },
      this.#label,
      h('slot', { name: 'identifier', onslotchange: () => this.#adoptSlottedInput() }, this.#field),
      this.#button);
    this.shadowRoot.append(h('div', { class: 'card', part: 'card' }, form, this.messageRegion,
      this.afterSlot()));
    this.localize();
  }

  localize() {
    super.localize();
    this.#label.textContent = this.getAttribute('label') || this.t('login.label');
    this.#field.placeholder = this.getAttribute('placeholder') ?? this.t('login.placeholder');
    setBusy(this.#button, this.#busy, this.#busy ? this.t('busy') : this.t('login.button'));
  }

  /** The identifier input: the page's own (slot="identifier") or the built-in one. */
  get input() {
    const slotted = this.shadowRoot.querySelector('slot[name="identifier"]').assignedElements()
      .find((el) => el instanceof HTMLInputElement);
    return slotted || this.#field;
  }

  #adoptSlottedInput() {
    const input = this.input;
    if (input === this.#field) {
      this.#label.hidden = false;
      return;
    }
    if (!/\bwebauthn\b/.test(input.getAttribute('autocomplete') || '')) input.setAttribute('autocomplete', 'username webauthn');
    if (!input.dataset.latchkeyBound) {
      input.dataset.latchkeyBound = '1';
      input.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') { ev.preventDefault(); this.signIn(); }
      });
    }
    this.#label.hidden = !!input.labels?.length || input.hasAttribute('aria-label');
  }

  attributeChangedCallback(name, oldValue, newValue) {
    super.attributeChangedCallback(name, oldValue, newValue);
    if (name === 'label' || name === 'placeholder') this.localize();
  }

  connectedCallback() {
    super.connectedCallback();
    this.#done = false;
    this.#autofillFailures = 0;
    Latchkey.isSupported().then((ok) => {
      if (!ok && this.isConnected) this.say('error.not_supported');
    });
    this.applyRollout('login').then((on) => { if (on) this.#startAutofill(); });
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.#stopAutofill();
  }

  availableChanged(on) {
    if (on) this.#startAutofill();
    else this.#stopAutofill();
  }

  /** signIn starts a modal passkey sign-in, as the button does. */
  async signIn() {
    if (this.#busy || !this.available) return;
    const identifier = this.input.value.trim();
    if (this.rolloutOn === false) { // the rollout turned passkey login off: the page's password
      this.emit('fallback', { reason: 'component_disabled', identifier });
      return;
    }
    if (!(await Latchkey.isSupported())) {
      this.say('error.not_supported');
      this.emit('fallback', { reason: 'not_supported', identifier });
      return;
    }
    this.#stopAutofill();
    this.#busy = true;
    setBusy(this.#button, true, this.t('busy'));
    this.say('');
    try {
      const res = await this.client.login(identifier ? { identifier } : {});
      if (res.fallback) {
        this.say('login.no_passkey');
        this.report('login.fallback', 'no_passkey');
        this.emit('fallback', { reason: res.fallback.reason, identifier });
      } else {
        this.#succeed(res);
      }
    } catch (err) {
      if (err?.kind === 'cancelled') {
        this.report('login.cancelled');
        this.report('login.fallback', 'cancelled');
      } else {
        this.report('login.fallback', err?.type === 'unknown_credential' ? 'unknown_credential' : 'failed');
      }
      this.fail(err, 'error', true);
    } finally {
      this.#busy = false;
      setBusy(this.#button, false, this.t('login.button'));
      if (!this.#done) this.#startAutofill();
    }
  }

  #succeed(res) {
    this.#done = true;
    this.say('login.signed_in', { username: res.username }, 'success');
    this.emit('complete', { signedPasskeyData: res.signedPasskeyData, username: res.username });
  }

  async #startAutofill() {
    if (this.#autofill || this.#done || !this.available || this.hasAttribute('no-autofill')) return;
    const controller = new AbortController();
    this.#autofill = controller;
    // A ceremony lives five minutes: renew the autofill request before it expires.
    const renew = setTimeout(() => {
      if (this.#autofill === controller) {
        this.#stopAutofill();
        this.#startAutofill();
      }
    }, 270_000);
    try {
      if (!(await conditionalSupported()) || controller.signal.aborted) return;
      const res = await this.client.loginConditional({ signal: controller.signal });
      this.#autofillFailures = 0;
      this.#succeed(res);
    } catch (err) {
      if (controller.signal.aborted) return; // replaced by the button, renewed, or disconnected
      this.#autofillFailures++;
      if (err?.kind !== 'cancelled' && err?.kind !== 'not_supported') {
        if (err?.type === 'unknown_credential') this.report('login.fallback', 'unknown_credential');
        this.fail(err);
      }
      if (this.#autofillFailures < 3) {
        queueMicrotask(() => this.isConnected && !this.#busy && this.#startAutofill());
      }
    } finally {
      clearTimeout(renew);
      if (this.#autofill === controller) this.#autofill = null;
    }
  }

  #stopAutofill() {
    const c = this.#autofill;
    this.#autofill = null;
    c?.abort();
  }
}

/**
 * <latchkey-append>: a "Create a passkey" button (and, with the attribute not-now, a "Not now"
 * button) and a confirmation once the passkey is created.
 */
export class LatchkeyAppendElement extends LatchkeyElement {
  static observedAttributes = [...LatchkeyElement.observedAttributes, 'username', 'not-now'];
  #button;
  #notNow;
  #offer;
  #title;
  #lead;
  #done;
  #state = 'offer'; // offer, has (this device already holds a passkey), created
  #created = null; // the Passkey created
  #offerShown = false;
  #upgradeStarted = false;
  // A passkey sign-in by a <latchkey-login> on the same page: this device has a passkey.
  #onLogin = (ev) => {
    if (ev.composedPath()[0]?.localName === 'latchkey-login') this.#checkRecentLogin();
  };

  get messageContext() { return 'append'; }

  constructor() {
    super();
    this.#button = h('button', { type: 'button', class: 'primary', onclick: () => this.create() });
    this.#notNow = h('button', { type: 'button', class: 'quiet not-now', hidden: true, onclick: () => this.dismiss() });
    this.#title = h('h2', { tabindex: '-1' });
    this.#lead = h('slot');
    this.#offer = h('div', { class: 'head' },
      h('span', { class: 'glyph' }, icon('passkey')),
      h('div', {}, this.#title, h('p', { class: 'lead' }, this.#lead)));
    this.#done = h('div', { class: 'done', hidden: true });
    this.shadowRoot.append(h('div', { class: 'card', part: 'card' }, this.#offer, this.#done, this.#button, this.#notNow, this.messageRegion));
    this.localize();
  }

  localize() {
    super.localize();
    this.#title.textContent = this.t(this.#state === 'has' ? 'append.already_title' : 'append.title');
    this.#lead.textContent = this.t('append.lead');
    if (!isBusy(this.#button)) setBusy(this.#button, false, this.t('append.button'));
    else setBusy(this.#button, true, this.t('busy'));
    this.#notNow.textContent = this.t('append.not_now');
    if (this.#state === 'created') this.#renderCreated();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    super.attributeChangedCallback(name, oldValue, newValue);
    if (name === 'not-now') this.#notNow.hidden = (newValue === null && !this.hasAttribute('auto')) || this.#state !== 'offer';
  }

  connectedCallback() {
    super.connectedCallback();
    this.ownerDocument.addEventListener('complete', this.#onLogin);
    this.#checkRecentLogin();
    if (!this.hasAttribute('auto')) this.applyRollout('append');
    else if (this.connectToken) this.upgrade();
    else this.available = false; // until connectToken is set
    this.#reportOffer();
  }

  connectTokenChanged() {
    if (this.isConnected && this.hasAttribute('auto') && !this.#upgradeStarted) this.upgrade();
  }

  /**
   * upgrade (the auto attribute runs it once connectToken is set) is the automatic passkey
   * upgrade after a password sign-in (Latchkey.upgrade): nothing shown while it runs and when
   * no passkey should be offered; the confirmation when conditional create made one silently;
   * else the offer, with "Not now". Dispatches 'upgrade' with the SDK's UpgradeResult.
   */
  async upgrade() {
    this.#upgradeStarted = true;
    this.available = false;
    let res;
    try {
      res = await this.client.upgrade(await this.token('passkey-append'));
    } catch (err) {
      this.emit('upgrade', { result: 'skipped', reason: 'error', error: err });
      return; // fail closed: nothing shown
    }
    this.emit('upgrade', res);
    if (res.result === 'skipped') return;
    if (res.result === 'created') {
      this.#created = res.passkey;
      this.#state = 'created';
      this.#offerShown = true; // no offer was shown: the passkey was made without one
      this.available = true;
      this.#renderCreated();
      this.say('append.created_announce', {}, 'success');
      this.emit('complete', { passkey: res.passkey });
      return;
    }
    this.#notNow.hidden = this.#state !== 'offer';
    this.available = true;
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.ownerDocument.removeEventListener('complete', this.#onLogin);
  }

  availableChanged(on) {
    if (on) this.#reportOffer();
  }

  // #reportOffer reports, once, that the offer is shown.
  #reportOffer() {
    if (this.#offerShown || !this.isConnected || !this.available || this.#state !== 'offer' || !this.getAttribute('project-id')) return;
    this.#offerShown = true;
    this.report('append.offer_shown');
  }

  /**
   * Whether this device has just been used to sign in with a passkey (for the username
   * attribute, when set): then there is no passkey to create here.
   */
  get hasRecentPasskey() {
    if (!this.getAttribute('project-id')) return false;
    const used = this.client.recentPasskeyLogin();
    const username = this.getAttribute('username');
    return !!used && (!username || used.username === username);
  }

  #checkRecentLogin() {
    if (this.#state === 'offer' && !isBusy(this.#button) && this.hasRecentPasskey) {
      this.#alreadyHas();
      this.say('append.recent');
    }
  }

  // #alreadyHas shows, as information, that this device already holds a passkey.
  #alreadyHas() {
    this.#state = 'has';
    this.#button.hidden = true;
    this.#notNow.hidden = true;
    this.#title.textContent = this.t('append.already_title');
  }

  /**
   * dismiss is "Not now". When the page gives connect tokens, the broker remembers it for the
   * user on every device for the project's period (Latchkey.declineAppend), so the offer is not
   * made again meanwhile; then the element hides and dispatches dismiss and decline. If the
   * broker cannot be told, the element stays, says why and keeps focus on the button. Without
   * connect tokens it only hides and dispatches dismiss.
   */
  async dismiss() {
    if (isBusy(this.#notNow)) return;
    this.report('append.offer_dismissed');
    if (this.connectToken && this.getAttribute('project-id')) {
      const busy = (on) => {
        this.#notNow.setAttribute('aria-disabled', String(on));
        this.#notNow.setAttribute('aria-busy', String(on));
      };
      busy(true);
      try {
        await this.client.declineAppend(await this.token('passkey-append'));
      } catch (err) {
        busy(false);
        this.fail(err, 'error', true);
        return;
      }
      busy(false);
      this.available = false;
      this.emit('dismiss', {});
      this.emit('decline', {});
      return;
    }
    this.available = false;
    this.emit('dismiss', {});
  }

  /** create asks the page for a passkey-append token and creates a passkey, as the button does. */
  async create() {
    if (isBusy(this.#button) || this.#button.hidden || !this.available) return;
    setBusy(this.#button, true, this.t('busy'));
    this.say('');
    try {
      const passkey = await this.client.append(await this.token('passkey-append'));
      this.#created = passkey;
      this.#state = 'created';
      setBusy(this.#button, false, this.t('append.button'));
      this.#renderCreated();
      this.say('append.created_announce', {}, 'success');
      this.#done.querySelector('h2').focus({ preventScroll: true });
      this.emit('complete', { passkey });
    } catch (err) {
      setBusy(this.#button, false, this.t('append.button'));
      if (err?.kind === 'already_registered') {
        this.#alreadyHas();
        this.fail(err, 'info', true); // information, not a failure: the passkey exists
      } else {
        if (err?.kind === 'cancelled') this.report('append.cancelled');
        this.fail(err, 'error', true);
      }
    }
  }

  #renderCreated() {
    const passkey = this.#created;
    const provider = passkey.providerName;
    const sentences = [
      provider ? this.t('append.saved_in', { provider }) : this.t('append.saved'),
      passkey.backedUp
        ? (provider ? this.t('append.synced_in', { provider }) : this.t('append.synced'))
        : passkey.backupEligible ? this.t('append.not_synced_yet') : this.t('append.device_only'),
      this.t('append.next_time'),
    ];
    const focused = this.shadowRoot.activeElement === this.#done.querySelector('h2');
    this.#done.replaceChildren(
      h('span', { class: 'glyph' }, icon('check')),
      h('div', {},
        h('h2', { tabindex: '-1' }, this.t('append.created_title')),
        h('p', { class: 'lead' }, sentences.join(' '))));
    if (focused) this.#done.querySelector('h2').focus({ preventScroll: true });
    this.#offer.hidden = true;
    this.#button.hidden = true;
    this.#notNow.hidden = true;
    this.#done.hidden = false;
    this.messageRegion.classList.add('sr-only'); // the confirmation shows it; screen readers hear it
  }
}

/** <latchkey-passkeys>: the user's passkeys, each with a Delete button and an inline confirmation. */
export class LatchkeyPasskeysElement extends LatchkeyElement {
  static observedAttributes = [...LatchkeyElement.observedAttributes, 'heading'];
  #list;
  #count;
  #heading;
  #passkeys = null;
  #view = 'loading'; // loading, list, failed
  #loading = false;
  #again = false; // reload asked for while loading
  #confirming = null; // credential ID awaiting confirmation
  #deleting = null; // credential ID being deleted
  // A passkey created by a <latchkey-append> on the same page shows up at once.
  #onAppend = (ev) => {
    if (ev.composedPath()[0]?.localName === 'latchkey-append' && this.#passkeys !== null) this.reload();
  };

  constructor() {
    super();
    this.#heading = h('h2', { id: 'heading', tabindex: '-1' });
    this.#count = h('span', { class: 'count', hidden: true });
    this.#list = h('div', { class: 'list' });
    this.shadowRoot.append(h('section', { class: 'card', part: 'card', 'aria-labelledby': 'heading' },
      h('div', { class: 'bar' }, this.#heading, this.#count),
      this.#list, this.messageRegion, this.afterSlot()));
    this.localize();
  }

  localize() {
    super.localize();
    this.#heading.textContent = this.getAttribute('heading') || this.t('manage.heading');
    this.#renderView();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    super.attributeChangedCallback(name, oldValue, newValue);
    if (name === 'heading') this.localize();
    else if ((name === 'project-id' || name === 'broker-url') && oldValue !== newValue && this.#passkeys) this.reload();
  }

  connectedCallback() {
    super.connectedCallback();
    this.ownerDocument.addEventListener('complete', this.#onAppend);
    this.applyRollout('manage');
    if (this.#passkeys === null && !this.#loading && this.connectToken) this.reload();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.ownerDocument.removeEventListener('complete', this.#onAppend);
  }

  connectTokenChanged() {
    if (this.isConnected && this.#passkeys === null && !this.#loading) this.reload();
  }

  /** The passkeys shown, as the contract's Passkey objects (null before the first load). */
  get passkeys() { return this.#passkeys; }

  /** reload asks the page for a passkey-list token and shows the list again. */
  async reload() {
    if (this.#loading) {
      this.#again = true;
      return;
    }
    this.#loading = true;
    const retrying = this.#view === 'failed';
    const hadFocus = !!this.shadowRoot.activeElement;
    if (this.#passkeys === null) {
      this.#view = 'loading';
      this.#renderView();
    }
    try {
      const { passkeys } = await this.client.list(await this.token('passkey-list'));
      this.#passkeys = passkeys;
      this.#confirming = null;
      this.#view = 'list';
      this.say('');
      this.#renderView();
      if (retrying && hadFocus) this.#heading.focus({ preventScroll: true });
    } catch (err) {
      this.#view = 'failed';
      this.#renderView();
      // Focus stays on the control: the new "Try again" button.
      if (hadFocus) this.#list.querySelector('button.retry')?.focus();
      this.fail(err, 'error', hadFocus);
    } finally {
      this.#loading = false;
      if (this.#again) {
        this.#again = false;
        this.reload();
      }
    }
  }

  #renderView() {
    if (!this.#list) return; // localize from the base class's constructor
    this.#list.toggleAttribute('aria-busy', this.#view === 'loading');
    if (this.#view === 'loading') {
      this.#list.replaceChildren(h('div', { class: 'skeleton' }), h('div', { class: 'skeleton' }),
        h('span', { class: 'sr-only' }, this.t('manage.loading')));
    } else if (this.#view === 'failed') {
      this.#list.replaceChildren(h('div', { class: 'empty' },
        h('button', { type: 'button', class: 'secondary retry', onclick: () => this.reload() }, this.t('manage.retry'))));
    } else {
      this.#render();
    }
  }

  #render() {
    const passkeys = this.#passkeys || [];
    this.#count.hidden = passkeys.length === 0;
    this.#count.textContent = String(passkeys.length);
    this.#count.setAttribute('aria-label', this.t('manage.count', { count: passkeys.length }));
    this.#count.setAttribute('role', 'img');
    if (passkeys.length === 0) {
      this.#list.replaceChildren(h('div', { class: 'empty' },
        h('span', { class: 'glyph' }, icon('passkey')),
        h('p', { class: 'empty-title' }, this.t('manage.empty_title')),
        h('p', { class: 'lead' }, this.t('manage.empty_lead')),
        h('slot', { name: 'empty' })));
      return;
    }
    this.#list.replaceChildren(h('ul', {}, passkeys.map((pk) => this.#item(pk))));
  }

  #item(pk) {
    const name = pk.label || pk.providerName || this.t('manage.default_name');
    const created = this.#time(pk.createdAt, false, true);
    const badge = pk.backedUp
      ? h('span', { class: 'badge synced' }, icon('cloud'), this.t('manage.synced'))
      : pk.backupEligible
        ? h('span', { class: 'badge' }, this.t('manage.not_synced_yet'))
        : h('span', { class: 'badge' }, icon('device'), this.t('manage.device_only'));
    const used = pk.lastUsedAt ? this.tNodes('manage.last_used', { date: this.#time(pk.lastUsedAt, true) }) : [this.t('manage.never_used')];
    const provider = pk.providerName ? this.t('manage.saved_in', { provider: pk.providerName }) : this.t('manage.provider_unknown');
    const item = h('li', { class: 'item', 'data-id': pk.id },
      h('div', { class: 'row' },
        h('span', { class: 'glyph' }, icon('key')),
        h('div', { class: 'meta' },
          h('div', { class: 'name' }, h('span', {}, name), badge),
          h('div', { class: 'sub' },
            h('span', { class: 'provider' }, provider),
            h('span', {}, ...this.tNodes('manage.created', { date: created })), h('span', {}, ...used))),
        h('button', {
          type: 'button', class: 'quiet delete',
          'aria-label': this.t('manage.delete_label', { name, provider: pk.providerName || this.t('manage.provider_unknown'), date: created.textContent }),
          'aria-expanded': String(this.#confirming === pk.id), onclick: () => this.#confirm(pk.id),
        }, this.t('manage.delete'))));
    if (this.#confirming === pk.id) {
      const deleting = this.#deleting === pk.id;
      const yes = h('button', { type: 'button', class: 'danger', 'data-action': 'yes', 'aria-disabled': deleting ? 'true' : null, onclick: () => this.#delete(pk.id) },
        ...(deleting ? [h('span', { class: 'spinner', 'aria-hidden': 'true' }), this.t('manage.deleting')] : [this.t('manage.confirm_yes')]));
      const cancel = h('button', { type: 'button', class: 'secondary', 'data-action': 'cancel', 'aria-disabled': deleting ? 'true' : null, onclick: () => this.#deleting || this.#confirm(null) }, this.t('manage.cancel'));
      item.append(h('div', { class: 'confirm', role: 'group', 'aria-label': this.t('manage.confirm_label', { name }),
        onkeydown: (ev) => { if (ev.key === 'Escape' && !this.#deleting) this.#confirm(null); } },
        h('div', { class: 'q' }, h('strong', {}, this.t('manage.confirm_title')),
          h('span', {}, this.t('manage.confirm_text'))),
        h('div', { class: 'actions' }, cancel, yes)));
    }
    return item;
  }

  // #time shows an RFC 3339 time as a date (with the time of day when withTime is set, so that
  // two passkeys created the same day differ), or relative to today ("yesterday") when recent
  // is set and it is less than a week ago, in the element's language.
  #time(iso, recent = false, withTime = false) {
    const d = new Date(iso);
    const lang = this.language;
    let text;
    try {
      const startOfDay = (t) => new Date(t.getFullYear(), t.getMonth(), t.getDate()).getTime();
      const days = Math.round((startOfDay(new Date()) - startOfDay(d)) / 86_400_000);
      text = recent && days >= 0 && days < 7
        ? new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }).format(-days, 'day')
        : new Intl.DateTimeFormat(lang, withTime ? { dateStyle: 'medium', timeStyle: 'short' } : { dateStyle: 'medium' }).format(d);
    } catch {
      text = d.toDateString();
    }
    let title;
    try {
      title = d.toLocaleString(lang);
    } catch {
      title = d.toString();
    }
    return h('time', { datetime: iso, title }, text);
  }

  #confirm(id) {
    if (this.#deleting) return;
    const previous = this.#confirming;
    this.#confirming = id;
    this.#render();
    const item = this.#list.querySelector(`li[data-id="${CSS.escape(id ?? previous ?? '')}"]`);
    if (id) item?.querySelector('[data-action="cancel"]')?.focus();
    else item?.querySelector('button.delete')?.focus();
  }

  async #delete(id) {
    if (this.#deleting) return;
    const hadFocus = !!this.shadowRoot.activeElement;
    this.#deleting = id;
    this.#render();
    // The busy confirmation keeps focus: its button is aria-disabled, not disabled.
    if (hadFocus) this.#list.querySelector(`li[data-id="${CSS.escape(id)}"] [data-action="yes"]`)?.focus();
    try {
      const { passkeys } = await this.client.remove(await this.token('passkey-delete'), id);
      this.#passkeys = passkeys;
      this.#confirming = null;
      this.#deleting = null;
      this.#render();
      this.say('manage.deleted', {}, 'success');
      this.#heading.focus({ preventScroll: true });
      this.emit('complete', { passkeys });
    } catch (err) {
      this.#confirming = null;
      this.#deleting = null;
      this.#render();
      // Focus stays on the control: the passkey's Delete button.
      if (hadFocus) this.#list.querySelector(`li[data-id="${CSS.escape(id)}"] button.delete`)?.focus();
      this.fail(err, 'error', hadFocus);
    }
  }
}

for (const [name, cls] of [['latchkey-login', LatchkeyLoginElement], ['latchkey-append', LatchkeyAppendElement], ['latchkey-passkeys', LatchkeyPasskeysElement]]) {
  if (!customElements.get(name)) customElements.define(name, cls);
}
