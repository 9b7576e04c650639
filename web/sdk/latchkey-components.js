// Latchkey web components: <latchkey-login>, <latchkey-append> and <latchkey-passkeys>.
// Importing this module defines the three elements; it re-exports the SDK.
//
//   <script type="module" src="https://broker.example.com/web/latchkey-components.js"></script>
//   <latchkey-login project-id="prj-..."></latchkey-login>
//
// Each element takes the attributes project-id and broker-url (default: the origin this module
// was loaded from), asks the page for connect tokens through its connectToken property
// (async (type) => secret), and dispatches bubbling, composed CustomEvents: complete, fallback
// (login only) and error. Types and documentation: /web/latchkey.d.ts.

import { Latchkey, LatchkeyError } from './latchkey.js';

export { Latchkey, LatchkeyError };

const brokerOrigin = new URL(import.meta.url).origin;

// DARK is the dark palette: the theme attribute picks it ("dark"), or the OS does ("auto", the
// default) unless theme="light".
const DARK = `
    --_bg: var(--latchkey-bg, #16181d);
    --_fg: var(--latchkey-fg, #eceef2);
    --_border: var(--latchkey-border, #2c3038);
    --_subtle: color-mix(in srgb, var(--_fg) 6%, var(--_bg));
    --_field: color-mix(in srgb, var(--_fg) 3%, var(--_bg));
    --_ring: color-mix(in srgb, var(--_accent) 55%, #ffffff);
    --_accent-text: color-mix(in srgb, var(--_accent) 45%, #ffffff);
    --_danger: #f87171;
    --_success: #4ade80;
    --_shadow: 0 1px 2px rgb(0 0 0 / 0.4), 0 12px 32px -16px rgb(0 0 0 / 0.6);
    --_on-danger: #1b0b0b;
    color-scheme: dark;`;

