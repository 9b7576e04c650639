// Type declarations of the Latchkey browser SDK (/web/latchkey.js) and of its web components
// (/web/latchkey-components.js, declared in /web/latchkey-components.d.ts from these types).

/** What went wrong, in one word. */
export type LatchkeyErrorKind =
  /** The user closed or declined the passkey prompt (NotAllowedError), or the request was aborted. */
  | 'cancelled'
  /** The browser has no WebAuthn, or no passkey autofill for loginConditional. */
  | 'not_supported'
  /** append: the authenticator already holds a passkey for this account (InvalidStateError). */
  | 'already_registered'
  /** The broker could not be reached (fetch failed, or CORS refused the origin). */
  | 'network'
  /** The broker answered with an HTTP error; see type and status. */
  | 'server'
  /**
   * Web components: the page's own connectToken callback is missing, threw or returned no
   * token (the app failed, not the broker); cause holds what it threw.
   */
  | 'app'
  /** Another error of the browser's WebAuthn implementation; details is its DOMException name. */
  | 'webauthn';

/** The contract's error.type values, for kind 'server'. */
export type LatchkeyErrorType =
  | 'validation_error'
  | 'invalid_json'
  | 'login_error'
  | 'invalid_connect_token'
  | 'forbidden_origin'
  /** The project's rollout turned this passkey operation off for this user (kill switch). */
  | 'component_disabled'
  | 'not_found'
  | 'already_exists'
  | 'ceremony_not_found'
  | 'unknown_credential'
  | 'verification_failed'
  | 'payload_too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal_error'
  | (string & {});

/** What a LatchkeyError is made of, besides its kind and message. */
export interface LatchkeyErrorOptions {
  type?: LatchkeyErrorType;
  status?: number;
  requestID?: string;
  details?: string;
  /** For a validation_error: the fields that failed. */
  validation?: { field: string; message: string }[];
  /** For unknown_credential: what was passed to PublicKeyCredential.signalUnknownCredential. */
  signal?: { unknownCredential?: UnknownCredentialSignal };
  cause?: unknown;
}

/** The only error the SDK throws (besides a TypeError for a missing projectID). */
export class LatchkeyError extends Error {
  constructor(kind: LatchkeyErrorKind, message: string, options?: LatchkeyErrorOptions);
  readonly name: 'LatchkeyError';
  readonly kind: LatchkeyErrorKind;
  /** For kind 'server': the contract's error.type, e.g. 'unknown_credential'. */
  readonly type?: LatchkeyErrorType;
  /** For kind 'server': the HTTP status. */
  readonly status?: number;
  /** For kind 'server': the broker's request ID, to quote in a support request. */
  readonly requestID?: string;
  /** For kind 'server': error.details of the envelope; for browser errors, the DOMException name. */
  readonly details?: string;
  /** For a validation_error: the fields that failed. */
  readonly validation?: { field: string; message: string }[];
  /** For unknown_credential: what was passed to PublicKeyCredential.signalUnknownCredential. */
  readonly signal?: { unknownCredential?: UnknownCredentialSignal };
  /** The original error (DOMException, TypeError), when there is one. */
  readonly cause?: unknown;
}

export interface LatchkeyOptions {
  /** The project's ID, e.g. 'prj-...'. */
  projectID: string;
  /** The broker's base URL; default: the origin this module was loaded from. */
  brokerURL?: string;
}

/** A successful passkey sign-in: send signedPasskeyData to your backend, which verifies it. */
export interface LoginResult {
  /** A compact JWS (ES256) to verify with POST /v2/passkey/verifySignedData or the project's JWKS. */
  signedPasskeyData: string;
  /** The app's identifier of the user who signed in. */
  username: string;
}

/** The identifier has no passkey (or is unknown): offer the app's other sign-in method. */
export interface LoginFallback {
  fallback: { reason: 'no_passkey' | (string & {}) };
}

export interface LoginOptions {
  /** Identifier-first: only this user's passkeys are offered. Without it: usernameless. */
  identifier?: string;
  /** A passkey-login connect token that binds the ceremony to its identifier. */
  loginConnectToken?: string;
  /** Aborts the request (the promise rejects with kind 'cancelled'). */
  signal?: AbortSignal;
}

