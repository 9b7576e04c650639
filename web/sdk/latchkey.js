// Latchkey browser SDK: passkey sign-in, creation and management against a Latchkey broker.
// An ES module without dependencies, served by the broker at /web/latchkey.js.
//
//   import { Latchkey, LatchkeyError } from 'https://broker.example.com/web/latchkey.js';
//   const lk = new Latchkey({ projectID: 'prj-...' });
//   const { signedPasskeyData } = await lk.login({ identifier: 'jane@example.com' });
//
// Types and documentation: /web/latchkey.d.ts. Drop-in elements: /web/latchkey-components.js.

const MESSAGES = {
  cancelled: 'The passkey prompt was closed. Try again, or use your password.',
  aborted: 'The passkey request was stopped.',
  notSupported: 'This browser does not support passkeys.',
  conditionalNotSupported: 'This browser does not offer passkeys in autofill.',
  alreadyRegistered: 'This device or password manager already holds a passkey for this account.',
  network: 'Could not reach the passkey service. Check your connection and try again.',
  server: 'The passkey service returned an unexpected answer.',
  webauthn: 'The passkey operation failed.',
};

/** The outcomes a page may report with Latchkey.report (the broker accepts only these). */
export const REPORT_EVENTS = Object.freeze(['append.offer_shown', 'append.offer_dismissed', 'append.cancelled', 'login.cancelled', 'login.fallback']);

/** The reasons of a login.fallback report. */
export const FALLBACK_REASONS = Object.freeze(['no_passkey', 'cancelled', 'failed', 'unknown_credential']);

/**
 * The one error type of the SDK. `kind` says what happened: 'cancelled', 'not_supported',
 * 'already_registered', 'network', 'server' (an HTTP error; `type` and `status` come from the
 * contract's error envelope) or 'webauthn' (another browser error; `details` is its name).
 */
export class LatchkeyError extends Error {
  constructor(kind, message, { type, status, requestID, details, validation, signal, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'LatchkeyError';
    this.kind = kind;
    this.type = type;
    this.status = status;
    this.requestID = requestID;
    this.details = details;
    if (validation !== undefined) this.validation = validation;
    if (signal !== undefined) this.signal = signal;
  }
}

/** A client of one Latchkey project's frontend API. */
export class Latchkey {
  #projectID;
  #brokerURL;
  #conditional = null; // AbortController of the pending autofill request
  #conditionalSettled = Promise.resolve(); // settles when its navigator.credentials.get does

  constructor({ projectID, brokerURL } = {}) {
    if (typeof projectID !== 'string' || projectID === '') {
      throw new TypeError('Latchkey: projectID is required');
    }
    this.#projectID = projectID;
    this.#brokerURL = String(brokerURL || new URL(import.meta.url).origin).replace(/\/+$/, '');
  }