const STYLE = `
:host {
  --_accent: var(--latchkey-accent, #4f46e5);
  --_radius: var(--latchkey-radius, 12px);
  --_font: var(--latchkey-font, ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif);
  --_bg: var(--latchkey-bg, #ffffff);
  --_fg: var(--latchkey-fg, #111827);
  --_border: var(--latchkey-border, #e2e5ea);
  --_muted: color-mix(in srgb, var(--_fg) 62%, var(--_bg));
  --_subtle: color-mix(in srgb, var(--_fg) 4%, var(--_bg));
  --_field: var(--_bg);
  --_on-accent: #ffffff;
  --_ring: var(--_accent);
  --_accent-text: var(--_accent);
  --_danger: #dc2626;
  --_on-danger: #ffffff;
  --_success: #15803d;
  --_shadow: 0 1px 2px rgb(16 24 40 / 0.05), 0 12px 32px -16px rgb(16 24 40 / 0.18);
  display: block;
  color: var(--_fg);
  font: 400 15px/1.5 var(--_font);
  -webkit-font-smoothing: antialiased;
}
@media (prefers-color-scheme: dark) {
  :host(:not([theme="light"])) {${DARK}
  }
}
:host([theme="dark"]) {${DARK}
}
:host([theme="light"]) { color-scheme: light; }
:host([hidden]), [hidden] { display: none !important; }
:host([plain]) .card { background: transparent; border: 0; box-shadow: none; padding: 0; }
*, *::before, *::after { box-sizing: border-box; }
.card {
  background: var(--_bg);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
  box-shadow: var(--_shadow);
  padding: 24px;
}
h2 { font-size: 17px; line-height: 1.3; font-weight: 650; margin: 0; letter-spacing: -0.01em; }
p { margin: 0; }
.lead { color: var(--_muted); font-size: 14px; margin-top: 4px; }
.head { display: flex; gap: 14px; align-items: flex-start; margin-bottom: 20px; }
.glyph {
  flex: none; display: grid; place-items: center;
  width: 40px; height: 40px; border-radius: calc(var(--_radius) * 0.75);
  color: var(--_accent-text);
  background: color-mix(in srgb, var(--_accent) 14%, var(--_bg));
}
.glyph svg { width: 22px; height: 22px; }
label { display: block; font-size: 14px; font-weight: 600; margin: 0 0 6px; }
input {
  display: block; width: 100%; margin: 0 0 14px;
  font: inherit; color: inherit; background: var(--_field);
  border: 1px solid var(--_border); border-radius: calc(var(--_radius) * 0.67);
  padding: 10px 12px; outline: none;
  transition: border-color 0.15s, box-shadow 0.15s;
}
input::placeholder { color: var(--_muted); opacity: 0.8; }
input:focus { border-color: var(--_accent); box-shadow: 0 0 0 3px color-mix(in srgb, var(--_accent) 22%, transparent); }
button {
  font: inherit; font-size: 15px; font-weight: 600; line-height: 1.2;
  display: inline-flex; align-items: center; justify-content: center; gap: 8px;
  border-radius: calc(var(--_radius) * 0.67); padding: 10px 16px;
  border: 1px solid transparent; cursor: pointer;
  transition: background-color 0.15s, border-color 0.15s, color 0.15s, box-shadow 0.15s;
}
button svg { width: 18px; height: 18px; flex: none; }
button:focus-visible { outline: 2px solid var(--_ring); outline-offset: 2px; }
button:disabled { cursor: default; opacity: 0.65; }
.primary { width: 100%; background: var(--_accent); color: var(--_on-accent); box-shadow: 0 1px 2px rgb(16 24 40 / 0.12); }
.primary:hover:not(:disabled) { background: color-mix(in srgb, var(--_accent) 86%, #000); }
.secondary { background: var(--_bg); color: var(--_fg); border-color: var(--_border); }
.secondary:hover:not(:disabled) { background: var(--_subtle); }
.quiet { background: transparent; color: var(--_muted); padding: 6px 10px; font-size: 14px; }
.quiet:hover:not(:disabled) { background: var(--_subtle); color: var(--_fg); }
.danger { background: var(--_danger); color: var(--_on-danger); padding: 6px 12px; font-size: 14px; }
.danger:hover:not(:disabled) { background: color-mix(in srgb, var(--_danger) 86%, #000); }
.quiet.delete:hover:not(:disabled) { color: var(--_danger); background: color-mix(in srgb, var(--_danger) 10%, var(--_bg)); }
.spinner {
  width: 16px; height: 16px; border-radius: 50%; flex: none;
  border: 2px solid currentColor; border-right-color: transparent;
  animation: spin 0.7s linear infinite;
}
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .spinner { animation-duration: 2s; } }
.msg {
  margin-top: 14px; padding: 10px 12px; font-size: 14px;
  border-radius: calc(var(--_radius) * 0.67);
  border: 1px solid var(--_border); background: var(--_subtle);
  display: flex; gap: 8px; align-items: flex-start;
}
.msg:empty { display: none; }
.msg svg { width: 18px; height: 18px; flex: none; margin-top: 1px; }
.msg[data-tone="error"] {
  color: color-mix(in srgb, var(--_danger) 80%, var(--_fg));
  background: color-mix(in srgb, var(--_danger) 8%, var(--_bg));
  border-color: color-mix(in srgb, var(--_danger) 28%, var(--_bg));
}
.msg[data-tone="success"] {
  color: color-mix(in srgb, var(--_success) 80%, var(--_fg));
  background: color-mix(in srgb, var(--_success) 8%, var(--_bg));
  border-color: color-mix(in srgb, var(--_success) 28%, var(--_bg));
}
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
::slotted(input) { display: block; box-sizing: border-box; width: 100%; margin: 0 0 14px; }
.after { display: block; margin-top: 16px; color: var(--_muted); font-size: 14px; text-align: center; }
.done { display: flex; gap: 14px; align-items: flex-start; }
.done .glyph { color: var(--_success); background: color-mix(in srgb, var(--_success) 14%, var(--_bg)); }

/* passkey list */
.bar { display: flex; align-items: center; justify-content: space-between; gap: 12px; margin-bottom: 4px; }
.count { font-size: 13px; font-weight: 600; color: var(--_muted); background: var(--_subtle); border: 1px solid var(--_border); border-radius: 999px; padding: 1px 9px; }
ul { list-style: none; margin: 12px 0 0; padding: 0; }
li.item { border-top: 1px solid var(--_border); padding: 14px 0; }
li.item:first-child { border-top: 0; padding-top: 6px; }
li.item:last-child { padding-bottom: 2px; }
.row { display: flex; gap: 14px; align-items: center; }
.meta { flex: 1; min-width: 0; }
.name { font-weight: 600; display: flex; flex-wrap: wrap; align-items: center; gap: 6px 8px; }
.sub { color: var(--_muted); font-size: 13px; margin-top: 2px; line-height: 1.45; }
.sub > span { display: block; }
.badge {
  display: inline-flex; align-items: center; gap: 4px;
  font-size: 12px; font-weight: 600; line-height: 1; padding: 4px 8px; border-radius: 999px;
  color: var(--_muted); background: var(--_subtle); border: 1px solid var(--_border);
}
.badge svg { width: 13px; height: 13px; }
.badge.synced { color: var(--_accent-text); background: color-mix(in srgb, var(--_accent) 10%, var(--_bg)); border-color: color-mix(in srgb, var(--_accent) 25%, var(--_bg)); }
.confirm {
  margin-top: 12px; padding: 12px 14px; display: flex; flex-wrap: wrap; gap: 10px 12px; align-items: center;
  border-radius: calc(var(--_radius) * 0.67);
  background: color-mix(in srgb, var(--_danger) 7%, var(--_bg));
  border: 1px solid color-mix(in srgb, var(--_danger) 25%, var(--_bg));
}
.confirm .q { flex: 1 1 14em; font-size: 14px; }
.confirm .q strong { display: block; font-weight: 600; }
.confirm .q span { color: var(--_muted); font-size: 13px; }
.confirm .actions { flex: 1 0 auto; display: flex; gap: 8px; justify-content: flex-end; }
.confirm button { padding: 6px 12px; font-size: 14px; }
.empty { text-align: center; padding: 20px 8px 8px; }
.empty .glyph { margin: 0 auto 10px; }
.skeleton { height: 54px; border-radius: calc(var(--_radius) * 0.67); margin-top: 12px;
  background: linear-gradient(90deg, var(--_subtle), color-mix(in srgb, var(--_fg) 8%, var(--_bg)), var(--_subtle));
  background-size: 200% 100%; animation: shimmer 1.2s ease-in-out infinite; }
@keyframes shimmer { from { background-position: 100% 0; } to { background-position: -100% 0; } }
@media (prefers-reduced-motion: reduce) { .skeleton { animation: none; } }
`;