export interface AppendOptions {
  /** Conditional create (mediation 'conditional'): may create the passkey without a prompt, right after a password sign-in. */
  conditional?: boolean;
  /** WebAuthn Level 3 hints, most preferred first; browsers without hints ignore them. */
  hints?: ('client-device' | 'security-key' | 'hybrid')[];
  /** Aborts the request (the promise rejects with kind 'cancelled'). */
  signal?: AbortSignal;
}

/** The contract's Passkey. */
export interface Passkey {
  /** The credential ID, base64url. */
  id: string;
  label: string;
  /** The passkey provider's name from its AAGUID (e.g. 'Google Password Manager'), or ''. */
  providerName: string;
  aaguid: string;
  transports: string[];
  backupEligible: boolean;
  /** Synced (backed up) by its provider. */
  backedUp: boolean;
  /** RFC 3339. */
  createdAt: string;
  /** RFC 3339, or null when never used to sign in. */
  lastUsedAt: string | null;
}

export interface AllAcceptedCredentialsSignal {
  rpId: string;
  userId: string;
  allAcceptedCredentialIds: string[];
}

export interface UnknownCredentialSignal {
  rpId: string;
  credentialId: string;
}

/** The contract's Signal, passed to PublicKeyCredential.signalAllAcceptedCredentials by list and remove. */
export interface Signal {
  allAcceptedCredentials: AllAcceptedCredentialsSignal;
}

export interface PasskeyList {
  passkeys: Passkey[];
  signal: Signal;
}

/** An outcome only the page sees, reported with Latchkey.report for the adoption analytics. */
export type ReportEvent = 'append.offer_shown' | 'append.offer_dismissed' | 'append.cancelled' | 'login.cancelled' | 'login.fallback';
/** Why a login fell back to the app's password. */
export type FallbackReason = 'no_passkey' | 'cancelled' | 'failed' | 'unknown_credential';
/** Every ReportEvent, in a frozen array. */
export const REPORT_EVENTS: readonly ReportEvent[];
/** Every FallbackReason, in a frozen array. */
export const FALLBACK_REASONS: readonly FallbackReason[];
/** What the project's rollout turns on for this visitor; a component that is false renders nothing. */
export interface RolloutConfig {
  login: boolean;
  append: boolean;
  manage: boolean;
}

export type OSFamily = 'android' | 'chromeos' | 'ios' | 'linux' | 'macos' | 'windows' | 'other';

export interface ClientCapabilities {
  platformAuthenticator: boolean;
  conditionalMediation: boolean;
  /** Level 3 conditional create (getClientCapabilities().conditionalCreate). */
  conditionalCreate: boolean;
  os: OSFamily;
}

export type UpgradeResult =
  | {
      result: 'skipped';
      /** Why: the rollout, "Not now", a passkey sign-in just now, a passkey of this platform's provider, or no WebAuthn. */
      reason: 'append_off' | 'declined' | 'recent_passkey_login' | 'has_platform_passkey' | 'not_supported' | (string & {});
    }
  | { result: 'created'; passkey: Passkey }
  /** reason: why conditional create did not make one (timeout, a DOMException name), absent when it was not tried. */
  | { result: 'offer'; reason?: string };

/** A client of one project's frontend API on a Latchkey broker. */
export class Latchkey {
  constructor(options: LatchkeyOptions);
  readonly projectID: string;
  readonly brokerURL: string;
  /**
   * The passkey sign-in (login or loginConditional) of this project in this browser tab within
   * the last 30 minutes, or null: this device holds a passkey for that user. Kept in
   * sessionStorage; list and remove forget it once that passkey is deleted, and login forgets
   * it when that identifier has no passkey.
   */
  recentPasskeyLogin(): { username: string; userID: string; credentialID: string; at: number } | null;

  /** Whether this browser has WebAuthn (PublicKeyCredential). */
  static isSupported(): Promise<boolean>;
  /** Whether this browser offers passkeys in autofill (conditional mediation). */
  static isConditionalSupported(): Promise<boolean>;

