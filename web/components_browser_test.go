package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
)

// strictCSP is the Content-Security-Policy of the strict test page: no inline script or style
// anywhere, only the page's own files and the broker's, and Trusted Types required, so that any
// innerHTML, insertAdjacentHTML, <style> element or style attribute is a violation.
func strictCSP(brokerURL string) string {
	return "default-src 'none'; script-src 'self' " + brokerURL + "; style-src 'self' " + brokerURL +
		"; connect-src 'self' " + brokerURL + "; img-src 'self' data:; base-uri 'none'; form-action 'self'; " +
		"require-trusted-types-for 'script'; trusted-types 'none'"
}

var strictPageTemplate = template.Must(template.New("strict").Parse(`<!doctype html>
<html lang="{{.Lang}}" data-broker="{{.BrokerURL}}" data-project="{{.ProjectID}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Latchkey components under a strict Content Security Policy</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/strict.css">
<script src="/strict-csp.js"></script>
<script type="module" src="/strict-app.js"></script>
</head>
<body>
<main>
<h1>Acme</h1>
<latchkey-login no-autofill project-id="{{.ProjectID}}" broker-url="{{.BrokerURL}}"></latchkey-login>
<latchkey-append not-now project-id="{{.ProjectID}}" broker-url="{{.BrokerURL}}"></latchkey-append>
<latchkey-passkeys project-id="{{.ProjectID}}" broker-url="{{.BrokerURL}}"></latchkey-passkeys>
</main>
</body>
</html>
`))

const strictCSS = `:root { color-scheme: light dark; }
body { margin: 0; font-family: system-ui, sans-serif; background: #f3f4f6; color: #111827; }
@media (prefers-color-scheme: dark) { body { background: #0b0d12; color: #e5e7eb; } }
main { max-width: 440px; margin: 0 auto; padding: 32px 16px; display: grid; gap: 24px; }
h1 { font-size: 22px; margin: 0; }
`

// strictCSPScript records every Content Security Policy violation of the page (also those of
// the elements' shadow roots: the event is composed).
const strictCSPScript = `window.violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  violations.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile + ':' + e.lineNumber });
}, true);
`

// strictAppScript is the page's module: it imports the components from the broker and gives
// them a connectToken callback that the test can hold (window.hold) or make fail
// (window.tokenFails), records their events, and records analytics reports.
const strictAppScript = `const { broker: brokerURL, project: projectID } = document.documentElement.dataset;
window.events = [];
window.reports = [];
window.tokenFails = false;
window.identifier = 'jane@example.com';
let release = null;
let held = new URLSearchParams(location.search).has('hold') ? new Promise((r) => { release = r; }) : null;
window.hold = () => { held = new Promise((r) => { release = r; }); };
window.release = () => { held = null; release && release(); };
window.token = async (type, identifier) => {
  const res = await fetch('/token?type=' + encodeURIComponent(type) + '&identifier=' + encodeURIComponent(identifier));
  if (!res.ok) throw new Error('minting a token: HTTP ' + res.status);
  return (await res.json()).secret;
};
window.connectToken = async (type) => {
  if (held) await held;
  if (window.tokenFails) throw new Error('the app backend is down');
  return token(type, window.identifier);
};
window.wire = (el) => {
  el.connectToken = connectToken;
  for (const name of ['complete', 'fallback', 'error', 'dismiss']) {
    el.addEventListener(name, (ev) => events.push({ el: el.localName, name, detail: ev.detail,
      error: ev.detail && ev.detail.error ? { kind: ev.detail.error.kind, type: ev.detail.error.type } : null }));
  }
};
window.sdk = await import(brokerURL + '/web/latchkey-components.js');
// The analytics of the SDK (when it has them), as the test sees them.
sdk.Latchkey.prototype.report = function (name, props) { reports.push(name + (props && props.reason ? ':' + props.reason : '')); return Promise.resolve(); };
window.lk = new sdk.Latchkey({ projectID, brokerURL });
for (const el of document.querySelectorAll('latchkey-login, latchkey-append, latchkey-passkeys')) wire(el);
window.freshAppend = () => {
  const old = document.querySelector('latchkey-append');
  const el = document.createElement('latchkey-append');
  el.setAttribute('project-id', projectID);
  el.setAttribute('broker-url', brokerURL);
  el.setAttribute('not-now', '');
  wire(el);
  old.replaceWith(el);
  return true;
};
window.componentsReady = true;
`