  get projectID() { return this.#projectID; }
  get brokerURL() { return this.#brokerURL; }

  /**
   * The passkey sign-in of this project in this browser tab within the last 30 minutes, as
   * { username, userID, credentialID, at } (userID: the user handle; at: milliseconds since
   * the epoch), or null. login and loginConditional record it (sessionStorage), so that a page
   * can tell that this device holds a passkey for the user; list and remove forget it once
   * that passkey is gone, and login forgets it when the identifier has no passkey.
   */
  recentPasskeyLogin() {
    try {
      const v = JSON.parse(sessionStorage.getItem(this.#usedKey) || 'null');
      if (v && typeof v.username === 'string' && Date.now() - v.at < 30 * 60_000) return v;
    } catch {
      // No storage (a sandboxed frame), or a value this code did not write.
    }
    return null;
  }

  get #usedKey() { return `latchkey.passkeyLogin.${this.#projectID}`; }

  /** Resolves to whether this browser has WebAuthn (PublicKeyCredential). */
  static async isSupported() {
    return typeof window !== 'undefined' && typeof window.PublicKeyCredential === 'function' &&
      !!navigator.credentials && typeof navigator.credentials.get === 'function';
  }

  /** Resolves to whether this browser offers passkeys in autofill (conditional mediation). */
  static async isConditionalSupported() {
    if (!(await Latchkey.isSupported())) return false;
    const PKC = window.PublicKeyCredential;
    try {
      if (typeof PKC.isConditionalMediationAvailable === 'function') {
        return (await PKC.isConditionalMediationAvailable()) === true;
      }
      if (typeof PKC.getClientCapabilities === 'function') {
        return (await PKC.getClientCapabilities()).conditionalGet === true;
      }
    } catch {
      // A browser that throws here has no usable autofill.
    }
    return false;
  }

  /**
   * Signs in with a passkey in a modal prompt: identifier-first when `identifier` is given,
   * bound to a passkey-login connect token with `loginConnectToken`, usernameless otherwise.
   * Resolves to { signedPasskeyData, username }, or to { fallback: { reason } } when the
   * identifier has no passkey. A pending autofill request of this instance is aborted first.
   */
  async login({ identifier, loginConnectToken, signal } = {}) {
    await requireSupport();
    await this.#abortConditional();
    const body = {};
    if (identifier) body.identifier = identifier;
    if (loginConnectToken) body.loginConnectToken = loginConnectToken;
    const start = await this.#post('login/start', body, signal);
    if (start.fallback) {
      if (identifier && this.recentPasskeyLogin()?.username === identifier) this.#forgetPasskeyLogin();
      return { fallback: { reason: start.fallback.reason } };
    }
    const credential = await askProvider('get', { publicKey: parseRequestOptions(start.publicKey), signal }, signal);
    return this.#finishLogin(start.ceremonyID, credential, signal);
  }

  /**
   * Offers the user's passkeys in the autofill of inputs with autocomplete="username webauthn"
   * (mediation 'conditional') and signs in with the one picked. Resolves to
   * { signedPasskeyData, username }; rejects with kind 'cancelled' when `signal` aborts or a
   * modal request of this instance replaces it.
   */
  async loginConditional({ signal } = {}) {
    if (!(await Latchkey.isConditionalSupported())) {
      throw new LatchkeyError('not_supported', MESSAGES.conditionalNotSupported);
    }
    await this.#abortConditional();
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    if (signal) {
      if (signal.aborted) controller.abort(signal.reason);
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    this.#conditional = controller;
    let settle;
    this.#conditionalSettled = new Promise((resolve) => { settle = resolve; });
    try {
      const start = await this.#post('login/start', { conditional: true }, controller.signal);
      let credential;
      try {
        credential = await askProvider('get', {
          publicKey: parseRequestOptions(start.publicKey),
          mediation: 'conditional',
          signal: controller.signal,
        }, controller.signal);
      } finally {
        settle();
      }
      return await this.#finishLogin(start.ceremonyID, credential, signal);
    } finally {
      settle();
      signal?.removeEventListener('abort', onAbort);
      if (this.#conditional === controller) this.#conditional = null;
    }
  }

  /**
   * Creates a passkey for the user of a passkey-append connect token and resolves to the
   * contract's Passkey object. With { conditional: true } the browser may create it silently
   * after a password sign-in (conditional create), without a modal prompt.
   */
  async append(connectToken, { conditional = false, hints, signal } = {}) {
    await requireSupport();
    if (!conditional) await this.#abortConditional();
    const start = await this.#post('append/start', { connectToken, conditional: !!conditional }, signal);
    // hints (client-device, security-key, hybrid): Level 3; browsers without them ignore the member.
    const options = { publicKey: parseCreationOptions(Array.isArray(hints) ? { ...start.publicKey, hints } : start.publicKey) };
    if (conditional) options.mediation = 'conditional';
    if (signal) options.signal = signal;
    // The provider may hold a new credential from the moment it is asked, before create()
    // returns here: until the broker has stored it, a list answered meanwhile must not tell
    // the provider that the credential is not accepted (see signalAccepted).
    created.pending++;
    try {
      const credential = await askProvider('create', options, signal);
      created.count++;
      const res = await this.#post('append/finish', { ceremonyID: start.ceremonyID, credential: credentialJSON(credential) }, signal);
      return res.passkey;
    } finally {
      created.pending--;
    }
  }

  /**
   * What the project's rollout turns on for this visitor: { login, append, manage } (booleans),
   * from GET connect/config with the browser's capabilities (see clientCapabilities). Rejects
   * with a LatchkeyError when the broker cannot be asked; a component then renders nothing
   * (fails closed: the page's password form stays as it is).
   */
  async getConfig({ identifier, signal } = {}) {
    const caps = await Latchkey.clientCapabilities();
    const q = new URLSearchParams();
    if (identifier) q.set('identifier', identifier);
    q.set('platformAuthenticator', String(caps.platformAuthenticator));
    q.set('conditionalMediation', String(caps.conditionalMediation));
    q.set('os', caps.os);
    const res = await this.#request('GET', `config?${q}`, undefined, signal);
    const r = res.rollout || {};
    return { login: r.login === true, append: r.append === true, manage: r.manage === true };
  }

  /**
   * Remembers "Not now" to the passkey offer for the user of a passkey-append connect token:
   * the broker keeps it for the project's decline period, on every device, and upgrade skips
   * the offer meanwhile. The token stays usable.
   */
  async declineAppend(connectToken) {
    await this.#post('append/decline', { connectToken });
  }

  /**
   * The automatic passkey upgrade after a password sign-in, with a passkey-append connect
   * token. Resolves to { result: 'skipped', reason } when no passkey should be offered
   * (append_off, declined, recent_passkey_login, has_platform_passkey, not_supported); to
   * { result: 'created', passkey } when the browser created one silently by conditional
   * create (where getClientCapabilities reports conditionalCreate); otherwise to
   * { result: 'offer', reason? }: the caller shows its offer once (with "Not now" calling
   * declineAppend). A conditional create that does not answer within `timeout`
   * milliseconds (default 5000) is abandoned for the offer.
   */
  async upgrade(connectToken, { signal, timeout = 5000 } = {}) {
    if (!(await Latchkey.isSupported())) return { result: 'skipped', reason: 'not_supported' };
    const caps = await Latchkey.clientCapabilities();
    const client = { platformAuthenticator: caps.platformAuthenticator, conditionalMediation: caps.conditionalMediation,
      conditionalCreate: caps.conditionalCreate, os: caps.os };
    const used = this.recentPasskeyLogin();
    if (used) client.passkeyLoginUsername = used.username;
    let start;
    try {
      start = await this.#post('append/start', { connectToken, upgrade: true, checkOnly: !caps.conditionalCreate,
        conditional: caps.conditionalCreate, client }, signal);
    } catch (err) {
      if (err instanceof LatchkeyError && err.type === 'component_disabled') return { result: 'skipped', reason: 'append_off' };
      throw err;
    }
    if (start.skip) return { result: 'skipped', reason: start.skip.reason };
    if (!start.ceremonyID) return { result: 'offer' };
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new DOMException('conditional create did not answer', 'TimeoutError')), timeout);
    let credential;
    try {
      credential = await navigator.credentials.create({
        publicKey: parseCreationOptions({ ...start.publicKey, hints: ['client-device'] }),
        mediation: 'conditional',
        signal: controller.signal,
      });
    } catch (err) {
      if (signal?.aborted) throw cancelled(err, signal);
      return { result: 'offer', reason: controller.signal.aborted ? 'timeout' : (err?.name || 'conditional_create_failed') };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    if (!credential) return { result: 'offer', reason: 'conditional_create_failed' };
    try {
      const res = await this.#post('append/finish', { ceremonyID: start.ceremonyID, credential: credentialJSON(credential) }, signal);
      return { result: 'created', passkey: res.passkey };
    } catch (err) {
      if (signal?.aborted) throw err;
      return { result: 'offer', reason: err?.type || 'finish_failed' };
    }
  }

  /**
   * What this browser reports, for the rollout's requirements: { platformAuthenticator,
   * conditionalMediation, conditionalCreate (booleans), os ('android', 'chromeos', 'ios',
   * 'linux', 'macos', 'windows' or 'other') }. Uses the Level 3
   * PublicKeyCredential.getClientCapabilities where the browser has it; false elsewhere.
   */
  static async clientCapabilities() {
    const out = { platformAuthenticator: false, conditionalMediation: false, conditionalCreate: false, os: osFamily() };
    if (!(await Latchkey.isSupported())) return out;
    const PKC = window.PublicKeyCredential;
    let caps = {};
    try {
      if (typeof PKC.getClientCapabilities === 'function') caps = (await PKC.getClientCapabilities()) || {};
    } catch {
      // Capabilities are hints; a browser that refuses the query reports none.
    }
    out.conditionalCreate = caps.conditionalCreate === true;
    out.conditionalMediation = caps.conditionalGet === true || (await Latchkey.isConditionalSupported());
    if (typeof caps.userVerifyingPlatformAuthenticator === 'boolean') {
      out.platformAuthenticator = caps.userVerifyingPlatformAuthenticator;
    } else {
      try {
        out.platformAuthenticator = (await PKC.isUserVerifyingPlatformAuthenticatorAvailable?.()) === true;
      } catch {
        // Unknown: reported as false.
      }
    }
    return out;
  }

  /** Lists the passkeys of the user of a passkey-list connect token: { passkeys, signal }. */
  async list(connectToken) {
    const seen = created.count;
    const res = await this.#post('manage/list', { connectToken });
    signalAccepted(res.signal, seen);
    this.#checkPasskeyLogin(res.signal);
    return { passkeys: res.passkeys || [], signal: res.signal };
  }

  /**
   * Deletes one passkey of the user of a passkey-delete connect token and resolves to the
   * remaining ones: { passkeys, signal }.
   */
  async remove(connectToken, credentialID) {
    const seen = created.count;
    const res = await this.#post('manage/delete', { connectToken, credentialID });
    signalAccepted(res.signal, seen);
    this.#checkPasskeyLogin(res.signal);
    return { passkeys: res.passkeys || [], signal: res.signal };
  }

  /**
   * Reports an outcome only the page sees, for the project's adoption analytics: one of
   * REPORT_EVENTS; login.fallback takes { reason } (one of FALLBACK_REASONS). Fire and forget:
   * the request is sent with keepalive (it survives a navigation that follows), and report
   * never throws or waits; it returns false, sending nothing, for a name or reason the broker
   * would refuse, true otherwise.
   */
  report(event, { reason } = {}) {
    if (!REPORT_EVENTS.includes(event)) return false;
    if (event === 'login.fallback' ? !FALLBACK_REASONS.includes(reason) : reason !== undefined) return false;
    const body = event === 'login.fallback' ? { event, reason } : { event };
    try {
      fetch(`${this.#brokerURL}/v2/projects/${encodeURIComponent(this.#projectID)}/connect/analytics`, {
        method: 'POST',
        mode: 'cors',
        credentials: 'omit',
        keepalive: true,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      }).catch(() => {});
    } catch {
      // A browser without fetch or keepalive: the figure is lost, the page is not disturbed.
    }
    return true;
  }

  // #checkPasskeyLogin forgets the recent passkey sign-in when signal, the user's accepted
  // credentials, shows that its passkey is gone.
  #checkPasskeyLogin(signal) {
    const used = this.recentPasskeyLogin();
    const accepted = signal?.allAcceptedCredentials;
    if (used && accepted && used.userID === accepted.userId && !(accepted.allAcceptedCredentialIds || []).includes(used.credentialID)) {
      this.#forgetPasskeyLogin();
    }
  }

  #forgetPasskeyLogin() {
    try {
      sessionStorage.removeItem(this.#usedKey);
    } catch {
      // Nothing was remembered without storage.
    }
  }

  async #finishLogin(ceremonyID, credential, signal) {
    try {
      const res = await this.#post('login/finish', { ceremonyID, credential: credentialJSON(credential) }, signal);
      try {
        // The user handle and the credential, from the token's claims, let list and remove
        // forget this sign-in once its passkey is deleted.
        const claims = JSON.parse(fromB64url(res.signedPasskeyData.split('.')[1]));
        sessionStorage.setItem(this.#usedKey, JSON.stringify({ username: res.username, userID: claims.webauthnId,
          credentialID: claims.credential, at: Date.now() }));
      } catch {
        // Remembering is a hint for the page; without storage nothing else changes.
      }
      return { signedPasskeyData: res.signedPasskeyData, username: res.username };
    } catch (err) {
      const unknown = err instanceof LatchkeyError && err.type === 'unknown_credential' ? err.signal?.unknownCredential : null;
      if (unknown && typeof window.PublicKeyCredential?.signalUnknownCredential === 'function') {
        // Tell the passkey provider to hide or remove a passkey this site no longer knows.
        try {
          PublicKeyCredential.signalUnknownCredential(unknown).catch(() => {});
        } catch {
          // Signals are hints; a browser that refuses one changes nothing for the page.
        }
      }
      throw err;
    }
  }