const svg = (body, viewBox = '0 0 24 24') =>
  `<svg viewBox="${viewBox}" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${body}</svg>`;

const ICON = {
  passkey: svg('<circle cx="9" cy="7.5" r="3.5"/><path d="M2.75 20.25c0-3.5 2.8-6.25 6.25-6.25 1.35 0 2.6.4 3.6 1.1"/><circle cx="17.5" cy="11.5" r="2.6"/><path d="M17.5 14.1v6.4l1.6-1.3M17.5 17.2h1.6"/>'),
  key: svg('<circle cx="8" cy="15" r="4"/><path d="m10.85 12.15 8.4-8.4M16.5 6.5l2.5 2.5M14 9l2 2"/>'),
  check: svg('<path d="m5 12.5 4.5 4.5L19 7.5"/>'),
  alert: svg('<circle cx="12" cy="12" r="9"/><path d="M12 7.5v5.25M12 16.25v.25"/>'),
  info: svg('<circle cx="12" cy="12" r="9"/><path d="M12 11v5.25M12 7.75v.25"/>'),
  cloud: svg('<path d="M7 18.5a4.5 4.5 0 0 1-.6-8.96A6 6 0 0 1 17.9 9a4.75 4.75 0 0 1-.4 9.5Z"/>'),
  device: svg('<rect x="6" y="2.75" width="12" height="18.5" rx="2.5"/><path d="M11 18h2"/>'),
};

// h builds an element; strings become text nodes, so server data is never parsed as HTML.
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'html') el.innerHTML = v; // only for the static icons above
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/**
 * userMessage returns a sentence for the user about err, a LatchkeyError, raised while signing
 * in ('login'), creating a passkey ('append') or managing passkeys ('manage').
 */