// serveStrict adds the strict page and its files to the test page server.
func (e *browserEnv) serveStrict() {
	serve := func(typ, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", typ)
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write([]byte(body))
		}
	}
	e.pages.HandleFunc("GET /strict.css", serve("text/css; charset=utf-8", strictCSS))
	e.pages.HandleFunc("GET /strict-csp.js", serve("text/javascript; charset=utf-8", strictCSPScript))
	e.pages.HandleFunc("GET /strict-app.js", serve("text/javascript; charset=utf-8", strictAppScript))
	e.pages.HandleFunc("GET /strict/{lang}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", strictCSP(e.brokerURL))
		_ = strictPageTemplate.Execute(w, map[string]string{"Lang": r.PathValue("lang"), "BrokerURL": e.brokerURL, "ProjectID": e.project.ID})
	})
}

// strictEnv is a browser on the strict page, with what the browser reported about it.
type strictEnv struct {
	*browserEnv
	axe string

	mu      sync.Mutex
	console []string // CSP and Trusted Types errors of the browser's log and console
}

func newStrictEnv(t *testing.T) *strictEnv {
	t.Helper()
	s := &strictEnv{browserEnv: newBrowserEnv(t), axe: brokertest.AxeSource(t)}
	s.serveStrict()
	if err := chromedp.Listen(s.tab, func(ev any) {
		var text string
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			text = ev.Entry.Text
		default:
			return
		}
		if strings.Contains(text, "Content Security Policy") || strings.Contains(text, "Trusted Type") {
			s.mu.Lock()
			s.console = append(s.console, text)
			s.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	s.media("light")
	// The test drives the page by keyboard and script, never clicking into it, so the tab
	// counts as focused: WebAuthn requires a focused document, :focus-visible a focused page.
	ctx, cancel := s.step()
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatalf("Emulation.setFocusEmulationEnabled: %v", err)
	}
	return s
}

// media emulates prefers-color-scheme and reduced motion (no colour transitions to wait out).
func (s *strictEnv) media(scheme string) {
	s.t.Helper()
	ctx, cancel := s.step()
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}, {Name: "prefers-reduced-motion", Value: "reduce"}}})
	if err != nil {
		s.t.Fatalf("Emulation.setEmulatedMedia: %v", err)
	}
}

// viewport sets the tab's width (the height stays 720).
func (s *strictEnv) viewport(width int64) {
	s.t.Helper()
	ctx, cancel := s.step()
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: width, Height: 720, DeviceScaleFactor: 1}); err != nil {
		s.t.Fatalf("Emulation.setDeviceMetricsOverride: %v", err)
	}
}

func (s *strictEnv) openStrict(lang, query string) {
	s.t.Helper()
	ctx, cancel := s.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(s.pageURL+"/strict/"+lang+query)); err != nil {
		s.t.Fatalf("navigating to the strict page: %v", err)
	}
	s.waitFor("the components under the strict CSP", `window.componentsReady`)
}

// press sends key to the focused element, as a keyboard user would.
func (s *strictEnv) press(key string) {
	s.t.Helper()
	ctx, cancel := s.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(key)); err != nil {
		s.t.Fatal(err)
	}
}