  /**
   * Signs in with a modal passkey prompt: identifier-first, bound to a passkey-login token, or
   * usernameless. Aborts this instance's pending loginConditional first. After a 404
   * unknown_credential it calls PublicKeyCredential.signalUnknownCredential when available,
   * then rejects with that server error.
   */
  login(options?: LoginOptions): Promise<LoginResult | LoginFallback>;
  /**
   * Offers passkeys in the autofill of inputs with autocomplete="username webauthn" and signs
   * in with the one the user picks. Rejects with kind 'cancelled' when signal aborts or a modal
   * request of this instance replaces it, and with kind 'not_supported' without autofill.
   */
  loginConditional(options?: { signal?: AbortSignal }): Promise<LoginResult>;
  /** Creates a passkey for the user of a passkey-append connect token. */
  append(connectToken: string, options?: AppendOptions): Promise<Passkey>;
  /** Lists the passkeys of the user of a passkey-list connect token. */
  list(connectToken: string): Promise<PasskeyList>;
  /**
   * What the project's rollout turns on for this visitor (GET connect/config, with the
   * browser's capabilities). Rejects with a LatchkeyError when the broker cannot be asked:
   * a component then renders nothing and the page's password form stays (fail closed).
   */
  getConfig(options?: { identifier?: string; signal?: AbortSignal }): Promise<RolloutConfig>;
  /**
   * Remembers "Not now" to the passkey offer for the user of a passkey-append token, on every
   * device, for the project's decline period. The token stays usable.
   */
  declineAppend(connectToken: string): Promise<void>;
  /**
   * The automatic passkey upgrade after a password sign-in: 'skipped' (with why) when no
   * passkey should be offered, 'created' when conditional create made one silently, else
   * 'offer': show the offer once, with "Not now" calling declineAppend. Rejects only for
   * errors of the broker or the network (a component_disabled answer is 'skipped').
   */
  upgrade(connectToken: string, options?: { signal?: AbortSignal; timeout?: number }): Promise<UpgradeResult>;
  /** What the browser reports: Level 3 getClientCapabilities where available, false elsewhere. */
  static clientCapabilities(): Promise<ClientCapabilities>;
  /** Deletes a passkey of the user of a passkey-delete connect token; resolves to the rest. */
  remove(connectToken: string, credentialID: string): Promise<PasskeyList>;
  /**
   * Reports an outcome for the adoption analytics (POST .../connect/analytics): an append
   * offer shown or dismissed, a prompt the user cancelled, or a login that fell back to the
   * password, with its reason. Fire and forget (fetch with keepalive): it never throws and
   * does not wait; it returns false, sending nothing, for an event or reason the broker would
   * refuse (a reason is required with login.fallback and refused with the others).
   */
  report(event: 'login.fallback', options: { reason: FallbackReason }): boolean;
  report(event: Exclude<ReportEvent, 'login.fallback'>, options?: {}): boolean;
}

// ---- Web components (/web/latchkey-components.js) ----

/** The connect token types the elements ask the page for. */
export type ConnectTokenType = 'passkey-append' | 'passkey-list' | 'passkey-delete';

/**
 * The page's source of connect tokens: called with the type the element needs; resolves to a
 * token secret ('ctk1_...') minted by the app backend for the signed-in user.
 */
export type ConnectTokenCallback = (type: ConnectTokenType) => Promise<string> | string;

/**
 * Shared by the three elements. Attributes: project-id (required), broker-url (default: the
 * origin the components module was loaded from), lang (default: the nearest ancestor's lang,
 * else the document's). Events bubble and are composed. Styling: the CSS custom properties
 * --latchkey-accent, --latchkey-accent-fg (text on the accent), --latchkey-bg, --latchkey-fg,
 * --latchkey-border, --latchkey-danger, --latchkey-success, --latchkey-focus-ring,
 * --latchkey-radius, --latchkey-font (default: inherited from the page) and
 * --latchkey-font-size on the element or an ancestor; the parts 'card' (and 'form' of
 * latchkey-login); the boolean attribute plain drops the element's own card (background,
 * border, shadow, padding) to sit inside the page's. The attribute theme is light, dark or
 * auto (the default: follow the page's color-scheme, with light-dark(); where a browser lacks
 * it, prefers-color-scheme). The elements need no inline style or markup: they work
 * under style-src without 'unsafe-inline' and with require-trusted-types-for 'script'.
 */
