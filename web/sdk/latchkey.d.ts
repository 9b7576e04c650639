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
  /** Deletes a passkey of the user of a passkey-delete connect token; resolves to the rest. */
  remove(connectToken: string, credentialID: string): Promise<PasskeyList>;
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
  /** 'no_passkey' from the broker, or 'not_supported' when the browser has no passkeys. */
  reason: 'no_passkey' | 'not_supported' | (string & {});
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
  /** "Not now", as the button of the attribute not-now does: hides the element, dispatches dismiss. */
  dismiss(): void;
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
}
export interface LatchkeyAppendEventMap extends HTMLElementEventMap {
  complete: CustomEvent<LatchkeyAppendCompleteDetail>;
  /** "Not now" (attribute not-now): the element hid itself. */
  dismiss: CustomEvent<{}>;
}
export interface LatchkeyPasskeysEventMap extends HTMLElementEventMap {
  complete: CustomEvent<LatchkeyPasskeysCompleteDetail>;
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