// awaitEvent waits for the first event name of element el since the events were cleared; on
// a timeout it fails with what the page shows.
func (s *strictEnv) awaitEvent(el, name string) componentEvent {
	s.t.Helper()
	cond := fmt.Sprintf(`events.find((ev) => ev.el === %s && ev.name === %s)`, jsString(el), jsString(name))
	ctx, cancel := s.step()
	defer cancel()
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")")); err == nil && ok {
			return evalJS[componentEvent](s.browserEnv, cond)
		}
		select {
		case <-ctx.Done():
			state, _ := chromedp.Run(s.tab, chromedp.Evaluate[string](`JSON.stringify({ events, active: document.activeElement?.localName,
				msg: document.querySelector(`+jsString(el)+`)?.shadowRoot.querySelector('.msg')?.textContent,
				buttons: [...document.querySelector(`+jsString(el)+`)?.shadowRoot.querySelectorAll('button') ?? []].map((b) => b.textContent + ' busy=' + b.getAttribute('aria-busy')) })`))
			s.t.Fatalf("no %s event from %s: %v; the page: %s", name, el, ctx.Err(), state)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// hover moves the mouse over sel in host's shadow root.
func (s *strictEnv) hover(host, sel string) {
	s.t.Helper()
	pt := evalJS[[]float64](s.browserEnv, `(() => {
		const r = `+shadowQuery(host, sel)+`.getBoundingClientRect();
		return [r.x + r.width / 2, r.y + r.height / 2];
	})()`)
	ctx, cancel := s.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, pt[0], pt[1])); err != nil {
		s.t.Fatalf("hovering %s %s: %v", host, sel, err)
	}
}

// focus focuses sel in host's shadow root.
func (s *strictEnv) focus(host, sel string) {
	s.t.Helper()
	if !evalJS[bool](s.browserEnv, `(() => { const el = `+shadowQuery(host, sel)+`; el.focus(); return el.getRootNode().activeElement === el; })()`) {
		s.t.Fatalf("could not focus %s %s", host, sel)
	}
}

// wantFocusKept checks that keyboard focus did not drop to <body> after a failure of host: it
// is on a control or the message of host.
func (s *strictEnv) wantFocusKept(t *testing.T, host string) {
	t.Helper()
	got := evalJS[string](s.browserEnv, `(() => {
		const a = document.activeElement;
		if (!a || a === document.body) return 'body';
		if (a.localName !== `+jsString(host)+`) return 'another element: ' + a.localName;
		const inner = a.shadowRoot.activeElement;
		if (!inner) return 'the host, nothing inside';
		if (!inner.checkVisibility()) return 'a hidden ' + inner.localName;
		return inner.localName + '.' + inner.className;
	})()`)
	if got == "body" || strings.HasPrefix(got, "another") || strings.HasPrefix(got, "the host") || strings.HasPrefix(got, "a hidden") {
		t.Errorf("after the failure of %s, keyboard focus is on %s", host, got)
	}
}

// axeViolation is one serious or critical finding of axe-core.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
	Summary string   `json:"summary"`
}

// axeRun runs axe-core on the document (open shadow roots included) and returns its serious
// and critical violations.
func (s *browserEnv) axeRun(axe string) []axeViolation {
	s.t.Helper()
	if !evalJS[bool](s, `typeof axe !== 'undefined'`) {
		evalJS[bool](s, axe+"\n;true")
	}
	return evalJS[[]axeViolation](s, `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
		.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
			targets: v.nodes.map((n) => JSON.stringify(n.target)),
			summary: v.nodes.map((n) => n.failureSummary).join(' | ') })))`)
}