export interface LatchkeyElementBase extends HTMLElement {
  connectToken: ConnectTokenCallback | null;
  /** The SDK client for the element's attributes. */
  readonly client: Latchkey;
  /** This element's own texts, over every language's catalogue (keys as in catalogues.en). */
  messages: Partial<Record<LatchkeyMessageKey, string>> | null;
  /** The language of the element's texts (its lang, an ancestor's, the document's). */
  readonly language: string;
  /**
   * Whether the element offers anything (default true). False renders nothing (the hidden
   * attribute), so that the page's own form stays as it is.
   */
  available: boolean;
  /**
   * Renders nothing (hidden) until the project's rollout says the component is on for this
   * visitor, and nothing at all when it is off or the broker cannot be asked (the page's own
   * form stays; a <latchkey-login> with the page's own slot="identifier" input keeps that input
   * and hides only its button). Called by the elements when they connect. Dispatches
   * 'rollout' when off.
   */
  applyRollout(component: 'login' | 'append' | 'manage'): Promise<boolean>;
  /** What applyRollout found: undefined until it knows. */
  rolloutOn?: boolean;
}

/** The keys of the components' message catalogues. */
export type LatchkeyMessageKey = keyof typeof import('./latchkey-messages.js').catalogues.en;

export interface LatchkeyErrorEventDetail {
  error: LatchkeyError;
}

export interface LatchkeyLoginCompleteDetail {
  signedPasskeyData: string;
  username: string;
}

export interface LatchkeyLoginFallbackDetail {
  /**
   * 'no_passkey' from the broker, 'not_supported' when the browser has no passkeys, or
   * 'component_disabled' when the project's rollout turned passkey login off for this page.
   */
  reason: 'no_passkey' | 'not_supported' | 'component_disabled' | (string & {});
  /** What the user typed, to prefill the password form. */
  identifier: string;
}

/**
 * <latchkey-login project-id="prj-...">: an identifier field with autocomplete="username
 * webauthn" that offers passkeys in autofill as soon as the element is connected (unless it
 * has the no-autofill attribute), and a "Sign in with a passkey" button: identifier-first when
 * the field has a value, usernameless otherwise. A page's own <input slot="identifier"> replaces
 * the built-in field; other children show below the button. Attributes: label, placeholder,
 * no-autofill. Events: complete (LatchkeyLoginCompleteDetail), fallback
 * (LatchkeyLoginFallbackDetail: show the password form), error (LatchkeyErrorEventDetail).
 * Needs no connect token.
 */