  // #abortConditional stops this instance's autofill request and waits until the browser has
  // released it, since browsers allow one WebAuthn request at a time.
  async #abortConditional() {
    const c = this.#conditional;
    if (!c) return;
    this.#conditional = null;
    c.abort(new DOMException('A modal passkey request replaced the autofill request.', 'AbortError'));
    await this.#conditionalSettled;
  }

  #post(op, body, signal) {
    return this.#request('POST', op, body, signal);
  }

  async #request(method, op, body, signal) {
    const url = `${this.#brokerURL}/v2/projects/${encodeURIComponent(this.#projectID)}/connect/${op}`;
    let res;
    try {
      const init = { method, mode: 'cors', credentials: 'omit', signal };
      if (method === 'POST') {
        init.headers = { 'Content-Type': 'application/json' };
        init.body = JSON.stringify(body);
      }
      res = await fetch(url, init);
    } catch (err) {
      if (signal?.aborted) throw cancelled(err, signal);
      throw new LatchkeyError('network', MESSAGES.network, { cause: err });
    }
    let data = null;
    try {
      data = await res.json();
    } catch (err) {
      if (signal?.aborted) throw cancelled(err, signal);
    }
    const requestID = res.headers.get('X-Request-ID') || data?.requestData?.requestID || undefined;
    if (!res.ok) {
      const e = data && typeof data.error === 'object' && data.error ? data.error : {};
      throw new LatchkeyError('server', (data && data.message) || `${MESSAGES.server} (HTTP ${res.status})`, {
        type: e.type || 'internal_error',
        status: res.status,
        requestID,
        details: e.details,
        validation: e.validation,
        signal: e.signal,
      });
    }
    if (data === null || typeof data !== 'object') {
      throw new LatchkeyError('server', MESSAGES.server, { type: 'internal_error', status: res.status, requestID });
    }
    return data;
  }
}