// check checks the page in state: no CSP or Trusted Types violation so far, the components'
// stylesheet applied, and no serious or critical axe-core violation in light and dark.
func (s *strictEnv) check(t *testing.T, state string) {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(evalJS[string](s.browserEnv, `JSON.stringify(violations)`)), &v); err != nil {
		t.Fatal(err)
	}
	for _, x := range v {
		t.Errorf("%s: CSP violation %v", state, x)
	}
	s.mu.Lock()
	for _, c := range s.console {
		t.Errorf("%s: the browser logged %q", state, c)
	}
	s.console = nil
	s.mu.Unlock()
	// The stylesheet applies: visible cards are cards, visible primary buttons have the accent
	// background and its foreground, icons have their sizes, and the message region is rendered.
	problems := evalJS[[]string](s.browserEnv, `(() => {
		const out = [];
		for (const host of document.querySelectorAll('latchkey-login, latchkey-append, latchkey-passkeys')) {
			if (host.hidden) continue;
			const root = host.shadowRoot, n = host.localName;
			const card = getComputedStyle(root.querySelector('.card'));
			if (card.borderTopStyle !== 'solid' || card.borderTopLeftRadius !== '12px' || card.paddingTop !== '24px') out.push(n + ': the card is unstyled (' + card.borderTopStyle + ', ' + card.borderTopLeftRadius + ', ' + card.paddingTop + ')');
			for (const b of root.querySelectorAll('button.primary')) {
				if (!b.checkVisibility()) continue;
				const cs = getComputedStyle(b);
				if (cs.backgroundColor !== 'rgb(79, 70, 229)' || cs.color !== 'rgb(255, 255, 255)') out.push(n + ': the primary button is ' + cs.backgroundColor + ' on ' + cs.color);
			}
			for (const svg of root.querySelectorAll('button svg, .msg svg')) {
				if (!svg.checkVisibility()) continue;
				const cs = getComputedStyle(svg);
				if (cs.width !== '18px' || cs.height !== '18px') out.push(n + ': an icon is ' + cs.width + ' x ' + cs.height);
			}
			for (const svg of root.querySelectorAll('.glyph svg')) {
				if (!svg.checkVisibility()) continue;
				const cs = getComputedStyle(svg);
				if (cs.width !== '22px') out.push(n + ': a glyph is ' + cs.width + ' wide');
			}
			const msg = root.querySelector('.msg');
			if (!msg || getComputedStyle(msg).display === 'none') out.push(n + ': the message region is not rendered');
			if (!root.querySelector('.msg [role=status][aria-live=polite]') || !root.querySelector('.msg [role=alert]')) out.push(n + ': the message region lacks its status or alert');
		}
		return out;
	})()`)
	for _, p := range problems {
		t.Errorf("%s: %s", state, p)
	}
	for _, scheme := range []string{"light", "dark"} {
		s.media(scheme)
		for _, x := range s.axeRun(s.axe) {
			t.Errorf("%s (%s): axe %s %s: %s at %s: %s", state, scheme, x.Impact, x.ID, x.Help, strings.Join(x.Targets, ", "), x.Summary)
		}
	}
	s.media("light")
	if dir := os.Getenv("LATCHKEY_E2E_ARTIFACTS"); dir != "" {
		s.screenshot("strict-" + state)
	}
}