export interface LatchkeyLoginElement extends LatchkeyElementBase {
  addEventListener(type: 'error', listener: (this: LatchkeyLoginElement, ev: LatchkeyErrorEvent) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener<K extends keyof LatchkeyLoginEventMap>(type: K, listener: (this: LatchkeyLoginElement, ev: LatchkeyLoginEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener(type: 'error', listener: (this: LatchkeyLoginElement, ev: LatchkeyErrorEvent) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener<K extends keyof LatchkeyLoginEventMap>(type: K, listener: (this: LatchkeyLoginElement, ev: LatchkeyLoginEventMap[K]) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
  /** The identifier input in use. */
  readonly input: HTMLInputElement;
  /** Starts a modal sign-in, as the button does. */
  signIn(): Promise<void>;
}

export interface LatchkeyAppendCompleteDetail {
  passkey: Passkey;
}

/**
 * <latchkey-append project-id="prj-...">: a "Create a passkey" button; asks for a
 * passkey-append token and shows a confirmation once the passkey exists, saying whether it is
 * synced or stays on this device (backedUp, backupEligible). It offers no button, and says
 * why, when this tab just signed in with a passkey (Latchkey.recentPasskeyLogin; for the user
 * of the attribute username, when set) or when the authenticator already holds a passkey for
 * the user (error kind 'already_registered', shown as information). Children replace the
 * explanatory text. The boolean attribute not-now adds a "Not now" button. Events: complete
 * (LatchkeyAppendCompleteDetail), dismiss, error.
 */
export interface LatchkeyAppendElement extends LatchkeyElementBase {
  /** Whether this tab just signed in with a passkey (of the username attribute's user, if set). */
  readonly hasRecentPasskey: boolean;
  addEventListener(type: 'error', listener: (this: LatchkeyAppendElement, ev: LatchkeyErrorEvent) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener<K extends keyof LatchkeyAppendEventMap>(type: K, listener: (this: LatchkeyAppendElement, ev: LatchkeyAppendEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener(type: 'error', listener: (this: LatchkeyAppendElement, ev: LatchkeyErrorEvent) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener<K extends keyof LatchkeyAppendEventMap>(type: K, listener: (this: LatchkeyAppendElement, ev: LatchkeyAppendEventMap[K]) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
  /** Creates a passkey, as the button does. */
  create(): Promise<void>;
  /**
   * The automatic passkey upgrade (the boolean attribute auto runs it once connectToken is
   * set): nothing shown when skipped, the confirmation when conditional create made a passkey,
   * else the offer with a "Not now" button. Dispatches 'upgrade' with the UpgradeResult.
   */
  upgrade(): Promise<void>;
  /**
   * "Not now", as the button of the attributes not-now and auto does: with connect tokens, the
   * broker remembers it for the user on every device (declineAppend), then the element hides
   * and dispatches dismiss and decline; without, it only hides and dispatches dismiss.
   */
  dismiss(): Promise<void>;
}

export interface LatchkeyPasskeysCompleteDetail {
  /** The passkeys left after a delete. */
  passkeys: Passkey[];
}

/**
 * <latchkey-passkeys project-id="prj-...">: the user's passkeys (asks for a passkey-list token
 * once connectToken is set), each with its label, provider ("Passkey provider not known" when
 * the broker has no name for its AAGUID), creation date and time, last use, a badge (Synced,
 * Not synced yet, This device only) and a Delete button with an inline confirmation (asks for
 * a passkey-delete token). The frontend API has no rename; the backend relabels passkeys
 * (PATCH /v2/passkeys/{credentialID}).
 * Attribute heading (default 'Passkeys'); children show below the list, a slot="empty" child
 * in the empty state. Events: complete (LatchkeyPasskeysCompleteDetail) after a delete, error.
 */
export interface LatchkeyPasskeysElement extends LatchkeyElementBase {
  addEventListener(type: 'error', listener: (this: LatchkeyPasskeysElement, ev: LatchkeyErrorEvent) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener<K extends keyof LatchkeyPasskeysEventMap>(type: K, listener: (this: LatchkeyPasskeysElement, ev: LatchkeyPasskeysEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener(type: 'error', listener: (this: LatchkeyPasskeysElement, ev: LatchkeyErrorEvent) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener<K extends keyof LatchkeyPasskeysEventMap>(type: K, listener: (this: LatchkeyPasskeysElement, ev: LatchkeyPasskeysEventMap[K]) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
  /** The passkeys shown (null before the first load). */
  readonly passkeys: Passkey[] | null;
  /** Fetches the list again, e.g. after a <latchkey-append> completed. */
  reload(): Promise<void>;
}

/** The events of each element, for addEventListener. */
export interface LatchkeyLoginEventMap extends HTMLElementEventMap {
  complete: CustomEvent<LatchkeyLoginCompleteDetail>;
  fallback: CustomEvent<LatchkeyLoginFallbackDetail>;
  rollout: CustomEvent<{ component: 'login'; on: false }>;
}
export interface LatchkeyAppendEventMap extends HTMLElementEventMap {
  complete: CustomEvent<LatchkeyAppendCompleteDetail>;
  upgrade: CustomEvent<UpgradeResult | { result: 'skipped'; reason: 'error'; error: LatchkeyError }>;
  /** "Not now" (attributes not-now and auto): the element hid itself. */
  dismiss: CustomEvent<{}>;
  /** "Not now" was remembered by the broker for this user. */
  decline: CustomEvent<{}>;
  rollout: CustomEvent<{ component: 'append'; on: false }>;
}
export interface LatchkeyPasskeysEventMap extends HTMLElementEventMap {
  complete: CustomEvent<LatchkeyPasskeysCompleteDetail>;
  rollout: CustomEvent<{ component: 'manage'; on: false }>;
}

/**
 * The error event of the elements is a CustomEvent<LatchkeyErrorEventDetail> (not an
 * ErrorEvent): read ev.detail.error.
 */
export type LatchkeyErrorEvent = CustomEvent<LatchkeyErrorEventDetail>;

declare global {
  interface HTMLElementTagNameMap {
    'latchkey-login': LatchkeyLoginElement;
    'latchkey-append': LatchkeyAppendElement;
    'latchkey-passkeys': LatchkeyPasskeysElement;
  }
}
