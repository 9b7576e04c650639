// Type declarations of the Latchkey web components (/web/latchkey-components.js). The element
// types and their documentation are in latchkey.d.ts; importing the module defines
// <latchkey-login>, <latchkey-append> and <latchkey-passkeys>.

import type {
  LatchkeyError,
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
export declare function userMessage(error: LatchkeyError, context?: 'login' | 'append' | 'manage'): string;