async function requireSupport() {
  if (!(await Latchkey.isSupported())) throw new LatchkeyError('not_supported', MESSAGES.notSupported);
}

// askProvider calls navigator.credentials[op] ('create' or 'get'), turning its failure into a
// LatchkeyError and a null answer into 'cancelled'.
async function askProvider(op, options, signal) {
  let credential;
  try {
    credential = await navigator.credentials[op](options);
  } catch (err) {
    throw browserError(err, signal, op);
  }
  if (!credential) throw new LatchkeyError('cancelled', MESSAGES.cancelled);
  return credential;
}

function cancelled(cause, signal) {
  const byUs = signal?.aborted;
  return new LatchkeyError('cancelled', byUs ? MESSAGES.aborted : MESSAGES.cancelled, { cause, details: cause?.name });
}

// browserError maps what navigator.credentials rejects with to a LatchkeyError.
function browserError(err, signal, op) {
  if (err instanceof LatchkeyError) return err;
  if (signal?.aborted || err?.name === 'AbortError') return cancelled(err, signal);
  switch (err?.name) {
    case 'NotAllowedError':
      return new LatchkeyError('cancelled', MESSAGES.cancelled, { cause: err, details: err.name });
    case 'InvalidStateError':
      if (op === 'create') {
        return new LatchkeyError('already_registered', MESSAGES.alreadyRegistered, { cause: err, details: err.name });
      }
      break;
    case 'NotSupportedError':
      return new LatchkeyError('not_supported', MESSAGES.notSupported, { cause: err, details: err.name });
  }
  return new LatchkeyError('webauthn', `${MESSAGES.webauthn} ${err?.message || ''}`.trim(), { cause: err, details: err?.name });
}

