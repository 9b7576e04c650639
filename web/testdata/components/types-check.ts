// Compiled (never run) by TestSDKTypes: uses of the SDK's and the components' declarations
// that must type-check, and misuses that must not (each marked @ts-expect-error).
import { LatchkeyError, setMessages, message, catalogues } from '../../sdk/latchkey-components.js';
import type { LatchkeyErrorEvent, LatchkeyLoginElement, LatchkeyAppendElement, LatchkeyPasskeysElement } from '../../sdk/latchkey-components.js';

const login = document.createElement('latchkey-login') satisfies LatchkeyLoginElement;
const onFallback = (ev: CustomEvent<{ reason: string; identifier: string }>) => ev.detail.identifier;
login.addEventListener('fallback', onFallback);
login.removeEventListener('fallback', onFallback);
const onError = (ev: LatchkeyErrorEvent) => ev.detail.error.kind;
login.addEventListener('error', onError);
login.removeEventListener('error', onError);
// @ts-expect-error: the fallback detail has no passkey
login.removeEventListener('fallback', (ev) => ev.detail.passkey);

const append = document.createElement('latchkey-append') satisfies LatchkeyAppendElement;
append.addEventListener('complete', (ev) => ev.detail.passkey.id);
append.removeEventListener('dismiss', () => {});
append.available = false;
append.messages = { 'append.button': 'Add a passkey' };
append.dismiss();

const list = document.createElement('latchkey-passkeys') satisfies LatchkeyPasskeysElement;
list.removeEventListener('complete', (ev) => ev.detail.passkeys.length);
list.removeEventListener('click', (ev) => ev.clientX);

const err = new LatchkeyError('server', 'invalid', {
  type: 'validation_error', status: 400,
  validation: [{ field: 'identifier', message: 'is required' }],
  signal: { unknownCredential: { rpId: 'example.com', credentialId: 'abc' } },
});
const fields: string[] = err.validation?.map((v) => v.field) ?? [];
new LatchkeyError('app', 'the callback failed', { cause: new Error('x') });
// @ts-expect-error: not an error kind
new LatchkeyError('nope', 'x');
// @ts-expect-error: validation entries have a field and a message
new LatchkeyError('server', 'x', { validation: [{ name: 'x' }] });

setMessages('de', { 'login.button': 'Passkey verwenden' });
const s: string = message('fr', 'manage.created', { date: '1 janv.' }) + catalogues.ja['busy'] + fields.length;
export { s };
