// Type declarations of the Latchkey web components (/web/latchkey-components.js). The element
// types and their documentation are in latchkey.d.ts; importing the module defines
// <latchkey-login>, <latchkey-append> and <latchkey-passkeys>.

import type {
  LatchkeyError,
  LatchkeyMessageKey,
  LatchkeyLoginElement as LoginElement,
  LatchkeyAppendElement as AppendElement,
  LatchkeyPasskeysElement as PasskeysElement,
} from './latchkey.js';

export * from './latchkey.js';

export interface LatchkeyLoginElement extends LoginElement {}
export declare const LatchkeyLoginElement: { prototype: LatchkeyLoginElement; new (): LatchkeyLoginElement };
export interface LatchkeyAppendElement extends AppendElement {}
export declare const LatchkeyAppendElement: { prototype: LatchkeyAppendElement; new (): LatchkeyAppendElement };
export interface LatchkeyPasskeysElement extends PasskeysElement {}
export declare const LatchkeyPasskeysElement: { prototype: LatchkeyPasskeysElement; new (): LatchkeyPasskeysElement };

/**
 * The sentence the elements show for an error, e.g. for the cancelled prompt, which in 'login'
 * also covers a device without a passkey for the account (the browser reports both alike).
 */
export declare function userMessage(error: LatchkeyError, context?: 'login' | 'append' | 'manage', lang?: string): string;

/** The shipped message catalogues: en, de, fr, es, ja; every one has every key. */
export declare const catalogues: typeof import('./latchkey-messages.js').catalogues;

/**
 * Overrides messages for a language ('en', 'de', 'pt-BR', ...): keys as in catalogues.en,
 * texts with the same {placeholders}. A language without a catalogue falls back to English
 * for the keys it does not set. Elements on the page update.
 */
export declare function setMessages(lang: string, messages: Partial<Record<LatchkeyMessageKey, string>>): void;

/** The text of key in the language lang, with each {name} replaced by params[name]. */
export declare function message(lang: string, key: LatchkeyMessageKey, params?: Record<string, string | number>): string;
