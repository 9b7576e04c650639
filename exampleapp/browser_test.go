package exampleapp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/web"
)

// browserTimeout bounds each browser test, from starting Chromium to its last step.
const browserTimeout = 60 * time.Second

// browser is one test's world: the broker (web.New over a brokertest fixture) and the app,
// each on its own port of localhost, and a headless Chromium tab with a WebAuthn virtual
// authenticator.
type browser struct {
	t         *testing.T
	ctx       context.Context
	project   broker.Project
	apiSecret string
	appURL    string
	brokerURL string
	auth      webauthn.AuthenticatorID

	mu         sync.Mutex
	loginStart []string // bodies of the page's POSTs to .../connect/login/start, in order
	console    []string

	shots string // LATCHKEY_E2E_ARTIFACTS/<test name>, or ""
	step  int
}

// residentKeys and nonResidentKeys are the two virtual authenticators of the tests: a
// platform authenticator with discoverable credentials (a passkey provider), and one that
// can only make server-side credentials.
var (
	residentKeys = webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
		Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
		IsUserVerified: true, AutomaticPresenceSimulation: true,
	}
	nonResidentKeys = webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportUsb,
		HasResidentKey: false, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}
)

// newBrowser starts the broker and the app on dialect and opens a tab with a virtual
// authenticator of opts. Everything stops when the test ends.
func newBrowser(t *testing.T, dialect string, opts webauthn.VirtualAuthenticatorOptions) *browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)

	f := brokertest.New(t, dialect)
	appLn := listen(t)
	brokerLn := listen(t)
	appURL := "http://localhost:" + port(appLn)
	brokerURL := "http://localhost:" + port(brokerLn)
	project, secret, err := f.Broker.CreateProject(ctx, broker.NewProject{Name: "Acme", RPID: "localhost", RPName: "Acme", Origins: []string{appURL}})
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	serve(t, brokerLn, web.New(f.Broker, quiet))
	app, err := New(ctx, Config{BrokerURL: brokerURL, ProjectID: project.ID, APISecret: secret, DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { app.Close() })
	serve(t, appLn, app)

	allocCtx := brokertest.Chromium(t, ctx, 1200, 900)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)

	b := &browser{t: t, ctx: tab, project: project, apiSecret: secret, appURL: appURL, brokerURL: brokerURL}
	if dir := os.Getenv("LATCHKEY_E2E_ARTIFACTS"); dir != "" {
		b.shots = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "-"))
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Listen(tab, b.record); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("Network.enable: %v", err)
	}
	if _, err := chromedp.Call(tab, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	b.auth = b.addAuthenticator(opts)
	// Log the errors Latchkey's elements report, for the failure output.
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		addEventListener('error', (e) => { const x = e.detail?.error; if (x) console.log('latchkey error:', x.kind, x.type || '', x.details || '', x.message); }, true);`}); err != nil {
		t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b.mu.Lock()
			defer b.mu.Unlock()
			t.Logf("browser console:\n%s", strings.Join(b.console, "\n"))
			t.Logf("login/start requests: %q", b.loginStart)
		}
	})
	return b
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func port(ln net.Listener) string { return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) }

func serve(t *testing.T, ln net.Listener, h http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
}

// record keeps the page's console and the bodies of its login/start requests.
func (b *browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if strings.HasSuffix(e.Request.URL, "/connect/login/start") && e.Request.Method == "POST" {
			body := ""
			for _, entry := range e.Request.PostDataEntries {
				body += string(entry.Bytes)
			}
			b.loginStart = append(b.loginStart, body)
		}
	default:
		if m, ok := consoleText(ev); ok {
			b.console = append(b.console, m)
		}
	}
}

func (b *browser) addAuthenticator(opts webauthn.VirtualAuthenticatorOptions) webauthn.AuthenticatorID {
	b.t.Helper()
	r, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &opts})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return r.AuthenticatorID
}

// credentials returns what the virtual authenticator holds.
func (b *browser) credentials() []*webauthn.Credential {
	b.t.Helper()
	r, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: b.auth})
	if err != nil {
		b.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return r.Credentials
}

// do runs browser steps, failing the test with what when one fails.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// inShadow selects the element sel inside the shadow root of the element host (both CSS).
func inShadow(host, sel string) chromedp.JSPath {
	return chromedp.JSPath(fmt.Sprintf(`document.querySelector(%q)?.shadowRoot?.querySelector(%q)`, host, sel))
}

// waitText waits until the element sel shows text containing want.
func waitText[S chromedp.Selectable](b *browser, sel S, want string) {
	b.t.Helper()
	b.do(fmt.Sprintf("waiting for %v", sel), chromedp.WaitVisible(sel))
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := chromedp.Run(b.ctx, chromedp.Text(sel))
		if err == nil && strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.shot("failed-text")
			b.t.Fatalf("%v shows %q, want it to contain %q", sel, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// me returns what the app's /api/me says about the page's session.
func (b *browser) me() (email, method string) {
	b.t.Helper()
	type meJSON struct {
		Status int
		Email  string
		Method string
	}
	got := eval[meJSON](b, `fetch('/api/me').then(async (r) => { const j = await r.json(); return {status: r.status, email: j.user?.email ?? '', method: j.method ?? ''}; })`)
	if got.Status != 200 {
		b.t.Fatalf("/api/me = %d, want 200 (signed in)", got.Status)
	}
	return got.Email, got.Method
}

// wantPasskeySession checks that the app created its own session for email from a verified
// signedPasskeyData (the only way its session gets method "passkey").
func (b *browser) wantPasskeySession(email string) {
	b.t.Helper()
	waitText(b, chromedp.CSS("#session-method"), "Signed in with a passkey")
	if gotEmail, method := b.me(); gotEmail != email || method != methodPasskey {
		b.t.Fatalf("/api/me = %s by %s, want %s by passkey", gotEmail, method, email)
	}
}

// shot saves a full-page screenshot, in light and dark, when LATCHKEY_E2E_ARTIFACTS is set.
func (b *browser) shot(name string) {
	if b.shots == "" {
		return
	}
	b.step++
	for _, scheme := range []string{"light", "dark"} {
		_, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		if err != nil {
			b.t.Logf("emulating %s: %v", scheme, err)
			return
		}
		time.Sleep(300 * time.Millisecond) // let colour transitions finish
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			b.t.Logf("screenshot %s: %v", name, err)
			return
		}
		path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s-%s.png", b.step, name, scheme))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			b.t.Logf("writing %s: %v", path, err)
		}
	}
	_, _ = chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
}

// signUp creates an account through the sign-up page and ends on the passkey offer.
func (b *browser) signUp(name, email, password string) {
	b.t.Helper()
	b.do("opening the sign-up page",
		chromedp.Navigate(b.appURL+"/signup"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
	)
	b.shot("signup")
	b.do("signing up", chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(appendButton))
	b.shot("passkey-offer")
	if gotEmail, method := b.me(); gotEmail != email || method != methodPassword {
		b.t.Fatalf("/api/me after sign-up = %s by %s, want %s by password", gotEmail, method, email)
	}
}

// The buttons and lists inside Latchkey's elements.
var (
	appendButton  = inShadow("latchkey-append", "button.primary")
	passkeyButton = inShadow("latchkey-login", "button[type=submit]")
	loginMessage  = inShadow("latchkey-login", ".msg")
	passkeyItem   = inShadow("latchkey-passkeys", "li.item")
)

// addPasskeyFromOffer accepts the passkey offer and continues to the profile.
func (b *browser) addPasskeyFromOffer() {
	b.t.Helper()
	b.do("adding a passkey", chromedp.Click(appendButton), chromedp.WaitVisible(chromedp.CSS("#continue")))
	waitText(b, inShadow("latchkey-append", ".msg"), "Your passkey is ready to use.")
	b.shot("passkey-added")
	b.do("opening the profile", chromedp.Click(chromedp.CSS("#continue")), chromedp.WaitVisible(passkeyItem))
}

// passkeyIDs returns the credential IDs the profile page lists.
func (b *browser) passkeyIDs() []string {
	b.t.Helper()
	return eval[[]string](b, `[...document.querySelector('latchkey-passkeys').shadowRoot.querySelectorAll('li.item')].map((li) => li.dataset.id)`)
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do("signing out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#email")))
	if st := eval[int](b, `fetch('/api/me').then((r) => r.status)`); st != http.StatusUnauthorized {
		b.t.Fatalf("/api/me after sign-out = %d, want 401", st)
	}
}

// withoutAutofill makes the browser report, to pages loaded from now on, that it has no
// passkey autofill (conditional mediation), as some browsers do; the sign-in page then signs
// in only from its button. Chromium's virtual environment answers an autofill request at
// once, as if the person had picked the passkey, so the tests of the button turn it off.
// The returned func turns autofill back on.
func (b *browser) withoutAutofill() (restore func()) {
	b.t.Helper()
	r, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		PublicKeyCredential.isConditionalMediationAvailable = async () => false;
		if (PublicKeyCredential.getClientCapabilities) {
			const caps = PublicKeyCredential.getClientCapabilities.bind(PublicKeyCredential);
			PublicKeyCredential.getClientCapabilities = async () => ({ ...(await caps()), conditionalGet: false });
		}`})
	if err != nil {
		b.t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	return func() {
		b.t.Helper()
		if _, err := chromedp.Call(b.ctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: r.Identifier}); err != nil {
			b.t.Fatalf("Page.removeScriptToEvaluateOnNewDocument: %v", err)
		}
	}
}

