// Helpers shared by the example app's pages: calls to the app's own API and a few UI bits.
// Nothing here talks to Latchkey: each page imports Latchkey's elements from the broker.

/** POSTs JSON to the app's API; rejects with an Error carrying `code` and `field`. */
export async function api(path, body = {}) {
  let res;
  try {
    res = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    throw Object.assign(new Error('Could not reach Acme. Check your connection and try again.'), { code: 'network' });
  }
  let data = {};
  try {
    data = await res.json();
  } catch {
    // An empty or non-JSON body: the status says enough.
  }
  if (!res.ok) {
    throw Object.assign(new Error(data.message || 'Something went wrong. Please try again.'),
      { code: data.error, field: data.field, status: res.status });
  }
  return data;
}

/** Asks the app's backend for a Latchkey connect token ('passkey-append', -list, -delete). */
export async function connectToken(type) {
  const { connectToken } = await api('/api/connect-token', { type });
  return connectToken;
}

/**
 * Returns `next` as a path on this origin, or '' if it would lead elsewhere. The server
 * already checked it; a page that takes `next` from anywhere else needs this check too.
 */
export function sameOriginPath(next) {
  if (!next || !next.startsWith('/') || next.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(next)) return '';
  try {
    const u = new URL(next, location.origin);
    return u.origin === location.origin ? u.pathname + u.search + u.hash : '';
  } catch {
    return '';
  }
}

/**
 * Exchanges the signedPasskeyData of a passkey sign-in for the app's own session (the backend
 * verifies it with Latchkey first), then opens `next` or the profile.
 */
export async function completePasskeySignIn({ signedPasskeyData }, next) {
  const res = await api('/api/passkey-login', { signedPasskeyData });
  location.assign(sameOriginPath(next) || res.next || '/profile');
}

/** Shows `message` in the alert box `el` ('error', 'success' or 'info'); null hides it. */
export function showAlert(el, message, tone = 'error') {
  if (!message) {
    el.hidden = true;
    return;
  }
  el.className = tone === 'error' ? 'alert' : `alert ${tone}`;
  el.textContent = message;
  el.hidden = false;
}

/** Disables `button` and shows a spinner while `fn` runs. */
export async function busy(button, fn) {
  const label = button.innerHTML;
  button.disabled = true;
  button.innerHTML = '<span class="spinner" aria-hidden="true"></span>' + button.textContent.trim();
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.innerHTML = label;
  }
}

/** Marks the input of a field error from the API, or clears every mark in `form`. */
export function markField(form, field, message) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  const input = field && form.querySelector(`[name="${field}"]`);
  if (!input) return false;
  input.setAttribute('aria-invalid', 'true');
  const p = document.createElement('p');
  p.className = 'field-error';
  p.id = `${field}-error`;
  p.textContent = message;
  input.setAttribute('aria-describedby', p.id);
  input.closest('.field').append(p);
  input.focus();
  return true;
}

/** Signs out and goes to the sign-in page. */
export async function signOut() {
  try {
    await api('/api/signout');
  } finally {
    location.assign('/signin');
  }
}