// TestBrowserComponentsStrict renders every component in every state it reaches on a page
// whose Content Security Policy allows no inline style or script and requires Trusted Types,
// and checks each state for violations, applied styles, axe-core findings in light and dark,
// and, after each failure, keyboard focus.
func TestBrowserComponentsStrict(t *testing.T) {
	s := newStrictEnv(t)
	const login, appendEl, passkeys = "latchkey-login", "latchkey-append", "latchkey-passkeys"
	const jane = "jane@example.com"
	s.openStrict("en", "?hold")

	t.Run("Loading", func(t *testing.T) {
		s.waitFor("the skeleton", shadowQuery(passkeys, ".skeleton"))
		if got := evalJS[string](s.browserEnv, shadowQuery(passkeys, ".list")+`.getAttribute('aria-busy')`); got != "" && got != "true" {
			t.Errorf("the loading list has aria-busy %q", got)
		}
		s.check(t, "loading")
	})

	t.Run("AppendBusy", func(t *testing.T) {
		s.focus(appendEl, "button.primary")
		s.press(kb.Enter)
		s.waitFor("the busy button", shadowQuery(appendEl, "button.primary")+`.getAttribute('aria-busy') === 'true'`)
		if got := s.text(appendEl, "button.primary"); got != "Waiting for your passkey…" {
			t.Errorf("the busy button says %q", got)
		}
		if !evalJS[bool](s.browserEnv, shadowQuery(appendEl, "button.primary")+` === document.querySelector('latchkey-append').shadowRoot.activeElement`) {
			t.Error("the busy button lost keyboard focus")
		}
		s.check(t, "append-busy")
		evalJS[bool](s.browserEnv, `(release(), true)`)
	})

	t.Run("Created", func(t *testing.T) {
		s.awaitEvent(appendEl, "complete")
		s.waitFor("the confirmation", shadowQuery(appendEl, ".done:not([hidden])"))
		s.waitFor("the passkey in the list", shadowQuery(passkeys, "li.item"))
		if got := s.text(appendEl, ".msg"); got != "Passkey created. Your passkey is ready to use." {
			t.Errorf("append announces %q", got)
		}
		s.check(t, "created")
	})

	t.Run("TwoPasskeys", func(t *testing.T) {
		defer s.addSecondPasskey(t, jane)()
		labels := evalJS[[]string](s.browserEnv, `[...document.querySelector('latchkey-passkeys').shadowRoot.querySelectorAll('button.delete')].map((b) => b.getAttribute('aria-label'))`)
		if len(labels) != 2 || labels[0] == labels[1] || !strings.Contains(strings.Join(labels, " "), "Google Password Manager") {
			t.Errorf("the delete buttons are named %q, want two names, one with the provider", labels)
		}
		s.check(t, "two-passkeys")
		// The hovered Delete button (red text on a red tint) has enough contrast too.
		before := evalJS[string](s.browserEnv, `getComputedStyle(`+shadowQuery(passkeys, "button.delete")+`).color`)
		s.hover(passkeys, "button.delete")
		s.waitFor("the hover style", `getComputedStyle(`+shadowQuery(passkeys, "button.delete")+`).color !== `+jsString(before))
		s.check(t, "delete-hover")
		mctx, cancel := s.step()
		defer cancel()
		if err := chromedp.Do(mctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 0, 0)); err != nil {
			t.Fatal(err) // the mouse leaves the elements: hover styles no longer apply
		}
	})

	t.Run("ConfirmDelete", func(t *testing.T) {
		s.focus(passkeys, "li.item button.delete")
		s.press(kb.Enter)
		s.waitFor("the confirmation", shadowQuery(passkeys, ".confirm"))
		s.check(t, "confirm-delete")
	})

	t.Run("DeleteFails", func(t *testing.T) {
		evalJS[bool](s.browserEnv, `(events.length = 0, hold(), true)`)
		s.focus(passkeys, `.confirm [data-action="yes"]`)
		s.press(kb.Enter)
		s.waitFor("the busy confirmation", shadowQuery(passkeys, `.confirm [data-action="yes"][aria-disabled="true"]`))
		if got := s.text(passkeys, `.confirm [data-action="yes"]`); got != "Deleting…" {
			t.Errorf("the busy button says %q", got)
		}
		s.check(t, "deleting")
		evalJS[bool](s.browserEnv, `(tokenFails = true, release(), true)`)
		ev := s.awaitEvent(passkeys, "error")
		if ev.Error == nil || ev.Error.Kind != "app" {
			t.Fatalf("error event %+v, want kind app (the page's callback failed)", ev)
		}
		if got := s.text(passkeys, ".msg"); !strings.Contains(got, "This page could not prepare the passkey request") {
			t.Errorf("the list says %q, want that the page failed", got)
		}
		if got := evalJS[string](s.browserEnv, shadowQuery(passkeys, ".msg [role=alert]")+`.textContent`); got == "" {
			t.Error("the error is not in the alert region")
		}
		s.wantFocusKept(t, passkeys)
		s.check(t, "delete-failed")
	})

	t.Run("RetryFails", func(t *testing.T) {
		evalJS[bool](s.browserEnv, `(events.length = 0, document.querySelector('latchkey-passkeys').reload(), true)`)
		s.waitFor("the retry button", shadowQuery(passkeys, "button.retry"))
		s.focus(passkeys, "button.retry")
		s.press(kb.Enter)
		s.waitFor("a second failure", `events.filter((e) => e.name === 'error').length >= 2`)
		s.wantFocusKept(t, passkeys)
		s.check(t, "list-failed")
		evalJS[bool](s.browserEnv, `(tokenFails = false, true)`)
		s.focus(passkeys, "button.retry")
		s.press(kb.Enter)
		s.waitFor("the list again", shadowQuery(passkeys, "li.item"))
	})

	t.Run("LoginFallback", func(t *testing.T) {
		evalJS[bool](s.browserEnv, `(events.length = 0, `+shadowQuery(login, "input")+`.value = 'nobody@example.com', true)`)
		s.focus(login, "button")
		s.press(kb.Enter)
		s.awaitEvent(login, "fallback")
		if got := s.text(login, ".msg"); !strings.Contains(got, "no passkey for this account") {
			t.Errorf("login says %q", got)
		}
		s.check(t, "login-fallback")
	})

	t.Run("SignedIn", func(t *testing.T) {
		evalJS[bool](s.browserEnv, `(events.length = 0, `+shadowQuery(login, "input")+`.value = `+jsString(jane)+`, true)`)
		s.focus(login, "button")
		s.press(kb.Enter)
		s.awaitEvent(login, "complete")
		// The append element learns that this device holds a passkey.
		evalJS[bool](s.browserEnv, `freshAppend()`)
		s.waitFor("the append element to stand down", shadowQuery(appendEl, "button.primary")+`.hidden`)
		s.check(t, "signed-in")
	})

	t.Run("AlreadyRegistered", func(t *testing.T) {
		evalJS[bool](s.browserEnv, `(sessionStorage.clear(), events.length = 0, freshAppend())`)
		s.focus(appendEl, "button.primary")
		s.press(kb.Enter)
		ev := s.awaitEvent(appendEl, "error")
		if ev.Error == nil || ev.Error.Kind != "already_registered" {
			t.Fatalf("error event %+v, want already_registered", ev)
		}
		s.wantFocusKept(t, appendEl)
		s.check(t, "already-registered")
	})

	t.Run("UnknownPasskey", func(t *testing.T) {
		// The broker forgets the passkey that this browser's authenticator still holds: a
		// usernameless sign-in picks it, and the broker answers unknown_credential.
		ids := s.credentialIDs()
		if len(ids) != 1 {
			t.Fatalf("the authenticator holds %v, want one passkey", ids)
		}
		if err := s.f.Broker.RemovePasskey(context.Background(), s.project.ID, ids[0]); err != nil {
			t.Fatalf("RemovePasskey: %v", err)
		}
		evalJS[bool](s.browserEnv, `(events.length = 0, `+shadowQuery(login, "input")+`.value = '', true)`)
		s.focus(login, "button")
		s.press(kb.Enter)
		ev := s.awaitEvent(login, "error")
		if ev.Error == nil || ev.Error.Type != "unknown_credential" {
			t.Fatalf("error event %+v, want unknown_credential", ev)
		}
		if got := s.text(login, ".msg"); !strings.Contains(got, "no longer registered") {
			t.Errorf("login says %q", got)
		}
		s.waitFor("the idle button", shadowQuery(login, "button")+`.getAttribute('aria-busy') === 'false'`)
		s.wantFocusKept(t, login)
		if got := evalJS[[]string](s.browserEnv, `reports`); !strings.Contains(" "+strings.Join(got, " ")+" ", " login.fallback:unknown_credential ") {
			t.Errorf("reports %q lack login.fallback:unknown_credential", got)
		}
		s.check(t, "unknown-passkey")
	})

	t.Run("LoginCancelled", func(t *testing.T) {
		s.setUserVerified(false)
		defer s.setUserVerified(true)
		evalJS[bool](s.browserEnv, `(events.length = 0, true)`)
		s.focus(login, "button")
		s.press(kb.Enter)
		ev := s.awaitEvent(login, "error")
		if ev.Error == nil || ev.Error.Kind != "cancelled" {
			t.Fatalf("error event %+v, want kind cancelled", ev)
		}
		s.waitFor("the idle button", shadowQuery(login, "button")+`.getAttribute('aria-busy') === 'false'`)
		s.wantFocusKept(t, login)
		s.check(t, "login-cancelled")
	})

	t.Run("AppendCancelled", func(t *testing.T) {
		s.setUserVerified(false)
		defer s.setUserVerified(true)
		evalJS[bool](s.browserEnv, `(identifier = 'kim@example.com', events.length = 0, freshAppend())`)
		s.focus(appendEl, "button.primary")
		s.press(kb.Enter)
		ev := s.awaitEvent(appendEl, "error")
		if ev.Error == nil || ev.Error.Kind != "cancelled" {
			t.Fatalf("error event %+v, want cancelled", ev)
		}
		s.waitFor("the idle button", shadowQuery(appendEl, "button.primary")+`.getAttribute('aria-busy') === 'false'`)
		s.wantFocusKept(t, appendEl)
		s.check(t, "append-cancelled")
	})

	t.Run("AppendAppFails", func(t *testing.T) {
		evalJS[bool](s.browserEnv, `(tokenFails = true, events.length = 0, freshAppend())`)
		defer evalJS[bool](s.browserEnv, `(tokenFails = false, true)`)
		s.focus(appendEl, "button.primary")
		s.press(kb.Enter)
		ev := s.awaitEvent(appendEl, "error")
		if ev.Error == nil || ev.Error.Kind != "app" {
			t.Fatalf("error event %+v, want kind app", ev)
		}
		if got := s.text(appendEl, ".msg"); strings.Contains(got, "Could not reach the sign-in service") || !strings.Contains(got, "This page could not prepare") {
			t.Errorf("append says %q, want that the page's own check failed", got)
		}
		s.wantFocusKept(t, appendEl)
		s.check(t, "append-app-failed")
	})

	t.Run("NotNow", func(t *testing.T) {
		evalJS[bool](s.browserEnv, `(events.length = 0, freshAppend())`)
		s.focus(appendEl, "button.not-now")
		s.press(kb.Enter)
		s.awaitEvent(appendEl, "dismiss")
		if !evalJS[bool](s.browserEnv, `document.querySelector('latchkey-append').hidden && getComputedStyle(document.querySelector('latchkey-append')).display === 'none'`) {
			t.Error("after Not now the element still shows")
		}
		s.check(t, "not-now")
	})

	t.Run("PageColorScheme", func(t *testing.T) {
		// With theme auto the elements follow the page's color-scheme, not the system's alone:
		// a light-only page in a dark system gets light elements, and the other way round.
		card := `getComputedStyle(` + shadowQuery(login, ".card") + `).backgroundColor`
		defer evalJS[bool](s.browserEnv, `(document.documentElement.style.colorScheme = '', true)`)
		defer s.media("light")
		for _, tc := range []struct{ system, page, want string }{
			{"dark", "light", "rgb(255, 255, 255)"}, {"light", "dark", "rgb(22, 24, 29)"},
			{"dark", "light dark", "rgb(22, 24, 29)"}, {"light", "light dark", "rgb(255, 255, 255)"},
		} {
			s.media(tc.system)
			got := evalJS[string](s.browserEnv, `(document.documentElement.style.colorScheme = `+jsString(tc.page)+`, `+card+`)`)
			if got != tc.want {
				t.Errorf("system %s, page color-scheme %q: card %s, want %s", tc.system, tc.page, got, tc.want)
			}
		}
		// theme="light" and theme="dark" win over the page.
		s.media("dark")
		if got := evalJS[string](s.browserEnv, `(document.documentElement.style.colorScheme = 'dark', document.querySelector('latchkey-login').setAttribute('theme', 'light'), `+card+`)`); got != "rgb(255, 255, 255)" {
			t.Errorf("theme=light on a dark page: card %s", got)
		}
		evalJS[bool](s.browserEnv, `(document.querySelector('latchkey-login').removeAttribute('theme'), true)`)
	})

	t.Run("Reports", func(t *testing.T) {
		got := evalJS[[]string](s.browserEnv, `reports`)
		for _, want := range []string{"append.offer_shown", "append.offer_dismissed", "append.cancelled", "login.cancelled", "login.fallback:cancelled", "login.fallback:no_passkey"} {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+want+" ") {
				t.Errorf("reports %q lack %q", got, want)
			}
		}
	})

	t.Run("Languages", func(t *testing.T) {
		for _, tc := range []struct{ lang, login, append, heading string }{
			{"de", "Mit Passkey anmelden", "Passkey erstellen", "Passkeys"},
			{"fr", "Se connecter avec une clé d’accès", "Créer une clé d’accès", "Clés d’accès"},
			{"es-MX", "Iniciar sesión con una llave de acceso", "Crear una llave de acceso", "Llaves de acceso"},
			{"ja", "パスキーでサインイン", "パスキーを作成", "パスキー"},
		} {
			s.setPresence(false)
			s.openStrict(tc.lang, "")
			s.waitFor("the list", shadowQuery(passkeys, ".empty-title"))
			if got := s.text(login, "button"); got != tc.login {
				t.Errorf("%s: login button %q, want %q", tc.lang, got, tc.login)
			}
			if got := s.text(appendEl, "button.primary"); got != tc.append {
				t.Errorf("%s: append button %q, want %q", tc.lang, got, tc.append)
			}
			if got := s.text(passkeys, "h2"); got != tc.heading {
				t.Errorf("%s: heading %q, want %q", tc.lang, got, tc.heading)
			}
			s.check(t, "lang-"+tc.lang)
		}
		// An element's own lang wins over the page's and updates its texts; an app's messages
		// override the catalogue.
		if got := evalJS[string](s.browserEnv, `(document.querySelector('latchkey-login').setAttribute('lang', 'de'), `+shadowQuery(login, "button")+`.textContent)`); got != "Mit Passkey anmelden" {
			t.Errorf("with lang=de the login button says %q", got)
		}
		if got := evalJS[string](s.browserEnv, `(sdk.setMessages('de', { 'login.button': 'Weiter mit Passkey' }), `+shadowQuery(login, "button")+`.textContent)`); got != "Weiter mit Passkey" {
			t.Errorf("after setMessages the login button says %q", got)
		}
		if got := evalJS[string](s.browserEnv, `(document.querySelector('latchkey-login').messages = { 'login.button': 'Passkey' }, `+shadowQuery(login, "button")+`.textContent)`); got != "Passkey" {
			t.Errorf("with its own messages the login button says %q", got)
		}
		if got := evalJS[string](s.browserEnv, `(document.documentElement.lang = 'ja', `+shadowQuery(appendEl, "button.primary")+`.textContent)`); got != "パスキーを作成" {
			t.Errorf("after the page's lang changed to ja the append button says %q", got)
		}
		s.setPresence(true)
	})
}