// consoleText renders a console call or an uncaught exception of the page.
func consoleText(ev any) (string, bool) {
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range e.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		return string(e.Type) + ": " + strings.Join(parts, " "), true
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		return fmt.Sprintf("exception: %s (%s:%d)", msg, d.URL, d.LineNumber), true
	}
	return "", false
}

// loginStartsSince returns the bodies of the login/start requests after the first n.
func (b *browser) loginStartsSince(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.loginStart[n:]...)
}

func (b *browser) loginStarts() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.loginStart)
}

// wantLoginStarts checks the login/start requests the page made since the first n.
func (b *browser) wantLoginStarts(n int, want ...string) {
	b.t.Helper()
	if diff := cmp.Diff(want, b.loginStartsSince(n)); diff != "" {
		b.t.Errorf("login/start requests (-want +got):\n%s", diff)
	}
}

// TestBrowserJourney clicks through everything a user of the example app does, in
// Chromium with a platform authenticator that keeps discoverable credentials.
func TestBrowserJourney(t *testing.T) {
	for _, dialect := range brokertest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			b := newBrowser(t, dialect, residentKeys)
			const email, password = "jane@example.com", "correct horse battery"
			b.signUp("Jane Doe", email, password)
			b.addPasskeyFromOffer()
			b.shot("profile-with-passkey")
			if ids := b.passkeyIDs(); len(ids) != 1 {
				t.Fatalf("profile lists %v, want one passkey", ids)
			}
			if creds := b.credentials(); len(creds) != 1 || !creds[0].IsResidentCredential {
				t.Fatalf("authenticator holds %d credentials, want one discoverable", len(creds))
			}

			// By identifier: the email, then the passkey button.
			restoreAutofill := b.withoutAutofill()
			b.signOut()
			b.shot("signin")
			n := b.loginStarts()
			b.do("typing the email", chromedp.SendKeys(chromedp.CSS("#email"), email))
			b.do("clicking the passkey button", chromedp.Click(passkeyButton))
			b.wantPasskeySession(email)
			b.wantLoginStarts(n, `{"identifier":"jane@example.com"}`)
			b.shot("profile-signed-in-with-passkey")

			// Usernameless: the passkey button with the email field left empty.
			b.signOut()
			n = b.loginStarts()
			b.do("clicking the passkey button", chromedp.Click(passkeyButton))
			b.wantPasskeySession(email)
			b.wantLoginStarts(n, `{}`)

			// Autofill: the page's conditional request (mediation "conditional", offered on the
			// autocomplete="username webauthn" field) signs in with no click. Chromium's
			// virtual environment picks the passkey itself; headless Chromium shows no
			// autofill list that CDP could select from.
			b.signOut()
			restoreAutofill()
			n = b.loginStarts()
			b.do("reopening the sign-in page", chromedp.Navigate(b.appURL+"/signin"))
			b.wantPasskeySession(email)
			b.wantLoginStarts(n, `{"conditional":true}`)

			// Delete the passkey on the profile, confirming when asked.
			b.do("deleting the passkey", chromedp.Click(inShadow("latchkey-passkeys", "button.delete")))
			b.shot("passkey-delete-confirm")
			b.do("confirming", chromedp.Click(inShadow("latchkey-passkeys", `[data-action="yes"]`)))
			waitText(b, inShadow("latchkey-passkeys", ".msg"), "Passkey deleted.")
			waitText(b, inShadow("latchkey-passkeys", ".empty"), "No passkeys yet")
			b.shot("passkey-deleted")

			// Without a passkey, the identifier leads to the password.
			b.withoutAutofill() // the authenticator still holds the deleted passkey
			b.signOut()
			b.do("signing in by identifier without a passkey",
				chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.Click(passkeyButton),
				chromedp.WaitVisible(chromedp.CSS("#password")))
			waitText(b, loginMessage, "There is no passkey for this account yet")
			b.shot("password-fallback")
			b.do("signing in with the password",
				chromedp.SendKeys(chromedp.CSS("#password"), password), chromedp.Click(chromedp.CSS("#password-signin")),
				chromedp.WaitVisible(appendButton))
			if gotEmail, method := b.me(); gotEmail != email || method != methodPassword {
				t.Fatalf("/api/me after the password fallback = %s by %s, want %s by password", gotEmail, method, email)
			}
		})
	}
}