// created counts the credentials this page's clients made (count) and those whose append has
// not finished yet (pending): the broker may not list them yet.
const created = { count: 0, pending: 0 };

// signalAccepted tells the passkey provider which of the user's passkeys the site still
// accepts, from an answer requested when created.count was seen. A provider deletes the
// credentials missing from the list (Chromium does), so nothing is signalled when a credential
// was made on this page since the request went out or is still being stored: that answer may
// not list it, and the new passkey would be deleted as soon as it was made.
function signalAccepted(signal, seen) {
  const all = signal?.allAcceptedCredentials;
  if (!all || !all.userId || typeof window.PublicKeyCredential?.signalAllAcceptedCredentials !== 'function') return;
  if (created.count !== seen || created.pending > 0) return;
  try {
    PublicKeyCredential.signalAllAcceptedCredentials(all).catch(() => {});
  } catch {
    // Signals are hints; nothing to do when the browser refuses one.
  }
}

// osFamily reads the operating system family from User-Agent Client Hints or the user agent.
function osFamily() {
  const ua = `${navigator.userAgentData?.platform || ''} ${navigator.userAgent || ''}`.toLowerCase();
  if (/android/.test(ua)) return 'android';
  if (/cros|chrome os/.test(ua)) return 'chromeos';
  if (/iphone|ipad|ipod|\bios\b/.test(ua)) return 'ios';
  if (/mac/.test(ua)) return 'macos';
  if (/win/.test(ua)) return 'windows';
  if (/linux/.test(ua)) return 'linux';
  return 'other';
}