// TestBrowserComponentScreenshots takes pictures of each component in light and dark, wide and
// narrow, in English and German. With LATCHKEY_UPDATE_SCREENSHOTS=1 (or -update) it writes them
// to docs/screenshots, which README shows; otherwise into a temporary directory, and checks that
// each is a valid, non-empty PNG.
func TestBrowserComponentScreenshots(t *testing.T) {
	s := newStrictEnv(t)
	dir := t.TempDir()
	if *update || os.Getenv("LATCHKEY_UPDATE_SCREENSHOTS") != "" {
		dir = filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Jane's two passkeys: one of this browser, one synced elsewhere.
	s.open("sdk")
	mustResolve[sdkPasskey](s.browserEnv, `lk.append(`+jsString(s.mint("passkey-append", "jane@example.com"))+`)`)
	other := softauthn.NewAuthenticator("localhost", s.pageURL)
	other.BackupEligible, other.BackedUp = true, true
	other.AAGUID = []byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4}
	start, err := s.f.Broker.StartAppend(context.Background(), s.project.ID, s.mint("passkey-append", "jane@example.com"), false)
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := json.Marshal(start.PublicKey)
	cred, err := other.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.f.Broker.FinishAppend(context.Background(), s.project.ID, start.CeremonyID, cred); err != nil {
		t.Fatal(err)
	}
	s.setPresence(false) // no autofill sign-in: the login element shows as a visitor sees it
	var files []string
	for _, lang := range []string{"en", "de"} {
		s.openStrict(lang, "")
		s.waitFor("the list", `document.querySelector('latchkey-passkeys').shadowRoot.querySelectorAll('li.item').length === 2`)
		for _, width := range []int64{960, 375} {
			s.viewport(width)
			for _, scheme := range []string{"light", "dark"} {
				s.media(scheme)
				for _, el := range []string{"latchkey-login", "latchkey-append", "latchkey-passkeys"} {
					ctx, cancel := s.step()
					png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(el)))
					cancel()
					if err != nil {
						t.Fatalf("screenshot of %s: %v", el, err)
					}
					size := "wide"
					if width < 600 {
						size = "narrow"
					}
					name := fmt.Sprintf("%s-%s-%s-%s.png", strings.TrimPrefix(el, "latchkey-"), lang, scheme, size)
					if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
						t.Fatal(err)
					}
					files = append(files, name)
				}
			}
		}
	}
	s.check(t, "screenshots")
	if len(files) != 24 {
		t.Fatalf("took %d screenshots, want 24", len(files))
	}
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s is not a PNG: %v", name, err)
			continue
		}
		if r := img.Bounds(); r.Dx() < 200 || r.Dy() < 100 {
			t.Errorf("%s is %dx%d, too small to show a component", name, r.Dx(), r.Dy())
		}
	}
}
