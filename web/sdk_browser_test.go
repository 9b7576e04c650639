package web_test

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/web"
)

// browserStepTimeout bounds every browser step.
const browserStepTimeout = 30 * time.Second

// browserEnv is a broker served on 127.0.0.1, a test page server on another origin
// (http://localhost:<port>, a secure context for RP ID localhost) and one headless Chromium
// tab with a WebAuthn virtual authenticator.
type browserEnv struct {
	t         *testing.T
	f         *brokertest.Fixture
	project   broker.Project
	brokerURL string
	pageURL   string
	pages     *http.ServeMux // the page server's routes, for a test's own pages
	tab       context.Context
	authID    webauthn.AuthenticatorID

	mu         sync.Mutex
	done       bool     // set at cleanup: browser events are no longer logged
	exceptions []string // uncaught exceptions of the pages, each a test failure
}

// serveLoopback serves h on 127.0.0.1 and returns its port.
func serveLoopback(t *testing.T, h http.Handler) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return l.Addr().(*net.TCPAddr).Port
}

func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	f := brokertest.New(t, "sqlite")
	e := &browserEnv{t: t, f: f}
	brokerPort := serveLoopback(t, web.New(f.Broker, slog.New(slog.NewTextHandler(io.Discard, nil))))
	e.brokerURL = fmt.Sprintf("http://127.0.0.1:%d", brokerPort)

	// The page server needs its own origin in the project before it serves pages.
	pages := http.NewServeMux()
	pagePort := serveLoopback(t, pages)
	e.pageURL = fmt.Sprintf("http://localhost:%d", pagePort)
	e.pages = pages
	p, _, err := f.Broker.CreateProject(context.Background(), broker.NewProject{
		Name: "Browser", RPID: "localhost", RPName: "Latchkey Demo", Origins: []string{e.pageURL}})
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	e.project = p
	pages.HandleFunc("GET /{page}", e.servePage)
	pages.HandleFunc("GET /token", e.serveToken)

	allocCtx := brokertest.Chromium(t, context.Background(), 960, 720)
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(func() {
		e.mu.Lock()
		e.done = true
		for _, x := range e.exceptions {
			t.Errorf("the page threw %s", x)
		}
		e.mu.Unlock()
		cancelTab()
	})
	e.tab = tab
	ctx, cancel := context.WithTimeout(tab, browserStepTimeout)
	defer cancel()
	if err := chromedp.Listen(tab, e.logEvent); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	e.authID = res.AuthenticatorID
	return e
}

// logEvent logs the page's console output into the test log and records its uncaught
// exceptions (also unhandled promise rejections).
func (e *browserEnv) logEvent(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			if a.Value != nil {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		line = ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			line += " " + ev.ExceptionDetails.Exception.Description
		}
		e.mu.Lock()
		e.exceptions = append(e.exceptions, line)
		e.mu.Unlock()
		return
	default:
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.done {
		e.t.Log("browser " + line)
	}
}

