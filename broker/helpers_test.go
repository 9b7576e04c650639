package broker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/connecttoken"
	"github.com/latchkey/latchkey/signeddata"
)

// clock is the broker's clock in tests: it stands still until a test moves it.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	pause *pause // set: the next Now blocks
}

type pause struct{ reached, resume chan struct{} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	now, p := c.now, c.pause
	c.pause = nil
	c.mu.Unlock()
	if p != nil {
		close(p.reached)
		<-p.resume
	}
	return now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// PauseNextRead makes the next call of Now block until resume is called; reached is closed
// once it blocks. Tests use it to stop a request at a known point.
func (c *clock) PauseNextRead() (reached <-chan struct{}, resume func()) {
	p := &pause{reached: make(chan struct{}), resume: make(chan struct{})}
	c.mu.Lock()
	c.pause = p
	c.mu.Unlock()
	return p.reached, func() { close(p.resume) }
}

// env is a fixture whose broker runs on a test clock, acting on one of its projects.
type env struct {
	*brokertest.Fixture
	ctx   context.Context
	clock *clock
	pid   string // the project the helpers act on
}

// newEnv returns a fresh fixture of dialect with its broker on a stopped clock.
func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	f := brokertest.New(t, dialect)
	// Whole milliseconds, as the store keeps them, and not before the first signing key.
	c := &clock{now: time.Now().UTC().Truncate(time.Millisecond)}
	f.Broker.Now = c.Now
	return &env{Fixture: f, ctx: t.Context(), clock: c, pid: f.Project.ID}
}

// forDialects runs test once per store dialect, each on a fresh env.
func forDialects(t *testing.T, test func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range brokertest.Dialects(t) {
		t.Run(d, func(t *testing.T) { test(t, newEnv(t, d)) })
	}
}

// inProject returns a copy of e whose helpers act on project p of the same broker.
func (e *env) inProject(p broker.Project) *env {
	c := *e
	c.pid = p.ID
	return &c
}

// addProject creates a second project with the fixture's RP ID and origin.
func (e *env) addProject(t *testing.T) *env {
	t.Helper()
	p, _ := e.AddProject(t, brokertest.RPID, brokertest.Origin)
	return e.inProject(p)
}

func newAuthenticator() *softauthn.Authenticator {
	return softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%T): %v", v, err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func lifetime(seconds int64) *int64 { return &seconds }

// mint mints a connect token of typ for identifier (display name "Name of identifier").
func (e *env) mint(t *testing.T, typ connecttoken.Type, identifier string) broker.ConnectToken {
	t.Helper()
	return e.mintReq(t, broker.MintRequest{Type: string(typ), Data: broker.ConnectTokenData{Identifier: identifier, DisplayName: "Name of " + identifier}})
}

func (e *env) mintReq(t *testing.T, req broker.MintRequest) broker.ConnectToken {
	t.Helper()
	tok, err := e.Broker.MintConnectToken(e.ctx, e.pid, req)
	if err != nil {
		t.Fatalf("MintConnectToken(%+v) = %v", req, err)
	}
	return tok
}

// startAppend mints an append token for identifier and starts an append ceremony with it.
func (e *env) startAppend(t *testing.T, identifier string) broker.AppendStart {
	t.Helper()
	tok := e.mint(t, connecttoken.TypeAppend, identifier)
	start, err := e.Broker.StartAppend(e.ctx, e.pid, tok.Secret, false)
	if err != nil {
		t.Fatalf("StartAppend() = %v", err)
	}
	return start
}

// create has a answer the options of start.
func create(t *testing.T, a *softauthn.Authenticator, start broker.AppendStart) []byte {
	t.Helper()
	cred, err := a.Create(mustJSON(t, start.PublicKey))
	if err != nil {
		t.Fatalf("Authenticator.Create() = %v", err)
	}
	return cred
}

// register runs a whole append ceremony for identifier with a and returns the new passkey.
func (e *env) register(t *testing.T, a *softauthn.Authenticator, identifier string) broker.Passkey {
	t.Helper()
	start := e.startAppend(t, identifier)
	pk, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, create(t, a, start))
	if err != nil {
		t.Fatalf("FinishAppend() = %v", err)
	}
	return pk
}

func (e *env) startLogin(t *testing.T, req broker.LoginRequest) broker.LoginStart {
	t.Helper()
	start, err := e.Broker.StartLogin(e.ctx, e.pid, req)
	if err != nil {
		t.Fatalf("StartLogin(%+v) = %v", req, err)
	}
	if start.Fallback != nil || start.PublicKey == nil {
		t.Fatalf("StartLogin(%+v) = fallback %+v, want options", req, start.Fallback)
	}
	return start
}

// get has a answer the options of start.
func get(t *testing.T, a *softauthn.Authenticator, start broker.LoginStart) []byte {
	t.Helper()
	cred, err := a.Get(mustJSON(t, start.PublicKey))
	if err != nil {
		t.Fatalf("Authenticator.Get() = %v", err)
	}
	return cred
}