export function userMessage(err, context) {
  switch (err?.kind) {
    case 'cancelled':
      // The browser reports a closed prompt and a device without a passkey for the account
      // the same way (NotAllowedError), so the sentence covers both.
      if (context === 'login') {
        return 'The passkey prompt was closed. If this device has no passkey for this account, use a passkey on another device (such as your phone), or use your password.';
      }
      if (context === 'append') return 'The passkey prompt was closed. You can create a passkey whenever you like.';
      return 'The passkey prompt was closed. Try again, or use your password.';
    case 'not_supported':
      return 'This browser does not support passkeys. Use your password instead.';
    case 'already_registered':
      return 'This device or password manager already holds a passkey for your account, so there is nothing to set up here: sign in with it next time.';
    case 'network':
      return 'Could not reach the sign-in service. Check your connection and try again.';
    case 'server':
      switch (err.type) {
        case 'unknown_credential':
          return 'This passkey is no longer registered for this site. Choose another one, or use your password.';
        case 'invalid_connect_token':
          return 'This request has expired. Reload the page and try again.';
        case 'ceremony_not_found':
          return 'The passkey request took too long. Please try again.';
        case 'verification_failed':
          return 'The passkey could not be verified. Try again, or use your password.';
        case 'rate_limited':
          return 'Too many attempts. Wait a moment, then try again.';
        case 'unavailable':
          return 'The sign-in service is busy right now. Try again in a moment.';
        case 'forbidden_origin':
          return 'This site is not allowed to use this passkey service.';
      }
      return 'Something went wrong on our side. Please try again.';
  }
  return 'The passkey could not be used. Try again, or use your password.';
}

let conditionalSupport;
const conditionalSupported = () => (conditionalSupport ??= Latchkey.isConditionalSupported());

// Rollout (issue 16): the project's answer to GET connect/config, asked once per page and
// broker project; null when the broker could not be asked.
const rolloutAnswers = new Map();
function rolloutConfig(client) {
  const key = `${client.brokerURL} ${client.projectID}`;
  if (!rolloutAnswers.has(key)) rolloutAnswers.set(key, client.getConfig().catch(() => null));
  return rolloutAnswers.get(key);
}

// LatchkeyElement is what the three elements share: the client, the connectToken property,
// events and the status message.
class LatchkeyElement extends HTMLElement {
  static observedAttributes = ['project-id', 'broker-url', 'theme'];
  #client = null;
  #connectToken = null;

  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
    const style = h('style');
    style.textContent = STYLE;
    this.shadowRoot.append(style);
    // A property set before the element was defined shadows the accessor; adopt its value.
    if (Object.prototype.hasOwnProperty.call(this, 'connectToken')) {
      const v = this.connectToken;
      delete this.connectToken;
      this.#connectToken = v;
    }
  }

  /** The page's source of connect tokens: async (type) => secret. */
  get connectToken() { return this.#connectToken; }
  set connectToken(fn) {
    this.#connectToken = fn;
    this.connectTokenChanged();
  }

  connectTokenChanged() {}

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue !== newValue) this.#client = null;
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

  async token(type) {
    if (typeof this.#connectToken !== 'function') {
      throw new LatchkeyError('network', `<${this.localName}> needs a connectToken callback to get a ${type} token.`, { details: 'connectToken' });
    }
    let secret;
    try {
      secret = await this.#connectToken(type);
    } catch (cause) {
      throw new LatchkeyError('network', `Could not get a ${type} connect token from the page.`, { details: 'connectToken', cause });
    }
    if (typeof secret !== 'string' || secret === '') {
      throw new LatchkeyError('network', `The connectToken callback returned no ${type} token.`, { details: 'connectToken' });
    }
    return secret;
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  /** What the element does, for userMessage: 'login', 'append' or 'manage'. */
  get messageContext() { return 'manage'; }

  /** fail shows err to the user and dispatches it as an error event. */
  fail(err, tone = 'error') {
    const e = err instanceof LatchkeyError ? err : new LatchkeyError('webauthn', String(err?.message || err), { cause: err });
    this.say(userMessage(e, this.messageContext), tone);
    this.emit('error', { error: e });
  }

  /** say shows text in the element's live region; tone is info, success or error. */
  say(text, tone = 'info') {
    const msg = this.shadowRoot.querySelector('.msg');
    if (!msg) return;
    msg.dataset.tone = tone;
    msg.replaceChildren();
    if (text) {
      msg.innerHTML = tone === 'error' ? ICON.alert : tone === 'success' ? ICON.check : ICON.info;
      msg.append(h('span', {}, text));
    }
  }

  messageRegion() {
    return h('div', { class: 'msg', role: 'status', 'aria-live': 'polite' });
  }

  /**
   * applyRollout renders nothing until the project's rollout says that component ('login',
   * 'append' or 'manage') is on for this visitor, and nothing at all when it is off or the
   * broker cannot be asked (fail closed: the page's own form stays). Sets rolloutOn; resolves
   * to it; when off, dispatches a 'rollout' event { component, on: false }.
   */
  async applyRollout(component) {
    if (!this.querySelector(':scope > [slot="identifier"]')) this.hidden = true; // the page's own input stays
    const config = this.getAttribute('project-id') ? await rolloutConfig(this.client) : null;
    this.rolloutOn = config?.[component] === true;
    this.rolloutHide(!this.rolloutOn);
    if (!this.rolloutOn) this.emit('rollout', { component, on: false });
    return this.rolloutOn;
  }

  // rolloutHide hides the element, or only its own buttons when the page slotted its own
  // identifier input into it: that input belongs to the page's password form and stays.
  rolloutHide(hide) {
    if (!this.querySelector(':scope > [slot="identifier"]')) {
      this.hidden = hide;
      return;
    }
    for (const b of this.shadowRoot.querySelectorAll('button')) b.hidden = hide;
  }

  /** afterSlot is the default slot for the page's own content, hidden while empty. */
  afterSlot() {
    const box = h('div', { class: 'after', hidden: true });
    box.append(h('slot', { onslotchange: (ev) => { box.hidden = !ev.target.assignedNodes().some((n) => n.nodeType === 1 || n.textContent.trim()); } }));
    return box;
  }
}