// TestBrowserNonDiscoverable uses an authenticator without resident keys (a security key
// that keeps nothing): it can add a passkey, and sign in when the identifier names it. The
// page's autofill request, which this authenticator cannot answer, stays on.
func TestBrowserNonDiscoverable(t *testing.T) {
	for _, dialect := range brokertest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			b := newBrowser(t, dialect, nonResidentKeys)
			const email = "sam@example.com"
			b.signUp("Sam Roe", email, "correct horse battery")
			b.addPasskeyFromOffer()
			if ids := b.passkeyIDs(); len(ids) != 1 {
				t.Fatalf("profile lists %v, want one passkey", ids)
			}
			if creds := b.credentials(); len(creds) != 1 || creds[0].IsResidentCredential {
				t.Fatalf("authenticator holds %d credentials, want one non-discoverable", len(creds))
			}
			b.signOut()
			n := b.loginStarts()
			b.do("typing the email", chromedp.SendKeys(chromedp.CSS("#email"), email))
			b.do("clicking the passkey button", chromedp.Click(passkeyButton))
			b.wantPasskeySession(email)
			if got := b.loginStartsSince(n); !slices.Contains(got, `{"identifier":"sam@example.com"}`) {
				t.Errorf("login/start requests %q, want one by identifier", got)
			}
		})
	}
}