// getWith has a answer the options of start with credential credID.
func getWith(t *testing.T, a *softauthn.Authenticator, start broker.LoginStart, credID string) []byte {
	t.Helper()
	cred, err := a.GetWith(mustJSON(t, start.PublicKey), credID)
	if err != nil {
		t.Fatalf("Authenticator.GetWith() = %v", err)
	}
	return cred
}

// login runs a whole login ceremony with a.
func (e *env) login(t *testing.T, a *softauthn.Authenticator, req broker.LoginRequest) broker.LoginResult {
	t.Helper()
	start := e.startLogin(t, req)
	res, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start))
	if err != nil {
		t.Fatalf("FinishLogin() = %v", err)
	}
	return res
}

// publishedKeys returns the keys of the project's JWKS.
func (e *env) publishedKeys(t *testing.T) []signeddata.PublicKey {
	t.Helper()
	jwks, err := e.Broker.JWKS(e.ctx, e.pid)
	if err != nil {
		t.Fatalf("JWKS() = %v", err)
	}
	keys, err := signeddata.ParseJWKS(jwks)
	if err != nil {
		t.Fatalf("ParseJWKS(%s) = %v", jwks, err)
	}
	return keys
}

func keyIDs(keys []signeddata.PublicKey) []string {
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

// claims verifies signedPasskeyData offline against the project's JWKS, as an app backend
// would, and returns its claims.
func (e *env) claims(t *testing.T, token string) signeddata.Claims {
	t.Helper()
	c, err := signeddata.Verify(token, e.publishedKeys(t), e.pid, e.clock.Now(), signeddata.DefaultLeeway)
	if err != nil {
		t.Fatalf("signeddata.Verify(signedPasskeyData) = %v", err)
	}
	return c
}

// kidOf returns the kid in the header of a compact JWS.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	var header struct {
		Kid string `json:"kid"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err == nil {
		err = json.Unmarshal(raw, &header)
	}
	if err != nil {
		t.Fatalf("decoding the JWS header of %q: %v", token, err)
	}
	return header.Kid
}

// attestWith answers creation options with an existing credential, as a misbehaving
// authenticator that ignores excludeCredentials would.
func attestWith(t *testing.T, rp softauthn.RelyingParty, cred softauthn.Credential, start broker.AppendStart) []byte {
	t.Helper()
	att, err := softauthn.NewAuthenticator(rp.ID, rp.Origin).Attest(mustJSON(t, start.PublicKey), cred)
	if err != nil {
		t.Fatalf("Authenticator.Attest() = %v", err)
	}
	return att
}

// unchanged fails the test if the store differs from the snapshot before.
func (e *env) unchanged(t *testing.T, before string) {
	t.Helper()
	if diff := cmp.Diff(before, e.Snapshot(t)); diff != "" {
		t.Errorf("the failed call changed the store (-before +after):\n%s", diff)
	}
}

var errNames = map[error]string{
	broker.ErrNotFound:            "ErrNotFound",
	broker.ErrAlreadyExists:       "ErrAlreadyExists",
	broker.ErrUnauthenticated:     "ErrUnauthenticated",
	broker.ErrInvalidConnectToken: "ErrInvalidConnectToken",
	broker.ErrCeremonyNotFound:    "ErrCeremonyNotFound",
	broker.ErrVerificationFailed:  "ErrVerificationFailed",
	broker.ErrUnavailable:         "ErrUnavailable",
	broker.ErrWrongSecretKey:      "ErrWrongSecretKey",
}

// wantErr fails the test unless errors.Is(err, want); call names the call for the message.
func wantErr(t *testing.T, call string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s = %v, want %s", call, err, errNames[want])
	}
}

// wantValidation fails the test unless err is a *broker.ValidationError for field.
func wantValidation(t *testing.T, call string, err error, field string) {
	t.Helper()
	var verr *broker.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("%s = %v, want *ValidationError for %s", call, err, field)
	}
	if verr.Field != field {
		t.Fatalf("%s = ValidationError for %q (%v), want for %q", call, verr.Field, verr, field)
	}
}

// race runs fn n times at once, released together, and returns each call's error.
func race(n int, fn func() error) []error {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts errors by kind: "ok" for nil, a name from errNames, or the error's text.
func tally(errs []error) map[string]int {
	out := map[string]int{}
	for _, err := range errs {
		out[kindOf(err)]++
	}
	return out
}

func kindOf(err error) string {
	if err == nil {
		return "ok"
	}
	for kind, name := range errNames {
		if errors.Is(err, kind) {
			return name
		}
	}
	return fmt.Sprintf("other: %v", err)
}

// openRaw opens the fixture's database directly, behind the broker's back, to look at what
// the store wrote or to change it as an operator might; it is closed when the test ends.
func openRaw(t *testing.T, e *env) *sqlx.DB {
	t.Helper()
	driver, dsn := "postgres", e.URL
	if path, ok := strings.CutPrefix(e.URL, "sqlite:"); ok {
		driver, dsn = "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)"
	}
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		t.Fatalf("opening %s: %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