function setBusy(button, busy, label) {
  button.disabled = busy;
  button.setAttribute('aria-busy', String(busy));
  button.replaceChildren();
  if (busy) button.append(h('span', { class: 'spinner', 'aria-hidden': 'true' }));
  else button.insertAdjacentHTML('afterbegin', ICON.passkey);
  button.append(h('span', {}, label));
}

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
    this.#label = h('label', { for: id }, 'Email or username');
    this.#field = h('input', {
      id, name: 'username', type: 'text', autocomplete: 'username webauthn',
      autocapitalize: 'none', spellcheck: 'false', placeholder: 'you@example.com',
    });
    this.#button = h('button', { type: 'submit', class: 'primary' });
    setBusy(this.#button, false, 'Sign in with a passkey');
    const form = h('form', { novalidate: true, part: 'form', onsubmit: (ev) => { ev.preventDefault(); this.signIn(); } },
      this.#label,
      h('slot', { name: 'identifier', onslotchange: () => this.#adoptSlottedInput() }, this.#field),
      this.#button);
    this.shadowRoot.append(h('div', { class: 'card', part: 'card' }, form, this.messageRegion(),
      this.afterSlot()));
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
    if (name === 'label') this.#label.textContent = newValue || 'Email or username';
    if (name === 'placeholder') this.#field.placeholder = newValue ?? 'you@example.com';
  }

  connectedCallback() {
    this.#done = false;
    this.#autofillFailures = 0;
    Latchkey.isSupported().then((ok) => {
      if (!ok && this.isConnected) this.say('This browser does not support passkeys. Use your password instead.');
    });
    this.applyRollout('login').then((on) => { if (on) this.#startAutofill(); });
  }

  disconnectedCallback() {
    this.#stopAutofill();
  }

  /** signIn starts a modal passkey sign-in, as the button does. */
  async signIn() {
    if (this.#busy) return;
    const identifier = this.input.value.trim();
    if (this.rolloutOn === false) { // the rollout turned passkey login off: the page's password
      this.emit('fallback', { reason: 'component_disabled', identifier });
      return;
    }
    if (!(await Latchkey.isSupported())) {
      this.say('This browser does not support passkeys. Use your password instead.');
      this.emit('fallback', { reason: 'not_supported', identifier });
      return;
    }
    this.#stopAutofill();
    this.#busy = true;
    setBusy(this.#button, true, 'Waiting for your passkey…');
    this.say('');
    try {
      const res = await this.client.login(identifier ? { identifier } : {});
      if (res.fallback) {
        this.say('There is no passkey for this account yet. Continue with your password.');
        this.emit('fallback', { reason: res.fallback.reason, identifier });
      } else {
        this.#succeed(res);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.#busy = false;
      setBusy(this.#button, false, 'Sign in with a passkey');
      if (!this.#done) this.#startAutofill();
    }
  }

  #succeed(res) {
    this.#done = true;
    this.say(`Signed in as ${res.username}.`, 'success');
    this.emit('complete', { signedPasskeyData: res.signedPasskeyData, username: res.username });
  }

  async #startAutofill() {
    if (this.#autofill || this.#done || this.hasAttribute('no-autofill')) return;
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
      if (err?.kind !== 'cancelled' && err?.kind !== 'not_supported') this.fail(err);
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

/** <latchkey-append>: a "Create a passkey" button and a confirmation once it is created. */
export class LatchkeyAppendElement extends LatchkeyElement {
  static observedAttributes = [...LatchkeyElement.observedAttributes, 'username'];
  #button;
  #body;
  #title;
  #notNow; // "Not now", with the auto attribute
  #upgradeStarted = false;
  // A passkey sign-in by a <latchkey-login> on the same page: this device has a passkey.
  #onLogin = (ev) => {
    if (ev.composedPath()[0]?.localName === 'latchkey-login') this.#checkRecentLogin();
  };

  get messageContext() { return 'append'; }

  constructor() {
    super();
    this.#button = h('button', { type: 'button', class: 'primary', onclick: () => this.create() });
    setBusy(this.#button, false, 'Create a passkey');
    this.#title = h('h2', {}, 'Sign in faster with a passkey');
    this.#body = h('div', { class: 'head' },
      h('span', { class: 'glyph', html: ICON.passkey }),
      h('div', {}, this.#title,
        h('p', { class: 'lead' }, h('slot', {}, 'Use your fingerprint, face or screen lock instead of a password. Passkeys are phishing-resistant. Depending on your device or password manager, a passkey stays on this device only or is synced to your other devices.'))));
    this.#notNow = h('button', { type: 'button', class: 'secondary', hidden: true, onclick: () => this.notNow() }, 'Not now');
    this.shadowRoot.append(h('div', { class: 'card', part: 'card' }, this.#body, this.#button, this.#notNow, this.messageRegion()));
  }

  connectedCallback() {
    this.ownerDocument.addEventListener('complete', this.#onLogin);
    this.#checkRecentLogin();
    if (!this.hasAttribute('auto')) this.applyRollout('append');
    else if (this.connectToken) this.upgrade();
    else this.hidden = true; // until connectToken is set
  }

  connectTokenChanged() {
    if (this.isConnected && this.hasAttribute('auto') && !this.#upgradeStarted) this.upgrade();
  }

  /**
   * upgrade (the auto attribute) runs the automatic passkey upgrade after a password sign-in:
   * renders nothing while it runs and when no passkey should be offered; shows the
   * confirmation when conditional create made one; otherwise shows the offer with "Not now".
   * Dispatches 'upgrade' with the SDK's UpgradeResult.
   */
  async upgrade() {
    this.#upgradeStarted = true;
    this.hidden = true;
    let res;
    try {
      res = await this.client.upgrade(await this.token('passkey-append'));
    } catch (err) {
      this.emit('upgrade', { result: 'skipped', reason: 'error', error: err });
      return; // fail closed: nothing shown
    }
    this.emit('upgrade', res);
    if (res.result === 'skipped') return;
    this.hidden = false;
    if (res.result === 'created') {
      this.#created(res.passkey);
      this.emit('complete', { passkey: res.passkey });
      return;
    }
    this.#notNow.hidden = false;
  }

  /** notNow remembers "Not now" at the broker (on every device, for the project's period) and hides the offer. */
  async notNow() {
    this.#notNow.disabled = true;
    try {
      await this.client.declineAppend(await this.token('passkey-append'));
      this.hidden = true;
      this.emit('decline', {});
    } catch (err) {
      this.#notNow.disabled = false;
      this.fail(err);
    }
  }

  disconnectedCallback() {
    this.ownerDocument.removeEventListener('complete', this.#onLogin);
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
    if (this.#button.isConnected && !this.#button.disabled && this.hasRecentPasskey) {
      this.#alreadyHas('You signed in with a passkey on this device, so it already holds one for your account. There is nothing to set up here.');
    }
  }

  // #alreadyHas shows, as information, that this device already holds a passkey.
  #alreadyHas(text) {
    this.#button.hidden = true;
    this.#title.textContent = 'You already have a passkey';
    this.say(text, 'info');
  }

  /** create asks the page for a passkey-append token and creates a passkey, as the button does. */
  async create() {
    if (this.#button.disabled || this.#button.hidden) return;
    setBusy(this.#button, true, 'Waiting for your passkey…');
    this.say('');
    try {
      const passkey = await this.client.append(await this.token('passkey-append'));
      this.#notNow.hidden = true;
      this.#created(passkey);
      this.emit('complete', { passkey });
    } catch (err) {
      setBusy(this.#button, false, 'Create a passkey');
      if (err?.kind === 'already_registered') {
        this.#alreadyHas('');
        this.fail(err, 'info'); // information, not a failure: the passkey exists
      } else {
        this.fail(err);
      }
    }
  }

  #created(passkey) {
    const where = passkey.providerName ? ` in ${passkey.providerName}` : '';
    const sync = passkey.backedUp
      ? `It is synced to your other devices${passkey.providerName ? ` that use ${passkey.providerName}` : ''}.`
      : passkey.backupEligible
        ? 'It is not synced yet: it will reach your other devices once your password manager has backed it up.'
        : 'It stays on this device only: create a passkey on each device you sign in from.';
    const card = this.shadowRoot.querySelector('.card');
    const done = h('div', { class: 'done' },
      h('span', { class: 'glyph', html: ICON.check }),
      h('div', {},
        h('h2', { tabindex: '-1' }, 'Passkey created'),
        h('p', { class: 'lead' }, `Your passkey is saved${where}. ${sync} Next time, sign in with it instead of your password.`)));
    const announce = this.messageRegion();
    announce.classList.add('sr-only'); // the confirmation shows it; screen readers hear it
    card.replaceChildren(done, announce);
    this.say('Passkey created. Your passkey is ready to use.', 'success');
    done.querySelector('h2').focus({ preventScroll: true });
  }
}

/** <latchkey-passkeys>: the user's passkeys, each with a Delete button and an inline confirmation. */
export class LatchkeyPasskeysElement extends LatchkeyElement {
  static observedAttributes = [...LatchkeyElement.observedAttributes, 'heading'];
  #list;
  #count;
  #heading;
  #passkeys = null;
  #loading = false;
  #again = false; // reload asked for while loading
  #confirming = null; // credential ID awaiting confirmation
  // A passkey created by a <latchkey-append> on the same page shows up at once.
  #onAppend = (ev) => {
    if (ev.composedPath()[0]?.localName === 'latchkey-append' && this.#passkeys !== null) this.reload();
  };

  constructor() {
    super();
    this.#heading = h('h2', { id: 'heading', tabindex: '-1' }, 'Passkeys');
    this.#count = h('span', { class: 'count', hidden: true });
    this.#list = h('div', { class: 'list' });
    this.shadowRoot.append(h('section', { class: 'card', part: 'card', 'aria-labelledby': 'heading' },
      h('div', { class: 'bar' }, this.#heading, this.#count),
      this.#list, this.messageRegion(), this.afterSlot()));
  }

  attributeChangedCallback(name, oldValue, newValue) {
    super.attributeChangedCallback(name, oldValue, newValue);
    if (name === 'heading') this.#heading.textContent = newValue ?? 'Passkeys';
    else if (oldValue !== newValue && this.#passkeys) this.reload();
  }

  connectedCallback() {
    this.ownerDocument.addEventListener('complete', this.#onAppend);
    this.applyRollout('manage');
    if (this.#passkeys === null && !this.#loading) {
      if (this.connectToken) this.reload();
      else this.#renderLoading();
    }
  }

  disconnectedCallback() {
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
    if (this.#passkeys === null) this.#renderLoading();
    try {
      const { passkeys } = await this.client.list(await this.token('passkey-list'));
      this.#passkeys = passkeys;
      this.#confirming = null;
      this.say('');
      this.#render();
    } catch (err) {
      this.#list.replaceChildren(h('div', { class: 'empty' },
        h('button', { type: 'button', class: 'secondary', onclick: () => this.reload() }, 'Try again')));
      this.fail(err);
    } finally {
      this.#loading = false;
      if (this.#again) {
        this.#again = false;
        this.reload();
      }
    }
  }

  #renderLoading() {
    this.#list.setAttribute('aria-busy', 'true');
    this.#list.replaceChildren(h('div', { class: 'skeleton' }), h('div', { class: 'skeleton' }),
      h('span', { class: 'sr-only' }, 'Loading your passkeys…'));
  }

  #render() {
    const passkeys = this.#passkeys || [];
    this.#list.removeAttribute('aria-busy');
    this.#count.hidden = passkeys.length === 0;
    this.#count.textContent = String(passkeys.length);
    if (passkeys.length === 0) {
      this.#list.replaceChildren(h('div', { class: 'empty' },
        h('span', { class: 'glyph', html: ICON.passkey }),
        h('p', { style: 'font-weight:600' }, 'No passkeys yet'),
        h('p', { class: 'lead' }, 'Create one to sign in without a password.'),
        h('slot', { name: 'empty' })));
      return;
    }
    this.#list.replaceChildren(h('ul', {}, passkeys.map((pk) => this.#item(pk))));
  }

  #item(pk) {
    const name = pk.label || pk.providerName || 'Passkey';
    const created = this.#time(pk.createdAt, false, true);
    const badge = pk.backedUp
      ? h('span', { class: 'badge synced', html: ICON.cloud }, 'Synced')
      : pk.backupEligible
        ? h('span', { class: 'badge' }, 'Not synced yet')
        : h('span', { class: 'badge', html: ICON.device }, 'This device only');
    const used = pk.lastUsedAt ? ['Last used ', this.#time(pk.lastUsedAt, true)] : ['Never used'];
    const item = h('li', { class: 'item', 'data-id': pk.id },
      h('div', { class: 'row' },
        h('span', { class: 'glyph', html: ICON.key }),
        h('div', { class: 'meta' },
          h('div', { class: 'name' }, h('span', {}, name), badge),
          h('div', { class: 'sub' },
            h('span', { class: 'provider' }, pk.providerName ? `Saved in ${pk.providerName}` : 'Passkey provider not known'),
            h('span', {}, 'Created ', created), h('span', {}, ...used))),
        h('button', { type: 'button', class: 'quiet delete', 'aria-label': `Delete passkey ${name} created ${created.textContent}`,
          'aria-expanded': String(this.#confirming === pk.id), onclick: () => this.#confirm(pk.id) }, 'Delete')));
    if (this.#confirming === pk.id) {
      const yes = h('button', { type: 'button', class: 'danger', 'data-action': 'yes', onclick: () => this.#delete(pk.id) }, 'Yes, delete');
      const cancel = h('button', { type: 'button', class: 'secondary', 'data-action': 'cancel', onclick: () => this.#confirm(null) }, 'Cancel');
      item.append(h('div', { class: 'confirm', role: 'group', 'aria-label': `Confirm deleting ${name}`,
        onkeydown: (ev) => { if (ev.key === 'Escape') this.#confirm(null); } },
        h('div', { class: 'q' }, h('strong', {}, 'Delete this passkey?'),
          h('span', {}, 'You will no longer be able to sign in with it.')),
        h('div', { class: 'actions' }, cancel, yes)));
    }
    return item;
  }

  // #time shows an RFC 3339 time as a date (with the time of day when withTime is set, so that
  // two passkeys created the same day differ), or relative to today ("yesterday") when recent
  // is set and it is less than a week ago.
  #time(iso, recent = false, withTime = false) {
    const d = new Date(iso);
    const lang = this.closest('[lang]')?.lang || undefined;
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
    return h('time', { datetime: iso, title: d.toLocaleString(lang) }, text);
  }

  #confirm(id) {
    const previous = this.#confirming;
    this.#confirming = id;
    this.#render();
    const item = this.#list.querySelector(`li[data-id="${CSS.escape(id ?? previous ?? '')}"]`);
    if (id) item?.querySelector('[data-action="cancel"]')?.focus();
    else item?.querySelector('button.delete')?.focus();
  }

  async #delete(id) {
    const item = this.#list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
    for (const b of item?.querySelectorAll('button') || []) b.disabled = true;
    const yes = item?.querySelector('[data-action="yes"]');
    if (yes) yes.replaceChildren(h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Deleting…');
    try {
      const { passkeys } = await this.client.remove(await this.token('passkey-delete'), id);
      this.#passkeys = passkeys;
      this.#confirming = null;
      this.#render();
      this.say('Passkey deleted.', 'success');
      this.#heading.focus({ preventScroll: true });
      this.emit('complete', { passkeys });
    } catch (err) {
      this.#confirming = null;
      this.#render();
      this.fail(err);
    }
  }
}

for (const [name, cls] of [['latchkey-login', LatchkeyLoginElement], ['latchkey-append', LatchkeyAppendElement], ['latchkey-passkeys', LatchkeyPasskeysElement]]) {
  if (!customElements.get(name)) customElements.define(name, cls);
}