// TestBrowserCancelledAndUnknownPasskey shows the page's messages when the passkey prompt
// fails (NotAllowedError) and when the broker no longer knows the passkey the authenticator
// offers.
func TestBrowserCancelledAndUnknownPasskey(t *testing.T) {
	for _, dialect := range brokertest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			b := newBrowser(t, dialect, residentKeys)
			const email = "kim@example.com"
			b.signUp("Kim Lee", email, "correct horse battery")
			b.addPasskeyFromOffer()
			b.withoutAutofill()
			b.signOut()

			// The authenticator fails user verification: the browser rejects with NotAllowedError.
			b.userVerified(false)
			b.do("signing in with the passkey button", chromedp.Click(passkeyButton))
			waitText(b, loginMessage, "The passkey prompt was closed.")
			b.shot("passkey-cancelled")
			if st := eval[int](b, `fetch('/api/me').then((r) => r.status)`); st != http.StatusUnauthorized {
				t.Fatalf("/api/me after a cancelled prompt = %d, want 401", st)
			}
			b.userVerified(true)

			// The passkey is deleted on the server (through the broker's API, as another
			// device of the user would) while the authenticator still holds it.
			creds := b.credentials()
			if len(creds) != 1 {
				t.Fatalf("authenticator holds %d credentials, want 1", len(creds))
			}
			credentialID := base64.RawURLEncoding.EncodeToString(creds[0].CredentialID)
			b.deleteOnServer(email, credentialID)
			// Record the SDK's call of PublicKeyCredential.signalUnknownCredential.
			hasSignal := eval[bool](b, `(() => {
				window.signals = [];
				const orig = PublicKeyCredential.signalUnknownCredential;
				if (typeof orig !== 'function') return false;
				PublicKeyCredential.signalUnknownCredential = (o) => { window.signals.push(o); return orig.call(PublicKeyCredential, o); };
				return true;
			})()`)
			b.do("signing in with the deleted passkey", chromedp.Click(passkeyButton))
			waitText(b, loginMessage, "This passkey is no longer registered for this site.")
			b.shot("passkey-unknown")
			if st := eval[int](b, `fetch('/api/me').then((r) => r.status)`); st != http.StatusUnauthorized {
				t.Fatalf("/api/me after signing in with a deleted passkey = %d, want 401", st)
			}
			if !hasSignal {
				t.Logf("this Chromium has no PublicKeyCredential.signalUnknownCredential")
				return
			}
			type signal struct{ RpId, CredentialId string }
			if got := eval[[]signal](b, `window.signals`); len(got) != 1 || got[0] != (signal{"localhost", credentialID}) {
				t.Errorf("signalUnknownCredential calls = %+v, want one for {localhost %s}", got, credentialID)
			}
		})
	}
}

// deleteOnServer deletes a passkey of the user through the broker's APIs: a passkey-delete
// connect token from the backend API, then manage/delete without a browser.
func (b *browser) deleteOnServer(identifier, credentialID string) {
	b.t.Helper()
	post := func(path string, body any, basic bool) map[string]any {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(b.ctx, "POST", b.brokerURL+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		if basic {
			req.SetBasicAuth(b.project.ID, b.apiSecret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			b.t.Fatalf("POST %s = %d %v", path, resp.StatusCode, out)
		}
		return out
	}
	tok := post("/v2/connectTokens", map[string]any{"type": "passkey-delete", "data": map[string]string{"identifier": identifier}}, true)
	res := post("/v2/projects/"+b.project.ID+"/connect/manage/delete", map[string]any{"connectToken": tok["secret"], "credentialID": credentialID}, false)
	if left, _ := res["passkeys"].([]any); len(left) != 0 {
		b.t.Fatalf("passkeys left after manage/delete: %v", left)
	}
}

// userVerified sets whether the virtual authenticator's user verification succeeds.
func (b *browser) userVerified(ok bool) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: b.auth, IsUserVerified: ok}); err != nil {
		b.t.Fatalf("WebAuthn.setUserVerified: %v", err)
	}
}