// --- JSON <-> WebAuthn, for browsers without the Level 3 JSON methods ---

function b64urlEncode(buf) {
  if (buf == null) return buf;
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function b64urlDecode(str) {
  const s = String(str).replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(s + '='.repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

function descriptors(list) {
  return Array.isArray(list) ? list.map((c) => ({ ...c, id: b64urlDecode(c.id) })) : list;
}

function parseCreationOptions(json) {
  const PKC = window.PublicKeyCredential;
  if (typeof PKC.parseCreationOptionsFromJSON === 'function') return PKC.parseCreationOptionsFromJSON(json);
  const o = { ...json, challenge: b64urlDecode(json.challenge), user: { ...json.user, id: b64urlDecode(json.user.id) } };
  if (json.excludeCredentials) o.excludeCredentials = descriptors(json.excludeCredentials);
  return o;
}

function parseRequestOptions(json) {
  const PKC = window.PublicKeyCredential;
  if (typeof PKC.parseRequestOptionsFromJSON === 'function') return PKC.parseRequestOptionsFromJSON(json);
  const o = { ...json, challenge: b64urlDecode(json.challenge) };
  if (json.allowCredentials) o.allowCredentials = descriptors(json.allowCredentials);
  return o;
}

function credentialJSON(cred) {
  if (typeof cred.toJSON === 'function') {
    try {
      return cred.toJSON();
    } catch {
      // Fall back to the manual encoding below.
    }
  }
  const r = cred.response;
  const out = {
    id: cred.id,
    rawId: b64urlEncode(cred.rawId),
    type: cred.type,
    response: { clientDataJSON: b64urlEncode(r.clientDataJSON) },
    clientExtensionResults: typeof cred.getClientExtensionResults === 'function' ? cred.getClientExtensionResults() : {},
  };
  if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
  if (r.attestationObject) {
    out.response.attestationObject = b64urlEncode(r.attestationObject);
    out.response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
    if (typeof r.getAuthenticatorData === 'function') out.response.authenticatorData = b64urlEncode(r.getAuthenticatorData());
    if (typeof r.getPublicKey === 'function') {
      const pk = r.getPublicKey();
      if (pk) out.response.publicKey = b64urlEncode(pk);
    }
    if (typeof r.getPublicKeyAlgorithm === 'function') out.response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
  } else {
    out.response.authenticatorData = b64urlEncode(r.authenticatorData);
    out.response.signature = b64urlEncode(r.signature);
    if (r.userHandle) out.response.userHandle = b64urlEncode(r.userHandle);
  }
  return out;
}

// fromB64url decodes base64url (without padding) to a string of UTF-8 text.
function fromB64url(s) {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}