// sdkPageTemplate is the test page on the page origin: it imports the SDK (and, on the
// components page, the web components) from the broker, a cross-origin module import.
var sdkPageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="color-scheme" content="light dark">
<title>Latchkey {{.Page}}</title>
<style>
  :root { color-scheme: light dark; }
  body { margin: 0; min-height: 100vh; font-family: system-ui, sans-serif;
    background: #f3f4f6; color: #111827; }
  @media (prefers-color-scheme: dark) { body { background: #0b0d12; color: #e5e7eb; } }
  main { max-width: 440px; margin: 0 auto; padding: 48px 20px; display: grid; gap: 24px; }
  .host-card { background: Canvas; border-radius: 16px; padding: 32px; box-shadow: 0 4px 24px rgb(0 0 0 / 0.08); }
  .host-card h1 { font-size: 22px; margin: 0 0 20px; }
  .host-card label { display: block; font-weight: 600; margin-bottom: 6px; }
  .host-card input { font: inherit; padding: 10px 12px; border: 1px solid #9ca3af; border-radius: 8px; background: Field; color: FieldText; }
  .host-card a { color: #4f46e5; }
</style>
<script>
  window.brokerURL = {{.BrokerURL}};
  window.projectID = {{.ProjectID}};
  window.sdkReady = import(brokerURL + '/web/latchkey.js').then((m) => {
    window.sdk = m;
    window.lk = new m.Latchkey({ projectID });
    return true;
  });
  // settle turns a promise into a plain object for the test to read.
  window.settle = (p) => Promise.resolve(p).then(
    (value) => ({ ok: true, value }),
    (e) => ({ ok: false, error: { name: String(e && e.name), kind: e && e.kind, type: e && e.type,
      status: e && e.status, message: String(e && e.message), requestID: e && e.requestID,
      details: e && e.details } }));
  window.events = [];
  window.token = async (type, identifier) => {
    const res = await fetch('/token?type=' + encodeURIComponent(type) + '&identifier=' + encodeURIComponent(identifier));
    if (!res.ok) throw new Error('minting a token: HTTP ' + res.status);
    return (await res.json()).secret;
  };
</script>
{{if or (eq .Page "components") (eq .Page "slotted")}}
<script type="module">
  await import(brokerURL + '/web/latchkey-components.js');
  for (const el of document.querySelectorAll('latchkey-login, latchkey-append, latchkey-passkeys')) {
    el.connectToken = (type) => token(type, 'jane@example.com');
    for (const name of ['complete', 'fallback', 'error']) {
      el.addEventListener(name, (ev) => events.push({ el: el.localName, name, detail: ev.detail,
        error: ev.detail && ev.detail.error ? { kind: ev.detail.error.kind, type: ev.detail.error.type } : null }));
    }
  }
  window.componentsReady = true;
</script>
{{end}}
</head>
<body>
<main>
{{if eq .Page "components"}}
  <latchkey-login project-id="{{.ProjectID}}" broker-url="{{.BrokerURL}}"></latchkey-login>
  <latchkey-append project-id="{{.ProjectID}}" broker-url="{{.BrokerURL}}"></latchkey-append>
  <latchkey-passkeys project-id="{{.ProjectID}}" broker-url="{{.BrokerURL}}"></latchkey-passkeys>
{{else if eq .Page "slotted"}}
  <section class="host-card">
    <h1>Sign in to Acme</h1>
    <label for="email">Email</label>
    <latchkey-login plain project-id="{{.ProjectID}}" broker-url="{{.BrokerURL}}">
      <input slot="identifier" id="email" name="email" type="email" autocomplete="username webauthn">
      <a href="#password">Use my password instead</a>
    </latchkey-login>
  </section>
{{else}}
  <p>SDK test page</p>
{{end}}
</main>
</body>
</html>
`))

func (e *browserEnv) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := sdkPageTemplate.Execute(w, map[string]string{"Page": r.PathValue("page"), "BrokerURL": e.brokerURL, "ProjectID": e.project.ID})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// serveToken is the test page's stand-in for an app backend: it mints a connect token.
func (e *browserEnv) serveToken(w http.ResponseWriter, r *http.Request) {
	tok, err := e.f.Broker.MintConnectToken(r.Context(), e.project.ID, broker.MintRequest{
		Type: r.URL.Query().Get("type"),
		Data: broker.ConnectTokenData{Identifier: r.URL.Query().Get("identifier"), DisplayName: "Jane Doe"},
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"secret": tok.Secret})
}

// step returns a context for one bounded browser step.
func (e *browserEnv) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.tab, browserStepTimeout)
}

// open navigates the tab to one of the test pages and waits until the SDK is imported.
func (e *browserEnv) open(page string) {
	e.t.Helper()
	ctx, cancel := e.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(e.pageURL+"/"+page)); err != nil {
		e.t.Fatalf("navigating to %s: %v", page, err)
	}
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`sdkReady`, chromedp.EvalAwaitPromise)); err != nil || !ok {
		e.t.Fatalf("importing the SDK from the broker: %v", err)
	}
}

// evalJS evaluates a JavaScript expression (awaiting a promise) and decodes its result into T.
func evalJS[T any](e *browserEnv, expr string) T {
	e.t.Helper()
	ctx, cancel := e.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		e.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// sdkSettled is what the page's settle helper resolves to.
type sdkSettled struct {
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error *sdkError       `json:"error"`
}

type sdkError struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Type      string `json:"type"`
	Status    int    `json:"status"`
	Message   string `json:"message"`
	RequestID string `json:"requestID"`
	Details   string `json:"details"`
}

// settle evaluates a promise-valued expression and returns how it settled.
func (e *browserEnv) settle(expr string) sdkSettled {
	e.t.Helper()
	return evalJS[sdkSettled](e, "settle("+expr+")")
}

// mustResolve evaluates a promise-valued expression that must resolve, and decodes its value.
func mustResolve[T any](e *browserEnv, expr string) T {
	e.t.Helper()
	r := e.settle(expr)
	if !r.OK {
		e.t.Fatalf("%s rejected: %+v", expr, *r.Error)
	}
	var v T
	if err := json.Unmarshal(r.Value, &v); err != nil {
		e.t.Fatalf("%s resolved to %s: %v", expr, r.Value, err)
	}
	return v
}

// rejects evaluates a promise-valued expression that must reject with a LatchkeyError.
func (e *browserEnv) rejects(expr string) sdkError {
	e.t.Helper()
	r := e.settle(expr)
	if r.OK {
		e.t.Fatalf("%s resolved to %s, want a rejection", expr, r.Value)
	}
	if r.Error.Name != "LatchkeyError" {
		e.t.Fatalf("%s rejected with %+v, want a LatchkeyError", expr, *r.Error)
	}
	return *r.Error
}

// mint returns the secret of a new connect token of typ for identifier.
func (e *browserEnv) mint(typ, identifier string) string {
	e.t.Helper()
	tok, err := e.f.Broker.MintConnectToken(context.Background(), e.project.ID, broker.MintRequest{
		Type: typ, Data: broker.ConnectTokenData{Identifier: identifier, DisplayName: "Jane Doe"}})
	if err != nil {
		e.t.Fatalf("MintConnectToken(%s, %s): %v", typ, identifier, err)
	}
	return tok.Secret
}

// credentials returns the credentials the virtual authenticator holds.
func (e *browserEnv) credentials() []*webauthn.Credential {
	e.t.Helper()
	ctx, cancel := e.step()
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: e.authID})
	if err != nil {
		e.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// verify checks signedPasskeyData as an app backend would and returns the verification.
func (e *browserEnv) verify(spd, username string) broker.Verification {
	e.t.Helper()
	v, err := e.f.Broker.VerifySignedData(context.Background(), e.project.ID, spd, username)
	if err != nil {
		e.t.Fatalf("VerifySignedData: %v", err)
	}
	if v.Result != broker.ResultSuccess {
		e.t.Fatalf("VerifySignedData = %+v, want success", v)
	}
	return v
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// colorScheme emulates prefers-color-scheme (light or dark).
func (e *browserEnv) colorScheme(scheme string) {
	e.t.Helper()
	ctx, cancel := e.step()
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
	if err != nil {
		e.t.Fatalf("Emulation.setEmulatedMedia: %v", err)
	}
}

// screenshot saves the page as DIR/name.png when LATCHKEY_E2E_ARTIFACTS=DIR.
func (e *browserEnv) screenshot(name string) {
	e.t.Helper()
	dir := os.Getenv("LATCHKEY_E2E_ARTIFACTS")
	if dir == "" {
		return
	}
	ctx, cancel := e.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		e.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// setPresence turns the virtual authenticator's automatic user presence on or off; without
// it, WebAuthn requests wait.
func (e *browserEnv) setPresence(on bool) {
	e.t.Helper()
	ctx, cancel := e.step()
	defer cancel()
	_, err := chromedp.Call(ctx, webauthn.SetAutomaticPresenceSimulation, webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: e.authID, Enabled: on})
	if err != nil {
		e.t.Fatalf("WebAuthn.setAutomaticPresenceSimulation(%v): %v", on, err)
	}
}

// setUserVerified makes user verification of the virtual authenticator succeed or fail; when
// it fails, the browser rejects the request with NotAllowedError, as when a user cancels.
func (e *browserEnv) setUserVerified(ok bool) {
	e.t.Helper()
	ctx, cancel := e.step()
	defer cancel()
	_, err := chromedp.Call(ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: e.authID, IsUserVerified: ok})
	if err != nil {
		e.t.Fatalf("WebAuthn.setUserVerified(%v): %v", ok, err)
	}
}

// credentialIDs returns the base64url IDs of the credentials the virtual authenticator holds.
func (e *browserEnv) credentialIDs() []string {
	e.t.Helper()
	ids := []string{}
	for _, c := range e.credentials() {
		ids = append(ids, base64.RawURLEncoding.EncodeToString(c.CredentialID))
	}
	slices.Sort(ids)
	return ids
}

// waitFor polls a JavaScript expression until it is truthy.
func (e *browserEnv) waitFor(what, expr string) {
	e.t.Helper()
	ctx, cancel := e.step()
	defer cancel()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")", chromedp.EvalAwaitPromise))
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("waiting for %s (%s): %v (last error: %v)", what, expr, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// requests returns how many requests for the broker's frontend operation op (e.g.
// "login/start") the page has completed, from its resource timing entries.
func (e *browserEnv) requests(op string) int {
	e.t.Helper()
	return evalJS[int](e, `performance.getEntriesByType('resource').filter((r) => r.name.endsWith('/connect/' + `+jsString(op)+`)).length`)
}

// awaitAutofill waits until an autofill request (started after n login/start requests) has
// reached the browser's navigator.credentials.get, so that it waits for the authenticator.
func (e *browserEnv) awaitAutofill(n int) {
	e.t.Helper()
	e.waitFor("the autofill's login/start", fmt.Sprintf(`performance.getEntriesByType('resource').filter((r) => r.name.endsWith('/connect/login/start')).length > %d`, n))
	time.Sleep(200 * time.Millisecond) // then parsing the options and calling get take microseconds
}

// pending reports whether the promise in the page variable name has not settled within 100 ms.
func (e *browserEnv) pending(name string) bool {
	e.t.Helper()
	return evalJS[bool](e, `Promise.race([`+name+`.then(() => false), new Promise((r) => setTimeout(() => r(true), 100))])`)
}

// spdClaims decodes the payload of signedPasskeyData (already verified).
func spdClaims(t *testing.T, spd string) map[string]any {
	t.Helper()
	parts := strings.Split(spd, ".")
	if len(parts) != 3 {
		t.Fatalf("signedPasskeyData %q is not a compact JWS", spd)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

type sdkLogin struct {
	SignedPasskeyData string `json:"signedPasskeyData"`
	Username          string `json:"username"`
	Fallback          *struct {
		Reason string `json:"reason"`
	} `json:"fallback"`
}

type sdkPasskey struct {
	ID             string   `json:"id"`
	Label          string   `json:"label"`
	ProviderName   string   `json:"providerName"`
	AAGUID         string   `json:"aaguid"`
	Transports     []string `json:"transports"`
	BackupEligible bool     `json:"backupEligible"`
	BackedUp       bool     `json:"backedUp"`
	CreatedAt      string   `json:"createdAt"`
	LastUsedAt     *string  `json:"lastUsedAt"`
}

type sdkPasskeyList struct {
	Passkeys []sdkPasskey `json:"passkeys"`
	Signal   struct {
		AllAcceptedCredentials struct {
			RPID                     string   `json:"rpId"`
			UserID                   string   `json:"userId"`
			AllAcceptedCredentialIDs []string `json:"allAcceptedCredentialIds"`
		} `json:"allAcceptedCredentials"`
	} `json:"signal"`
}

func (l sdkPasskeyList) ids() []string {
	ids := []string{}
	for _, p := range l.Passkeys {
		ids = append(ids, p.ID)
	}
	return ids
}

// TestBrowserSDK drives /web/latchkey.js in headless Chromium with a virtual authenticator,
// imported cross-origin from the broker by a page on another origin. The steps build on each
// other: one user's passkey is created, listed, used in every login style, then refused.
func TestBrowserSDK(t *testing.T) {
	e := newBrowserEnv(t)
	e.open("sdk")
	const jane = "jane@example.com"
	var janeKey sdkPasskey

	t.Run("Supported", func(t *testing.T) {
		if !evalJS[bool](e, `sdk.Latchkey.isSupported()`) {
			t.Error("Latchkey.isSupported() = false, want true")
		}
		if !evalJS[bool](e, `sdk.Latchkey.isConditionalSupported()`) {
			t.Error("Latchkey.isConditionalSupported() = false, want true")
		}
		if got := evalJS[string](e, `lk.brokerURL`); got != e.brokerURL {
			t.Errorf("brokerURL = %q, want the origin the module came from, %q", got, e.brokerURL)
		}
	})

	t.Run("Append", func(t *testing.T) {
		janeKey = mustResolve[sdkPasskey](e, `lk.append(`+jsString(e.mint("passkey-append", jane))+`)`)
		if janeKey.ID == "" || janeKey.CreatedAt == "" || janeKey.LastUsedAt != nil || janeKey.Label == "" {
			t.Errorf("append resolved to %+v, want a new, unused passkey", janeKey)
		}
		if !slices.Contains(janeKey.Transports, "internal") {
			t.Errorf("transports = %v, want internal (from getTransports)", janeKey.Transports)
		}
		if got := e.credentialIDs(); !slices.Equal(got, []string{janeKey.ID}) {
			t.Errorf("authenticator holds %v, want [%s]", got, janeKey.ID)
		}
	})

	t.Run("List", func(t *testing.T) {
		l := mustResolve[sdkPasskeyList](e, `lk.list(`+jsString(e.mint("passkey-list", jane))+`)`)
		if got := l.ids(); !slices.Equal(got, []string{janeKey.ID}) {
			t.Fatalf("list ids = %v, want [%s]", got, janeKey.ID)
		}
		sig := l.Signal.AllAcceptedCredentials
		if sig.RPID != "localhost" || sig.UserID == "" || !slices.Equal(sig.AllAcceptedCredentialIDs, []string{janeKey.ID}) {
			t.Errorf("signal = %+v, want rpId localhost, a userId and [%s]", sig, janeKey.ID)
		}
		// signalAllAcceptedCredentials ran with the list: the authenticator keeps the passkey.
		if got := e.credentialIDs(); !slices.Equal(got, []string{janeKey.ID}) {
			t.Errorf("after list the authenticator holds %v, want [%s]", got, janeKey.ID)
		}
	})

	t.Run("LoginIdentifier", func(t *testing.T) {
		r := mustResolve[sdkLogin](e, `lk.login({ identifier: `+jsString(jane)+` })`)
		if r.Username != jane {
			t.Errorf("username = %q, want %q", r.Username, jane)
		}
		v := e.verify(r.SignedPasskeyData, jane)
		if v.CredentialID != janeKey.ID {
			t.Errorf("credential = %q, want %q", v.CredentialID, janeKey.ID)
		}
		if c := spdClaims(t, r.SignedPasskeyData); c["isCUI"] == true || c["uv"] != true {
			t.Errorf("claims %v: want isCUI false and uv true", c)
		}
	})

	t.Run("LoginFallback", func(t *testing.T) {
		r := mustResolve[sdkLogin](e, `lk.login({ identifier: 'nobody@example.com' })`)
		if r.Fallback == nil || r.Fallback.Reason != "no_passkey" || r.SignedPasskeyData != "" {
			t.Errorf("login of an unknown identifier = %+v, want fallback no_passkey", r)
		}
	})

	t.Run("LoginUsernameless", func(t *testing.T) {
		r := mustResolve[sdkLogin](e, `lk.login()`)
		if r.Username != jane {
			t.Errorf("username = %q, want %q", r.Username, jane)
		}
		e.verify(r.SignedPasskeyData, jane)
	})

	t.Run("LoginConnectToken", func(t *testing.T) {
		tok, err := e.f.Broker.MintConnectToken(context.Background(), e.project.ID, broker.MintRequest{
			Type: "passkey-login", Data: broker.ConnectTokenData{Identifier: jane}})
		if err != nil {
			t.Fatal(err)
		}
		r := mustResolve[sdkLogin](e, `lk.login({ loginConnectToken: `+jsString(tok.Secret)+` })`)
		e.verify(r.SignedPasskeyData, jane)
		if c := spdClaims(t, r.SignedPasskeyData); c["connectTokenID"] != tok.ID {
			t.Errorf("connectTokenID claim = %v, want %s", c["connectTokenID"], tok.ID)
		}
		if got, _ := e.f.Broker.ConnectToken(context.Background(), e.project.ID, tok.ID); got.Status != "consumed" {
			t.Errorf("token status = %q, want consumed", got.Status)
		}
	})

	t.Run("LoginConditional", func(t *testing.T) {
		// Chromium's virtual environment answers a conditional request at once with the
		// authenticator's discoverable credential, as if the user picked it in autofill.
		r := mustResolve[sdkLogin](e, `lk.loginConditional()`)
		e.verify(r.SignedPasskeyData, jane)
		if c := spdClaims(t, r.SignedPasskeyData); c["isCUI"] != true {
			t.Errorf("isCUI claim = %v, want true", c["isCUI"])
		}
	})

	t.Run("LoginConditionalAbort", func(t *testing.T) {
		e.setPresence(false) // the autofill request now waits, as for a user who picks nothing
		defer e.setPresence(true)
		evalJS[bool](e, `(window.ac = new AbortController(), window.cond = settle(lk.loginConditional({ signal: ac.signal })), true)`)
		if !e.pending("cond") {
			t.Fatalf("loginConditional settled before abort: %+v", evalJS[sdkSettled](e, `cond`))
		}
		evalJS[bool](e, `(ac.abort(), true)`)
		r := evalJS[sdkSettled](e, `cond`)
		if r.OK || r.Error.Name != "LatchkeyError" || r.Error.Kind != "cancelled" {
			t.Errorf("aborted loginConditional settled as %+v, want LatchkeyError kind cancelled", r)
		}
	})

	t.Run("ModalReplacesConditional", func(t *testing.T) {
		e.setPresence(false)
		n := e.requests("login/start")
		evalJS[bool](e, `(window.cond = settle(lk.loginConditional()), true)`)
		e.awaitAutofill(n)
		if !e.pending("cond") {
			t.Fatalf("loginConditional settled early: %+v", evalJS[sdkSettled](e, `cond`))
		}
		e.setPresence(true)
		r := mustResolve[sdkLogin](e, `lk.login({ identifier: `+jsString(jane)+` })`)
		e.verify(r.SignedPasskeyData, jane)
		c := evalJS[sdkSettled](e, `cond`)
		if c.OK || c.Error.Kind != "cancelled" {
			t.Errorf("the replaced loginConditional settled as %+v, want kind cancelled", c)
		}
	})

	t.Run("AlreadyRegistered", func(t *testing.T) {
		err := e.rejects(`lk.append(` + jsString(e.mint("passkey-append", jane)) + `)`)
		if err.Kind != "already_registered" || err.Details != "InvalidStateError" {
			t.Errorf("second append with the same authenticator: %+v, want kind already_registered", err)
		}
		if got := e.credentialIDs(); len(got) != 1 {
			t.Errorf("authenticator holds %v, want one credential", got)
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		e.setUserVerified(false)
		defer e.setUserVerified(true)
		err := e.rejects(`lk.login({ identifier: ` + jsString(jane) + ` })`)
		if err.Kind != "cancelled" || err.Details != "NotAllowedError" {
			t.Errorf("login refused by the authenticator: %+v, want kind cancelled (NotAllowedError)", err)
		}
		if want := "The passkey prompt was closed. Try again, or use your password."; err.Message != want {
			t.Errorf("message = %q, want %q", err.Message, want)
		}
	})

	t.Run("ServerError", func(t *testing.T) {
		err := e.rejects(`lk.append('ctk1_not-a-token')`)
		if err.Kind != "server" || err.Type != "invalid_connect_token" || err.Status != 401 || !strings.HasPrefix(err.RequestID, "req-") {
			t.Errorf("append with a bad token: %+v, want kind server, type invalid_connect_token, 401 and a request ID", err)
		}
	})

	t.Run("NetworkError", func(t *testing.T) {
		err := e.rejects(`new sdk.Latchkey({ projectID, brokerURL: 'http://127.0.0.1:1' }).login()`)
		if err.Kind != "network" {
			t.Errorf("login against a closed port: %+v, want kind network", err)
		}
	})

	t.Run("UnknownCredential", func(t *testing.T) {
		if _, _, err := e.f.Broker.DeletePasskey(context.Background(), e.project.ID, e.mint("passkey-delete", jane), janeKey.ID); err != nil {
			t.Fatalf("DeletePasskey: %v", err)
		}
		err := e.rejects(`lk.login()`)
		if err.Kind != "server" || err.Type != "unknown_credential" || err.Status != 404 {
			t.Errorf("login with a deleted passkey: %+v, want kind server, type unknown_credential, 404", err)
		}
		// signalUnknownCredential told the authenticator to forget the passkey.
		if !evalJS[bool](e, `typeof PublicKeyCredential.signalUnknownCredential === 'function'`) {
			t.Skip("this Chromium has no signalUnknownCredential")
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(e.credentialIDs()) != 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := e.credentialIDs(); len(got) != 0 {
			t.Errorf("after signalUnknownCredential the authenticator holds %v, want none", got)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		sam := mustResolve[sdkPasskey](e, `lk.append(`+jsString(e.mint("passkey-append", "sam@example.com"))+`)`)
		ann := mustResolve[sdkPasskey](e, `lk.append(`+jsString(e.mint("passkey-append", "ann@example.com"))+`)`)
		l := mustResolve[sdkPasskeyList](e, `lk.remove(`+jsString(e.mint("passkey-delete", "ann@example.com"))+`, `+jsString(ann.ID)+`)`)
		if len(l.Passkeys) != 0 || len(l.Signal.AllAcceptedCredentials.AllAcceptedCredentialIDs) != 0 || l.Signal.AllAcceptedCredentials.UserID == "" {
			t.Errorf("remove resolved to %+v, want no passkeys and an empty signal for the user", l)
		}
		if l := mustResolve[sdkPasskeyList](e, `lk.list(`+jsString(e.mint("passkey-list", "sam@example.com"))+`)`); !slices.Equal(l.ids(), []string{sam.ID}) {
			t.Errorf("sam's passkeys = %v, want [%s]", l.ids(), sam.ID)
		}
		// signalAllAcceptedCredentials after remove told the authenticator to forget ann's.
		deadline := time.Now().Add(5 * time.Second)
		for len(e.credentialIDs()) != 1 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := e.credentialIDs(); !slices.Equal(got, []string{sam.ID}) {
			t.Errorf("authenticator holds %v, want only sam's %s", got, sam.ID)
		}
	})
}

// TestBrowserSDKWithoutJSONMethods runs append and login through the SDK's own encoding, as
// in browsers without parseCreationOptionsFromJSON, parseRequestOptionsFromJSON and toJSON.
func TestBrowserSDKWithoutJSONMethods(t *testing.T) {
	e := newBrowserEnv(t)
	e.open("sdk")
	removed := evalJS[bool](e, `(() => {
		delete PublicKeyCredential.parseCreationOptionsFromJSON;
		delete PublicKeyCredential.parseRequestOptionsFromJSON;
		delete PublicKeyCredential.prototype.toJSON;
		return !PublicKeyCredential.parseCreationOptionsFromJSON && !PublicKeyCredential.parseRequestOptionsFromJSON &&
			!('toJSON' in PublicKeyCredential.prototype);
	})()`)
	if !removed {
		t.Fatal("could not remove the WebAuthn JSON methods")
	}
	const lee = "lee@example.com"
	pk := mustResolve[sdkPasskey](e, `lk.append(`+jsString(e.mint("passkey-append", lee))+`)`)
	if !slices.Contains(pk.Transports, "internal") {
		t.Errorf("transports = %v, want internal (from getTransports)", pk.Transports)
	}
	if err := e.rejects(`lk.append(` + jsString(e.mint("passkey-append", lee)) + `)`); err.Kind != "already_registered" {
		t.Errorf("second append: %+v, want kind already_registered (excludeCredentials decoded)", err)
	}
	r := mustResolve[sdkLogin](e, `lk.login({ identifier: `+jsString(lee)+` })`)
	if v := e.verify(r.SignedPasskeyData, lee); v.CredentialID != pk.ID {
		t.Errorf("identifier login used %s, want %s", v.CredentialID, pk.ID)
	}
	r = mustResolve[sdkLogin](e, `lk.login()`)
	e.verify(r.SignedPasskeyData, lee)
}

// TestBrowserSDKAsset checks how the broker serves the SDK files.
func TestBrowserSDKAsset(t *testing.T) {
	f := brokertest.New(t, "sqlite")
	srv := httptest.NewServer(web.New(f.Broker, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	get := func(path string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	// The broker gzips at start and brotli-compresses in the background (gzip until then).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, _ := get("/web/latchkey-components.js", map[string]string{"Accept-Encoding": "br, gzip"})
		if enc := res.Header.Get("Content-Encoding"); enc == "br" {
			break
		} else if enc != "gzip" || time.Now().After(deadline) {
			t.Fatalf("GET /web/latchkey-components.js accepting br and gzip: Content-Encoding %q, want gzip, then br within 30 s", enc)
		}
	}
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/web/latchkey.js", "text/javascript; charset=utf-8", "export class Latchkey"},
		{"/web/latchkey-components.js", "text/javascript; charset=utf-8", "customElements.define"},
		{"/web/latchkey.d.ts", "application/typescript; charset=utf-8", "export class LatchkeyError"},
		{"/web/latchkey-components.d.ts", "application/typescript; charset=utf-8", "LatchkeyLoginElement"},
		{"/web/latchkey-messages.js", "text/javascript; charset=utf-8", "export const catalogues"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, body := get(tc.path, map[string]string{"Origin": "https://app.example.com"})
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200", tc.path, res.StatusCode)
			}
			want := map[string]string{
				"Content-Type":                tc.contentType,
				"Access-Control-Allow-Origin": "*",
				"Cache-Control":               "public, max-age=300",
				"X-Content-Type-Options":      "nosniff",
			}
			for k, v := range want {
				if got := res.Header.Get(k); got != v {
					t.Errorf("GET %s: %s = %q, want %q", tc.path, k, got, v)
				}
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
			}
			etag := res.Header.Get("ETag")
			if etag == "" {
				t.Fatalf("GET %s: no ETag", tc.path)
			}
			if res, _ := get(tc.path, map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
				t.Errorf("GET %s with If-None-Match = %d, want 304", tc.path, res.StatusCode)
			}
			// Compressed: brotli preferred, then gzip, each with its own ETag; the same bytes
			// once decoded; Vary: Accept-Encoding on every answer.
			plain, plainBody := get(tc.path, map[string]string{"Accept-Encoding": "identity"})
			if plain.Header.Get("Content-Encoding") != "" || plainBody != body {
				t.Errorf("GET %s (identity): Content-Encoding %q, body differs: %v", tc.path, plain.Header.Get("Content-Encoding"), plainBody != body)
			}
			tags := map[string]string{"": plain.Header.Get("ETag")}
			for _, tc2 := range []struct{ accept, want string }{
				{"gzip, deflate, br", "br"}, {"br;q=0, gzip", "gzip"}, {"gzip;q=0", ""}, {"GZIP;q=0.5", "gzip"},
			} {
				res, raw := get(tc.path, map[string]string{"Accept-Encoding": tc2.accept})
				if got := res.Header.Get("Content-Encoding"); got != tc2.want {
					t.Errorf("GET %s, Accept-Encoding %q: Content-Encoding %q, want %q", tc.path, tc2.accept, got, tc2.want)
					continue
				}
				if !slices.Contains(res.Header.Values("Vary"), "Accept-Encoding") {
					t.Errorf("GET %s, Accept-Encoding %q: Vary %q lacks Accept-Encoding", tc.path, tc2.accept, res.Header.Values("Vary"))
				}
				var r io.Reader = strings.NewReader(raw)
				switch tc2.want {
				case "br":
					r = brotli.NewReader(r)
				case "gzip":
					zr, err := gzip.NewReader(r)
					if err != nil {
						t.Fatalf("GET %s: gzip: %v", tc.path, err)
					}
					r = zr
				}
				decoded, err := io.ReadAll(r)
				if err != nil || string(decoded) != body {
					t.Errorf("GET %s, Accept-Encoding %q: decoded body differs from the file (%v)", tc.path, tc2.accept, err)
				}
				if tc2.want != "" && len(raw) >= len(body) {
					t.Errorf("GET %s as %s: %d bytes, not smaller than %d", tc.path, tc2.want, len(raw), len(body))
				}
				tag := res.Header.Get("ETag")
				if prev, ok := tags[tc2.want]; ok && prev != tag {
					t.Errorf("GET %s as %q: ETag %s, earlier %s", tc.path, tc2.want, tag, prev)
				}
				tags[tc2.want] = tag
				if res, _ := get(tc.path, map[string]string{"Accept-Encoding": tc2.accept, "If-None-Match": tag}); res.StatusCode != http.StatusNotModified {
					t.Errorf("GET %s, Accept-Encoding %q, If-None-Match its ETag = %d, want 304", tc.path, tc2.accept, res.StatusCode)
				}
			}
			if tags[""] == tags["gzip"] || tags[""] == tags["br"] || tags["gzip"] == tags["br"] {
				t.Errorf("GET %s: ETags %v, want one per encoding", tc.path, tags)
			}
			// The identity ETag does not validate the gzip representation.
			if res, _ := get(tc.path, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": tags[""]}); res.StatusCode != http.StatusOK {
				t.Errorf("GET %s as gzip with the identity ETag = %d, want 200", tc.path, res.StatusCode)
			}
		})
	}
	for _, path := range []string{"/web/", "/web/nope.js", "/web/latchkey.go", "/web/..%2fassets.go", "/web/sdk/latchkey.js"} {
		res, body := get(path, nil)
		if res.StatusCode != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
			t.Errorf("GET %s = %d %s, want 404 not_found", path, res.StatusCode, body)
		}
	}
}

// shadowQuery returns a JavaScript expression for the first match of sel in host's shadow root.
func shadowQuery(host, sel string) string {
	return fmt.Sprintf(`document.querySelector(%s).shadowRoot.querySelector(%s)`, jsString(host), jsString(sel))
}

// click clicks the element sel of host's shadow root with the mouse, as a user would.
func (e *browserEnv) click(host, sel string) {
	e.t.Helper()
	pt := evalJS[[]float64](e, `(() => {
		const el = `+shadowQuery(host, sel)+`;
		el.scrollIntoView({ block: 'center' });
		const r = el.getBoundingClientRect();
		return [r.x + r.width / 2, r.y + r.height / 2];
	})()`)
	ctx, cancel := e.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(pt[0], pt[1])); err != nil {
		e.t.Fatalf("clicking %s %s: %v", host, sel, err)
	}
}

// text returns the text of sel in host's shadow root ("" when absent).
func (e *browserEnv) text(host, sel string) string {
	e.t.Helper()
	return evalJS[string](e, `(`+shadowQuery(host, sel)+`)?.textContent?.replace(/\s+/g, ' ').trim() ?? ''`)
}

// shots saves screenshots of the page in light and dark color schemes.
func (e *browserEnv) shots(name string) {
	e.t.Helper()
	if os.Getenv("LATCHKEY_E2E_ARTIFACTS") == "" {
		return
	}
	// Wait out the components' color transitions before each picture.
	time.Sleep(300 * time.Millisecond)
	e.screenshot(name + "-light")
	e.colorScheme("dark")
	time.Sleep(300 * time.Millisecond)
	e.screenshot(name + "-dark")
	e.colorScheme("light")
}

type componentEvent struct {
	El     string          `json:"el"`
	Name   string          `json:"name"`
	Detail json.RawMessage `json:"detail"`
	Error  *sdkError       `json:"error"`
}

// event waits for the first event name from element el since the page loaded.
func (e *browserEnv) event(el, name string) componentEvent {
	e.t.Helper()
	cond := fmt.Sprintf(`events.find((ev) => ev.el === %s && ev.name === %s)`, jsString(el), jsString(name))
	e.waitFor(el+" "+name+" event", cond)
	return evalJS[componentEvent](e, cond)
}

// TestBrowserComponents drives <latchkey-login>, <latchkey-append> and <latchkey-passkeys> on a
// page that imports them from the broker and gets connect tokens from its own backend.
func TestBrowserComponents(t *testing.T) {
	e := newBrowserEnv(t)
	openComponents := func() {
		e.open("components")
		e.waitFor("the components", `window.componentsReady`)
	}
	openComponents()
	const jane = "jane@example.com"
	const passkeys, login, appendEl = "latchkey-passkeys", "latchkey-login", "latchkey-append"

	t.Run("Render", func(t *testing.T) {
		e.waitFor("the empty passkey list", shadowQuery(passkeys, ".empty"))
		if got := e.text(passkeys, ".empty"); !strings.Contains(got, "No passkeys yet") {
			t.Errorf("empty list says %q", got)
		}
		if got := evalJS[string](e, shadowQuery(login, "input")+`.autocomplete`); got != "username webauthn" {
			t.Errorf("identifier autocomplete = %q, want %q", got, "username webauthn")
		}
		if got := e.text(login, "button"); got != "Sign in with a passkey" {
			t.Errorf("login button says %q", got)
		}
		if got := e.text(login, "label"); got == "" || !evalJS[bool](e, shadowQuery(login, "label")+`.control === `+shadowQuery(login, "input")) {
			t.Errorf("the identifier input has no label (%q)", got)
		}
		if got := e.text(appendEl, "button"); got != "Create a passkey" {
			t.Errorf("append button says %q", got)
		}
		// Themable: the accent custom property colors the primary button (after its transition).
		evalJS[bool](e, `(document.querySelector('latchkey-append').style.setProperty('--latchkey-accent', 'rgb(15, 118, 110)'), true)`)
		e.waitFor("the themed button", `getComputedStyle(`+shadowQuery(appendEl, "button.primary")+`).backgroundColor === 'rgb(15, 118, 110)'`)
		evalJS[bool](e, `(document.querySelector('latchkey-append').style.removeProperty('--latchkey-accent'), true)`)
		// Keyboard: Tab moves from the identifier field to the button.
		evalJS[bool](e, `(`+shadowQuery(login, "input")+`.focus(), true)`)
		ctx, cancel := e.step()
		err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := evalJS[string](e, `document.querySelector('latchkey-login').shadowRoot.activeElement?.textContent`); got != "Sign in with a passkey" {
			t.Errorf("after Tab the focus is on %q, want the sign-in button", got)
		}
		if got := evalJS[string](e, `getComputedStyle(`+shadowQuery(login, "button")+`).outlineStyle`); got != "solid" {
			t.Errorf("the focused button's outline is %q, want a visible one", got)
		}
		evalJS[bool](e, `(document.activeElement.blur(), true)`)
		e.shots("components-1-start")
	})

	var created sdkPasskey
	t.Run("Append", func(t *testing.T) {
		e.click(appendEl, "button.primary")
		ev := e.event(appendEl, "complete")
		var d struct{ Passkey sdkPasskey }
		if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Passkey.ID == "" {
			t.Fatalf("complete detail = %s (%v), want {passkey}", ev.Detail, err)
		}
		created = d.Passkey
		if got := e.credentialIDs(); !slices.Equal(got, []string{created.ID}) {
			t.Errorf("authenticator holds %v, want [%s]", got, created.ID)
		}
		e.waitFor("the confirmation", shadowQuery(appendEl, ".done"))
		if got := e.text(appendEl, ".card"); !strings.Contains(got, "Passkey created") {
			t.Errorf("append shows %q, want a confirmation", got)
		}
		// Chromium's virtual authenticator keeps its credentials to itself (no BE flag): the
		// confirmation says so, as the list's badge does, and never promises syncing.
		if created.BackupEligible || created.BackedUp {
			t.Fatalf("the virtual authenticator's passkey is backup eligible: %+v", created)
		}
		if got := e.text(appendEl, ".card"); !strings.Contains(got, "It stays on this device only") || strings.Contains(got, "sync across") {
			t.Errorf("append confirmation %q, want it to say the passkey stays on this device", got)
		}
	})

	t.Run("List", func(t *testing.T) {
		// The list reloads by itself after the append on the same page.
		e.waitFor("the passkey in the list", shadowQuery(passkeys, "li.item"))
		item := e.text(passkeys, "li.item")
		for _, want := range []string{"Passkey", "Created", "Never used", "This device only", "Delete"} {
			if !strings.Contains(item, want) {
				t.Errorf("list item %q lacks %q", item, want)
			}
		}
		if got := evalJS[string](e, shadowQuery(passkeys, "li.item time")+`.dateTime`); got != created.CreatedAt {
			t.Errorf("created <time> = %q, want %q", got, created.CreatedAt)
		}
		want := evalJS[string](e, `new Intl.DateTimeFormat('en', { dateStyle: 'medium' }).format(new Date(`+jsString(created.CreatedAt)+`))`)
		if !strings.Contains(item, "Created "+want) {
			t.Errorf("list item %q lacks %q", item, "Created "+want)
		}
		if got := evalJS[string](e, shadowQuery(passkeys, "li.item button.delete")+`.getAttribute('aria-label')`); !strings.HasPrefix(got, "Delete passkey Passkey, Passkey provider not known, created "+want) {
			t.Errorf("delete button aria-label = %q, want the name, the provider and the creation time", got)
		}
		if !strings.Contains(item, "Passkey provider not known") {
			t.Errorf("list item %q does not say that the provider is not known", item)
		}
		e.shots("components-2-created")
	})

	t.Run("TwoPasskeys", func(t *testing.T) {
		// A second passkey of Jane's, from another device: a synced one of Google Password
		// Manager. The two list items differ by name, provider, sync badge and accessible name.
		defer e.addSecondPasskey(t, jane)()
		items := evalJS[[]string](e, `[...document.querySelector('latchkey-passkeys').shadowRoot.querySelectorAll('li.item')].map((li) => li.textContent.replace(/\s+/g, ' ').trim())`)
		labels := evalJS[[]string](e, `[...document.querySelector('latchkey-passkeys').shadowRoot.querySelectorAll('li.item button.delete')].map((b) => b.getAttribute('aria-label'))`)
		if len(items) != 2 || items[0] == items[1] || labels[0] == labels[1] {
			t.Fatalf("the two passkeys read %q and %q (delete buttons %q): indistinguishable", items, labels, labels)
		}
		var synced string
		for _, it := range items {
			if strings.Contains(it, "Google Password Manager") {
				synced = it
			}
		}
		for _, want := range []string{"Saved in Google Password Manager", "Synced", "Created "} {
			if !strings.Contains(synced, want) {
				t.Errorf("the synced passkey reads %q, want %q", synced, want)
			}
		}
		if strings.Contains(synced, "This device only") {
			t.Errorf("the synced passkey reads %q", synced)
		}
		// No frontend operation renames a passkey, so the list offers no rename.
		if n := evalJS[int](e, `document.querySelector('latchkey-passkeys').shadowRoot.querySelectorAll('li.item button:not(.delete)').length`); n != 0 {
			t.Errorf("the list offers %d buttons besides Delete", n)
		}
		e.shots("components-2b-two-passkeys")
	})

	t.Run("Theme", func(t *testing.T) {
		bg := func() string {
			return evalJS[string](e, `getComputedStyle(`+shadowQuery(appendEl, ".card")+`).backgroundColor`)
		}
		set := func(theme string) {
			evalJS[bool](e, `(document.querySelector('latchkey-append').`+map[bool]string{true: `removeAttribute('theme')`, false: `setAttribute('theme', ` + jsString(theme) + `)`}[theme == ""]+`, true)`)
		}
		const light, dark = "rgb(255, 255, 255)", "rgb(22, 24, 29)"
		defer set("")
		defer e.colorScheme("light")
		for _, tc := range []struct{ os, theme, want string }{
			{"light", "", light}, {"dark", "", dark}, {"light", "auto", light}, {"dark", "auto", dark},
			{"light", "dark", dark}, {"dark", "light", light}, {"dark", "dark", dark}, {"light", "light", light},
		} {
			e.colorScheme(tc.os)
			set(tc.theme)
			e.waitFor(fmt.Sprintf("the %s card (OS %s, theme %q)", tc.want, tc.os, tc.theme), `getComputedStyle(`+shadowQuery(appendEl, ".card")+`).backgroundColor === `+jsString(tc.want))
			if got := bg(); got != tc.want {
				t.Errorf("OS %s, theme %q: card background %s, want %s", tc.os, tc.theme, got, tc.want)
			}
		}
	})

	t.Run("AutofillLogin", func(t *testing.T) {
		// A new page: <latchkey-login> offers the passkey in autofill at once; Chromium's
		// virtual environment picks it as a user would.
		openComponents()
		ev := e.event(login, "complete")
		var d sdkLogin
		if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Username != jane {
			t.Fatalf("complete detail = %s (%v), want jane's login", ev.Detail, err)
		}
		e.verify(d.SignedPasskeyData, jane)
		if c := spdClaims(t, d.SignedPasskeyData); c["isCUI"] != true {
			t.Errorf("isCUI = %v, want true for an autofill login", c["isCUI"])
		}
		if got := e.text(login, ".msg"); got != "Signed in as jane@example.com." {
			t.Errorf("login says %q", got)
		}
		evalJS[bool](e, `document.querySelector('latchkey-passkeys').reload().then(() => true)`)
		e.waitFor("the used passkey in the list", shadowQuery(passkeys, "li.item"))
		if item := e.text(passkeys, "li.item"); !strings.Contains(item, "Last used today") {
			t.Errorf("list item %q, want a last use", item)
		}
		e.shots("components-3-signed-in")
	})

	t.Run("NoOfferAfterPasskeyLogin", func(t *testing.T) {
		// Jane just signed in with this device's passkey: creating one is not offered.
		e.waitFor("the append element to stand down", shadowQuery(appendEl, "button.primary")+`.hidden`)
		if got := e.text(appendEl, ".msg"); !strings.Contains(got, "You signed in with a passkey on this device") {
			t.Errorf("append says %q", got)
		}
		if got := evalJS[string](e, shadowQuery(appendEl, ".msg")+`.dataset.tone`); got != "info" {
			t.Errorf("append message tone %q, want info", got)
		}
		e.shots("components-4a-no-offer")
	})

	t.Run("AlreadyRegistered", func(t *testing.T) {
		// A fresh element, as after a password sign-in (no passkey sign-in in this tab): it
		// offers a passkey, and the authenticator's refusal is information, not an error.
		evalJS[bool](e, `(() => {
			sessionStorage.clear();
			const old = document.querySelector('latchkey-append');
			const el = document.createElement('latchkey-append');
			el.setAttribute('project-id', projectID);
			el.setAttribute('broker-url', brokerURL);
			el.connectToken = (type) => token(type, 'jane@example.com');
			for (const name of ['complete', 'fallback', 'error']) {
				el.addEventListener(name, (ev) => events.push({ el: el.localName, name, detail: ev.detail,
					error: ev.detail && ev.detail.error ? { kind: ev.detail.error.kind, type: ev.detail.error.type } : null }));
			}
			old.replaceWith(el);
			return true;
		})()`)
		if evalJS[bool](e, shadowQuery(appendEl, "button.primary")+`.hidden`) {
			t.Fatal("the fresh element offers no passkey")
		}
		e.click(appendEl, "button.primary")
		ev := e.event(appendEl, "error")
		if ev.Error == nil || ev.Error.Kind != "already_registered" {
			t.Fatalf("error event %+v, want kind already_registered", ev)
		}
		if got := e.text(appendEl, ".msg"); !strings.Contains(got, "already holds a passkey for your account") {
			t.Errorf("append says %q", got)
		}
		if got := evalJS[string](e, shadowQuery(appendEl, ".msg")+`.dataset.tone`); got != "info" {
			t.Errorf("append message tone %q, want info (not a red error)", got)
		}
		if !evalJS[bool](e, shadowQuery(appendEl, "button.primary")+`.hidden`) {
			t.Error("after already_registered the element still offers to create a passkey")
		}
		e.shots("components-4-already-registered")
	})

	t.Run("Cancelled", func(t *testing.T) {
		e.setUserVerified(false)
		defer e.setUserVerified(true)
		e.click(login, "button")
		ev := e.event(login, "error")
		if ev.Error == nil || ev.Error.Kind != "cancelled" {
			t.Fatalf("error event %+v, want kind cancelled", ev)
		}
		if got, want := e.text(login, ".msg"), "The passkey prompt was closed. If this device has no passkey for this account, use a passkey on another device (such as your phone), or use your password."; got != want {
			t.Errorf("login says %q, want %q", got, want)
		}
		e.waitFor("the button to be enabled again", `!`+shadowQuery(login, "button")+`.disabled`)
		e.shots("components-5-cancelled")
	})

	t.Run("Fallback", func(t *testing.T) {
		e.click(login, "input")
		ctx, cancel := e.step()
		err := chromedp.Do(ctx, chromedp.KeyEvent("nobody@example.com"))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		e.click(login, "button")
		ev := e.event(login, "fallback")
		var d struct{ Reason, Identifier string }
		if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Reason != "no_passkey" || d.Identifier != "nobody@example.com" {
			t.Errorf("fallback detail = %s (%v), want no_passkey for nobody@example.com", ev.Detail, err)
		}
		e.shots("components-6-fallback")
	})

	t.Run("NoPasskeyOnThisDevice", func(t *testing.T) {
		// Sam's only passkey is on another device: the browser answers NotAllowedError, as for
		// a closed prompt, and the element says both and what to do.
		other := softauthn.NewAuthenticator("localhost", e.pageURL)
		ctx := context.Background()
		start, err := e.f.Broker.StartAppend(ctx, e.project.ID, e.mint("passkey-append", "sam@example.com"), false)
		if err != nil {
			t.Fatal(err)
		}
		opts, _ := json.Marshal(start.PublicKey)
		cred, err := other.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.f.Broker.FinishAppend(ctx, e.project.ID, start.CeremonyID, cred); err != nil {
			t.Fatal(err)
		}
		evalJS[bool](e, `(events.length = 0, `+shadowQuery(login, "input")+`.value = 'sam@example.com', true)`)
		e.click(login, "button")
		ev := e.event(login, "error")
		if ev.Error == nil || ev.Error.Kind != "cancelled" {
			t.Fatalf("error event %+v, want kind cancelled (NotAllowedError)", ev)
		}
		got := e.text(login, ".msg")
		for _, want := range []string{"If this device has no passkey for this account", "another device", "your password"} {
			if !strings.Contains(got, want) {
				t.Errorf("login says %q, want %q in it", got, want)
			}
		}
		e.waitFor("the button to be enabled again", `!`+shadowQuery(login, "button")+`.disabled`)
		e.shots("components-6b-no-passkey-here")
	})

	t.Run("IdentifierLogin", func(t *testing.T) {
		evalJS[bool](e, `(events.length = 0, `+shadowQuery(login, "input")+`.value = `+jsString(jane)+`, true)`)
		e.click(login, "button")
		ev := e.event(login, "complete")
		var d sdkLogin
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			t.Fatal(err)
		}
		e.verify(d.SignedPasskeyData, jane)
		if c := spdClaims(t, d.SignedPasskeyData); c["isCUI"] == true {
			t.Errorf("isCUI = true for the button's login")
		}
		if !evalJS[bool](e, `lk.recentPasskeyLogin()?.username === `+jsString(jane)+` && lk.recentPasskeyLogin().credentialID === `+jsString(created.ID)) {
			t.Errorf("recentPasskeyLogin() = %s, want jane's sign-in with %s", evalJS[string](e, `JSON.stringify(lk.recentPasskeyLogin())`), created.ID)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		e.click(passkeys, "li.item button.delete")
		e.waitFor("the confirmation", shadowQuery(passkeys, ".confirm"))
		if got := e.text(passkeys, ".confirm"); !strings.Contains(got, "Delete this passkey?") {
			t.Errorf("confirmation says %q", got)
		}
		if got := evalJS[string](e, shadowQuery(passkeys, ".confirm")+`.getRootNode().activeElement?.textContent`); got != "Cancel" {
			t.Errorf("focus is on %q, want the Cancel button", got)
		}
		e.shots("components-7-confirm-delete")
		e.click(passkeys, `.confirm [data-action="yes"]`)
		ev := e.event(passkeys, "complete")
		var d struct{ Passkeys []sdkPasskey }
		if err := json.Unmarshal(ev.Detail, &d); err != nil || len(d.Passkeys) != 0 {
			t.Errorf("complete detail = %s (%v), want no passkeys left", ev.Detail, err)
		}
		e.waitFor("the empty list", shadowQuery(passkeys, ".empty"))
		if got := e.text(passkeys, ".msg"); got != "Passkey deleted." {
			t.Errorf("list says %q", got)
		}
		// The passkey this tab signed in with is gone: creating one is offered again.
		if got := evalJS[string](e, `JSON.stringify(lk.recentPasskeyLogin())`); got != "null" {
			t.Errorf("recentPasskeyLogin() after deleting its passkey = %s, want null", got)
		}
		l, _, err := e.f.Broker.ListPasskeys(context.Background(), e.project.ID, e.mint("passkey-list", jane))
		if err != nil || len(l) != 0 {
			t.Errorf("broker lists %v (%v), want none", l, err)
		}
		e.shots("components-8-deleted")
	})
}

// TestBrowserLoginSlottedInput drives <latchkey-login plain> with the page's own identifier
// input in its slot, inside the page's own card, as an app's sign-in page would use it.
func TestBrowserLoginSlottedInput(t *testing.T) {
	e := newBrowserEnv(t)
	const jane = "jane@example.com"
	e.open("sdk")
	mustResolve[sdkPasskey](e, `lk.append(`+jsString(e.mint("passkey-append", jane))+`)`)
	e.setPresence(false) // the autofill request waits: the user types instead
	e.open("slotted")
	e.waitFor("the components", `window.componentsReady`)
	if !evalJS[bool](e, `document.querySelector('latchkey-login').input === document.getElementById('email')`) {
		t.Fatal("the element does not use the slotted input")
	}
	if got := evalJS[string](e, `getComputedStyle(`+shadowQuery("latchkey-login", "label")+`).display`); got != "none" {
		t.Errorf("the built-in label shows (display %q) although the page labels its input", got)
	}
	if got := evalJS[bool](e, `(() => {
		const r = document.getElementById('email').getBoundingClientRect();
		const b = `+shadowQuery("latchkey-login", "button")+`.getBoundingClientRect();
		return Math.abs(r.left - b.left) < 1 && Math.abs(r.right - b.right) < 1;
	})()`); !got {
		t.Error("the slotted input and the button are not aligned")
	}
	if got := evalJS[string](e, `getComputedStyle(`+shadowQuery("latchkey-login", ".card")+`).boxShadow`); got != "none" {
		t.Errorf("plain element's card has box-shadow %q, want none", got)
	}
	e.awaitAutofill(0)
	e.shots("login-slotted")
	e.setPresence(true)
	ctx, cancel := e.step()
	err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("email")), chromedp.SendKeys(chromedp.ID("email"), jane+kb.Enter))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	ev := e.event("latchkey-login", "complete")
	var d sdkLogin
	if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Username != jane {
		t.Fatalf("complete detail = %s (%v), want jane's login", ev.Detail, err)
	}
	if c := spdClaims(t, d.SignedPasskeyData); c["isCUI"] == true {
		t.Error("isCUI = true, want the identifier-first login of Enter")
	}
	e.verify(d.SignedPasskeyData, jane)
	e.shots("login-slotted-signed-in")
}

// TestBrowserSDKReport: Latchkey.report sends the fixed events from a real page (CORS
// preflight and keepalive included) and the broker counts them; a name or reason the
// broker would refuse returns false and sends nothing; report never throws.
func TestBrowserSDKReport(t *testing.T) {
	e := newBrowserEnv(t)
	e.open("sdk")
	got := evalJS[[]bool](e, `[
		lk.report('append.offer_shown'),
		lk.report('append.offer_shown', {}),
		lk.report('append.offer_dismissed'),
		lk.report('append.cancelled'),
		lk.report('login.cancelled'),
		lk.report('login.fallback', { reason: 'no_passkey' }),
		lk.report('login.fallback', { reason: 'unknown_credential' }),
		lk.report('append.offer_clicked'),
		lk.report('login.fallback'),
		lk.report('login.fallback', { reason: 'bored' }),
		lk.report('login.cancelled', { reason: 'cancelled' }),
		lk.report(undefined),
	]`)
	want := []bool{true, true, true, true, true, true, true, false, false, false, false, false}
	if !slices.Equal(got, want) {
		t.Errorf("report results = %v, want %v", got, want)
	}
	e.waitFor("the reports' answers", `performance.getEntriesByType('resource').filter((r) => r.name.endsWith('/connect/analytics') && r.responseEnd > 0).length >= 7`)
	var a broker.Analytics
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		a, err = e.f.Broker.Analytics(t.Context(), e.project.ID, broker.AnalyticsQuery{Bucket: broker.BucketHour})
		if err != nil {
			t.Fatal(err)
		}
		if a.Totals.AppendOffersShown >= 2 && a.Totals.Fallbacks.UnknownCredential >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	tt := a.Totals
	if tt.AppendOffersShown != 2 || tt.AppendOffersDismissed != 1 || tt.AppendCancelled != 1 || tt.LoginCancelled != 1 ||
		tt.Fallbacks != (broker.Fallbacks{NoPasskey: 1, UnknownCredential: 1}) {
		t.Errorf("counted %+v, want 2 offers shown, 1 dismissed, 1 append and 1 login cancelled, fallbacks no_passkey 1 and unknown_credential 1", tt)
	}
	if n := e.requests("analytics"); n != 7 {
		t.Errorf("the page sent %d reports, want 7 (none for the refused names)", n)
	}
}

// addOtherDevicePasskey registers, through the broker, a passkey of identifier's from another
// device (a software authenticator: a synced one of Google Password Manager).
func (e *browserEnv) addOtherDevicePasskey(t *testing.T, identifier string) broker.Passkey {
	t.Helper()
	other := softauthn.NewAuthenticator("localhost", e.pageURL)
	other.BackupEligible, other.BackedUp = true, true
	other.AAGUID = []byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4}
	ctx := context.Background()
	start, err := e.f.Broker.StartAppend(ctx, e.project.ID, e.mint("passkey-append", identifier), false)
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := json.Marshal(start.PublicKey)
	cred, err := other.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	passkey, err := e.f.Broker.FinishAppend(ctx, e.project.ID, start.CeremonyID, cred)
	if err != nil {
		t.Fatal(err)
	}
	return passkey
}

// addSecondPasskey gives identifier a second passkey, from another device (addOtherDevicePasskey),
// shows it in the page's <latchkey-passkeys> and returns what removes it again (and waits for
// the list to show one passkey).
func (e *browserEnv) addSecondPasskey(t *testing.T, identifier string) (remove func()) {
	t.Helper()
	ctx := context.Background()
	second := e.addOtherDevicePasskey(t, identifier)
	evalJS[bool](e, `document.querySelector('latchkey-passkeys').reload().then(() => true)`)
	e.waitFor("two passkeys", `document.querySelector('latchkey-passkeys').shadowRoot.querySelectorAll('li.item').length === 2`)
	return func() {
		if err := e.f.Broker.RemovePasskey(ctx, e.project.ID, second.ID); err != nil {
			t.Errorf("RemovePasskey: %v", err)
		}
		evalJS[bool](e, `document.querySelector('latchkey-passkeys').reload().then(() => true)`)
		e.waitFor("one passkey again", `document.querySelector('latchkey-passkeys').shadowRoot.querySelectorAll('li.item').length === 1`)
	}
}

// holdListJS, in a page script, makes window.fetch hold the SDK's answers of manage/list:
// listAnswered resolves when the broker has answered one, and the SDK gets it when release is
// called. realFetch is the page's own fetch, to put back.
const holdListJS = `
		const realFetch = window.fetch;
		let release, answered;
		const held = new Promise((r) => { release = r; });
		const listAnswered = new Promise((r) => { answered = r; });
		window.fetch = async (...args) => {
			const res = await realFetch(...args);
			if (String(args[0]).endsWith('/manage/list')) { answered(); await held; }
			return res;
		};`

// TestBrowserListDuringCreateKeepsNewPasskey: a list answered while navigator.credentials.create
// is still running, after the provider made the credential but before create() returned to the
// SDK, must not signal a list without it either: Chromium would delete the passkey being made.
func TestBrowserListDuringCreateKeepsNewPasskey(t *testing.T) {
	e := newBrowserEnv(t)
	e.open("sdk")
	const user = "racing@example.com"
	e.addOtherDevicePasskey(t, user)
	listed := evalJS[int](e, `(async () => {`+holdListJS+`
		const realCreate = navigator.credentials.create.bind(navigator.credentials);
		let listing;
		navigator.credentials.create = async (options) => {
			const credential = await realCreate(options); // the authenticator holds it now
			release();
			await listing; // the held answer is handled before create() returns
			return credential;
		};
		try {
			listing = lk.list(`+jsString(e.mint("passkey-list", user))+`);
			await listAnswered;
			await lk.append(`+jsString(e.mint("passkey-append", user))+`);
			return (await listing).passkeys.length;
		} finally {
			window.fetch = realFetch;
			navigator.credentials.create = realCreate;
		}
	})()`)
	if listed != 1 {
		t.Fatalf("the held list shows %d passkeys, want the 1 it was answered with", listed)
	}
	evalJS[bool](e, `new Promise((r) => setTimeout(() => r(true), 500))`)
	if n := len(e.credentials()); n != 1 {
		t.Fatalf("the authenticator holds %d credentials after a list answered during create, want the 1 just created", n)
	}
}

// TestBrowserStaleListKeepsNewPasskey checks that a passkey list answered before a passkey was
// created on the page does not tell the passkey provider, through
// signalAllAcceptedCredentials, that the user's accepted passkeys exclude it: Chromium would
// delete the brand-new credential (in this test, from the virtual authenticator). It happens
// when <latchkey-passkeys> is loading while <latchkey-append> creates a passkey.
func TestBrowserStaleListKeepsNewPasskey(t *testing.T) {
	e := newBrowserEnv(t)
	e.open("sdk")
	const user = "stale@example.com"
	e.addOtherDevicePasskey(t, user) // the user exists and has one passkey elsewhere
	listed := evalJS[int](e, `(async () => {`+holdListJS+`
		try {
			const listing = lk.list(`+jsString(e.mint("passkey-list", user))+`);
			await listAnswered; // the broker answered: one passkey, the other device's
			await lk.append(`+jsString(e.mint("passkey-append", user))+`);
			release();
			return (await listing).passkeys.length;
		} finally {
			window.fetch = realFetch;
		}
	})()`)
	if listed != 1 {
		t.Fatalf("the held list shows %d passkeys, want the 1 it was answered with", listed)
	}
	// Signals are asynchronous in the browser: give one time to act before looking.
	evalJS[bool](e, `new Promise((r) => setTimeout(() => r(true), 500))`)
	if n := len(e.credentials()); n != 1 {
		t.Fatalf("the authenticator holds %d credentials after the stale list, want the 1 just created", n)
	}
	// A list answered after the creation signals both, and the new one stays.
	fresh := evalJS[int](e, `lk.list(`+jsString(e.mint("passkey-list", user))+`).then((l) => l.passkeys.length)`)
	evalJS[bool](e, `new Promise((r) => setTimeout(() => r(true), 500))`)
	if n := len(e.credentials()); fresh != 2 || n != 1 {
		t.Errorf("a fresh list shows %d passkeys and leaves %d credentials, want 2 and 1", fresh, n)
	}
}
