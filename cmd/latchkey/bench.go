package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	rpprof "runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/signeddata"
)

// The steps a bench iteration times, in the order reports list them.
const (
	stepMint          = "mint"
	stepAppendStart   = "append/start"
	stepAppendFinish  = "append/finish"
	stepLoginStart    = "login/start"
	stepLoginFinish   = "login/finish"
	stepVerifyOnline  = "verifySignedData"
	stepVerifyOffline = "verify-offline"
)

var stepOrder = []string{stepMint, stepAppendStart, stepAppendFinish, stepLoginStart, stepLoginFinish, stepVerifyOnline, stepVerifyOffline}

// The scenarios, one iteration each.
const (
	scenarioAppend        = "append"             // mint token, append/start, append/finish
	scenarioLogin         = "login"              // login/start by identifier, login/finish, verifySignedData
	scenarioUsernameless  = "login-usernameless" // login/start without identifier, login/finish, verifySignedData
	scenarioVerifyOffline = "verify-offline"     // signeddata.Verifier against the JWKS
)

var scenarioOrder = []string{scenarioLogin, scenarioUsernameless, scenarioAppend, scenarioVerifyOffline}

// weighted is one scenario of a mix and its share.
type weighted struct {
	scenario string
	weight   int
}

// mixes are the values of --scenario.
var mixes = map[string][]weighted{
	scenarioAppend:        {{scenarioAppend, 1}},
	scenarioLogin:         {{scenarioLogin, 1}},
	scenarioUsernameless:  {{scenarioUsernameless, 1}},
	scenarioVerifyOffline: {{scenarioVerifyOffline, 1}},
	// A realistic blend: most sign-ins name the user, some use autofill or the account
	// picker, a few add a passkey, and some backends verify offline.
	"mixed": {{scenarioLogin, 70}, {scenarioUsernameless, 20}, {scenarioAppend, 5}, {scenarioVerifyOffline, 5}},
}

// pick draws a scenario of mix with probability proportional to its weight.
func pick(mix []weighted, r *mrand.Rand) string {
	total := 0
	for _, w := range mix {
		total += w.weight
	}
	n := r.IntN(total)
	for _, w := range mix {
		if n < w.weight {
			return w.scenario
		}
		n -= w.weight
	}
	return mix[len(mix)-1].scenario
}

// needsUsers reports whether a mix logs in, and so needs seeded users.
func needsUsers(mix []weighted) bool {
	for _, w := range mix {
		if w.scenario != scenarioAppend {
			return true
		}
	}
	return false
}

// benchConfig is what `latchkey bench` was asked to do.
type benchConfig struct {
	url, project, secret, origin string
	duration                     time.Duration
	count                        int64
	workers, users               int
	scenario                     string
	mix                          []weighted
	seedFile                     string
	json                         bool
	pid                          int
	progress, sample             time.Duration
	cpuProfile                   string
}

const benchSummary = `Drives a running broker over HTTP with --workers concurrent virtual users, each with a
software authenticator (P-256), and reports throughput, latency percentiles per step and
errors by type. It exits non-zero if any iteration failed.

Scenarios: append (mint a connect token, append/start, append/finish), login (login/start
by identifier, login/finish, verifySignedData), login-usernameless, verify-offline
(signeddata.Verifier against the JWKS), mixed (70% login, 20% usernameless, 5% append,
5% verify-offline).

Users: --users N seeds N users over HTTP first (parallel appends). For large N, seed the
database directly with 'latchkey bench seed' and pass its --seed-file here.

With --pid, it also samples that process's CPU time and resident memory (Linux /proc).`

func cmdBench(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && args[0] == "seed" {
		return cmdBenchSeed(ctx, e, args[1:])
	}
	fs := newFlags("latchkey bench", benchSummary, e)
	var cfg benchConfig
	fs.StringVar(&cfg.url, "url", envOr(e.getenv, "LATCHKEY_BENCH_URL", "http://127.0.0.1:8080"), "the broker's base URL (env LATCHKEY_BENCH_URL)")
	fs.StringVar(&cfg.project, "project", e.getenv("LATCHKEY_BENCH_PROJECT"), "project ID (default: the seed file's; env LATCHKEY_BENCH_PROJECT)")
	fs.StringVar(&cfg.secret, "secret", e.getenv("LATCHKEY_BENCH_SECRET"), "the project's API secret (env LATCHKEY_BENCH_SECRET)")
	fs.StringVar(&cfg.origin, "origin", envOr(e.getenv, "LATCHKEY_BENCH_ORIGIN", "http://localhost:8080"), "a web origin of the project, sent as Origin and in clientDataJSON (env LATCHKEY_BENCH_ORIGIN)")
	fs.DurationVar(&cfg.duration, "duration", 0, "how long to run (default 30s unless --count is given)")
	fs.Int64Var(&cfg.count, "count", 0, "how many iterations to run, instead of --duration")
	fs.IntVar(&cfg.workers, "workers", 16, "concurrent virtual users")
	fs.IntVar(&cfg.users, "users", 0, "users with a passkey to log in as: seeded over HTTP first (default 1000), or the first N of --seed-file (default all)")
	fs.StringVar(&cfg.scenario, "scenario", scenarioLogin, "append, login, login-usernameless, verify-offline or mixed")
	fs.StringVar(&cfg.seedFile, "seed-file", "", "use the users written by 'latchkey bench seed' instead of seeding over HTTP")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	fs.IntVar(&cfg.pid, "pid", 0, "the broker's process ID: report its CPU time per iteration and its resident memory")
	fs.DurationVar(&cfg.progress, "progress", 2*time.Second, "how often to print a progress line to stderr (0: never)")
	fs.DurationVar(&cfg.sample, "sample", 5*time.Second, "how often to sample --pid's resident memory")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile to this file")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if err := cfg.check(); err != nil {
		return err
	}
	return runBench(ctx, e, cfg)
}

// check validates the flags and fills in defaults.
func (cfg *benchConfig) check() error {
	const name = "latchkey bench"
	var ok bool
	if cfg.mix, ok = mixes[cfg.scenario]; !ok {
		return usagef("%s: --scenario %q: want append, login, login-usernameless, verify-offline or mixed", name, cfg.scenario)
	}
	switch {
	case cfg.duration < 0 || cfg.count < 0:
		return usagef("%s: --duration and --count must not be negative", name)
	case cfg.duration > 0 && cfg.count > 0:
		return usagef("%s: give --duration or --count, not both", name)
	case cfg.duration == 0 && cfg.count == 0:
		cfg.duration = 30 * time.Second
	}
	if cfg.workers < 1 || cfg.workers > 10000 {
		return usagef("%s: --workers must be from 1 to 10000", name)
	}
	if cfg.users < 0 {
		return usagef("%s: --users must not be negative", name)
	}
	if cfg.progress < 0 || cfg.sample <= 0 {
		return usagef("%s: --progress must not be negative and --sample must be positive", name)
	}
	u, err := urlParse(cfg.url)
	if err != nil {
		return usagef("%s: --url %q: %v", name, cfg.url, err)
	}
	cfg.url = u
	if cfg.seedFile == "" && cfg.project == "" {
		return usagef("%s: --project (or --seed-file) is required", name)
	}
	if cfg.secret == "" {
		return usagef("%s: --secret or LATCHKEY_BENCH_SECRET is required", name)
	}
	if cfg.origin == "" {
		return usagef("%s: --origin is required", name)
	}
	return nil
}

// urlParse checks an http(s) base URL and drops a trailing slash.
func urlParse(s string) (string, error) {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return "", errors.New("want http://host:port or https://...")
	}
	if _, err := http.NewRequest(http.MethodGet, s, nil); err != nil {
		return "", err
	}
	return strings.TrimSuffix(s, "/"), nil
}

// vuser is a virtual user: the identifier the app knows it by and one passkey.
type vuser struct {
	identifier string
	credID     []byte
	handle     []byte
	key        *ecdsa.PrivateKey
}

// userPool holds the users that logins pick from: seeded over HTTP, or derived from a seed file.
type userPool struct {
	users []*vuser
	seed  *benchSeed
	n     int
}

func (p *userPool) get(i int) (*vuser, error) {
	if p.seed != nil {
		return p.seed.user(i)
	}
	return p.users[i], nil
}

// stepError is a failed step, counted by its kind.
type stepError struct {
	step, kind string
}

func (e *stepError) Error() string { return e.step + ": " + e.kind }

// recorder collects one worker's latencies and errors; merged at the end.
type recorder struct {
	steps     map[string][]time.Duration
	scenarios map[string][]time.Duration
	errors    map[string]int
}

func newRecorder() *recorder {
	return &recorder{steps: map[string][]time.Duration{}, scenarios: map[string][]time.Duration{}, errors: map[string]int{}}
}

func (r *recorder) step(name string, d time.Duration) {
	if r != nil {
		r.steps[name] = append(r.steps[name], d)
	}
}

func (r *recorder) merge(o *recorder) {
	for k, v := range o.steps {
		r.steps[k] = append(r.steps[k], v...)
	}
	for k, v := range o.scenarios {
		r.scenarios[k] = append(r.scenarios[k], v...)
	}
	for k, v := range o.errors {
		r.errors[k] += v
	}
}

// errorKind names err for the report: "step: kind" for a failed step, otherwise its text.
func errorKind(err error) string {
	var se *stepError
	if errors.As(err, &se) {
		return se.Error()
	}
	return err.Error()
}

// client talks to the broker as an app backend, a page and an authenticator together.
type client struct {
	http     *http.Client
	base     string
	project  string
	secret   string
	origin   string
	verifier *signeddata.Verifier
}

func newClient(cfg benchConfig, project string) *client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        cfg.workers * 2,
		MaxIdleConnsPerHost: cfg.workers * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return &client{
		http: hc, base: cfg.url, project: project, secret: cfg.secret, origin: cfg.origin,
		verifier: &signeddata.Verifier{JWKSURL: cfg.url + "/v2/projects/" + project + "/.well-known/jwks.json", ProjectID: project, Client: hc},
	}
}

// call POSTs body as JSON to path, as the backend (HTTP Basic) or as a page of the origin,
// and decodes a 200 answer into out. It times the request as step in rec.
func (c *client) call(ctx context.Context, rec *recorder, step, path string, backend bool, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return &stepError{step, "client: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(raw))
	if err != nil {
		return &stepError{step, "client: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	if backend {
		req.SetBasicAuth(c.project, c.secret)
	} else {
		req.Header.Set("Origin", c.origin)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return &stepError{step, transportKind(err)}
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return &stepError{step, transportKind(err)}
	}
	if resp.StatusCode != http.StatusOK {
		var env struct {
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		_ = json.Unmarshal(data, &env)
		return &stepError{step, strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, env.Error.Type))}
	}
	rec.step(step, time.Since(start))
	if err := json.Unmarshal(data, out); err != nil {
		return &stepError{step, "bad response: " + err.Error()}
	}
	return nil
}

// transportKind names a transport failure with few distinct values, for counting.
func transportKind(err error) string {
	var nerr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection reset"
	}
	return "transport error"
}

func (c *client) frontend(op string) string { return "/v2/projects/" + c.project + "/connect/" + op }

// options is what the broker's start answers carry, as far as an authenticator reads them.
type options struct {
	CeremonyID string `json:"ceremonyID"`
	PublicKey  struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []credentialRef `json:"allowCredentials"`
	} `json:"publicKey"`
	Fallback *struct {
		Reason string `json:"reason"`
	} `json:"fallback"`
}

// credentialRef is an entry of allowCredentials.
type credentialRef struct {
	ID string `json:"id"`
}

// appendUser mints an append token for identifier and registers a new passkey for it.
func (c *client) appendUser(ctx context.Context, rec *recorder, identifier string) (*vuser, error) {
	var tok struct {
		Secret string `json:"secret"`
	}
	mint := map[string]any{"type": "passkey-append", "data": map[string]string{"identifier": identifier, "displayName": identifier}}
	if err := c.call(ctx, rec, stepMint, "/v2/connectTokens", true, mint, &tok); err != nil {
		return nil, err
	}
	var opts options
	if err := c.call(ctx, rec, stepAppendStart, c.frontend("append/start"), false, map[string]string{"connectToken": tok.Secret}, &opts); err != nil {
		return nil, err
	}
	handle, err := base64.RawURLEncoding.DecodeString(opts.PublicKey.User.ID)
	if err != nil || len(handle) == 0 {
		return nil, &stepError{stepAppendStart, "bad response: no user.id"}
	}
	u, err := newVuser(identifier, handle)
	if err != nil {
		return nil, &stepError{stepAppendStart, "client: " + err.Error()}
	}
	cred := attestation(u, opts.PublicKey.RP.ID, c.origin, opts.PublicKey.Challenge)
	var done struct {
		Passkey struct {
			ID string `json:"id"`
		} `json:"passkey"`
	}
	if err := c.call(ctx, rec, stepAppendFinish, c.frontend("append/finish"), false, map[string]any{"ceremonyID": opts.CeremonyID, "credential": cred}, &done); err != nil {
		return nil, err
	}
	if done.Passkey.ID != base64.RawURLEncoding.EncodeToString(u.credID) {
		return nil, &stepError{stepAppendFinish, "bad response: another passkey"}
	}
	return u, nil
}

// login signs u in, by identifier or usernameless, and verifies the signedPasskeyData online
// as an app backend would; it returns the token.
func (c *client) login(ctx context.Context, rec *recorder, u *vuser, byIdentifier bool) (string, error) {
	start := map[string]any{}
	if byIdentifier {
		start["identifier"] = u.identifier
	}
	var opts options
	if err := c.call(ctx, rec, stepLoginStart, c.frontend("login/start"), false, start, &opts); err != nil {
		return "", err
	}
	if opts.Fallback != nil {
		return "", &stepError{stepLoginStart, "fallback " + opts.Fallback.Reason}
	}
	if byIdentifier {
		id := base64.RawURLEncoding.EncodeToString(u.credID)
		if !slices.Contains(opts.PublicKey.AllowCredentials, credentialRef{id}) {
			return "", &stepError{stepLoginStart, "bad response: the user's passkey is not allowed"}
		}
	}
	cred, err := assertion(u, opts.PublicKey.RPID, c.origin, opts.PublicKey.Challenge)
	if err != nil {
		return "", &stepError{stepLoginFinish, "client: " + err.Error()}
	}
	var res struct {
		SignedPasskeyData string `json:"signedPasskeyData"`
		Username          string `json:"username"`
	}
	if err := c.call(ctx, rec, stepLoginFinish, c.frontend("login/finish"), false, map[string]any{"ceremonyID": opts.CeremonyID, "credential": cred}, &res); err != nil {
		return "", err
	}
	if res.Username != u.identifier || res.SignedPasskeyData == "" {
		return "", &stepError{stepLoginFinish, "bad response: another user"}
	}
	var v struct {
		Result string `json:"verificationResult"`
	}
	if err := c.call(ctx, rec, stepVerifyOnline, "/v2/passkey/verifySignedData", true, map[string]string{"signedPasskeyData": res.SignedPasskeyData, "username": u.identifier}, &v); err != nil {
		return "", err
	}
	if v.Result != broker.ResultSuccess {
		return "", &stepError{stepVerifyOnline, "result " + v.Result}
	}
	return res.SignedPasskeyData, nil
}

// verifyOffline verifies token against the project's JWKS, as an app backend would offline.
func (c *client) verifyOffline(ctx context.Context, rec *recorder, token, username string) error {
	start := time.Now()
	claims, err := c.verifier.Verify(ctx, token)
	if err != nil {
		kind := strings.TrimPrefix(err.Error(), "signeddata: ")
		if i := strings.IndexAny(kind, ":;"); i > 0 {
			kind = kind[:i]
		}
		return &stepError{stepVerifyOffline, kind}
	}
	rec.step(stepVerifyOffline, time.Since(start))
	if claims.Username != username {
		return &stepError{stepVerifyOffline, "another user"}
	}
	return nil
}

// newVuser returns a user with a fresh P-256 passkey and a random credential ID.
func newVuser(identifier string, handle []byte) (*vuser, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &vuser{identifier: identifier, credID: id, handle: handle, key: key}, nil
}

// Authenticator data flags: user present, user verified, backup eligible, backed up (a
// synced passkey), and attested credential data.
const (
	flagsGet    = 0x01 | 0x04 | 0x08 | 0x10
	flagsCreate = flagsGet | 0x40
)

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// clientData returns clientDataJSON as a browser writes it.
func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, challenge, origin, false})
	return b
}

// assertion answers request options with u's passkey, as PublicKeyCredential.toJSON() gives
// it; the counter stays 0, as synced passkeys keep it.
func assertion(u *vuser, rpID, origin, challenge string) (json.RawMessage, error) {
	rpHash := sha256.Sum256([]byte(rpID))
	authData := append(rpHash[:], flagsGet, 0, 0, 0, 0)
	cd := clientData("webauthn.get", challenge, origin)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(authData), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, u.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64u(u.credID), "rawId": b64u(u.credID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]string{
			"clientDataJSON": b64u(cd), "authenticatorData": b64u(authData),
			"signature": b64u(sig), "userHandle": b64u(u.handle),
		},
	})
}

// attestation answers creation options with u's new passkey ("none" attestation).
func attestation(u *vuser, rpID, origin, challenge string) json.RawMessage {
	rpHash := sha256.Sum256([]byte(rpID))
	authData := append(rpHash[:], flagsCreate, 0, 0, 0, 0)
	authData = append(authData, make([]byte, 16)...) // AAGUID: none
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(u.credID)))
	authData = append(authData, u.credID...)
	authData = append(authData, coseKey(&u.key.PublicKey)...)
	// CBOR {"fmt": "none", "attStmt": {}, "authData": authData}
	att := []byte{0xa3, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e', 0x67, 'a', 't', 't', 'S', 't', 'm', 't', 0xa0,
		0x68, 'a', 'u', 't', 'h', 'D', 'a', 't', 'a'}
	att = append(append(att, cborBytesHeader(len(authData))...), authData...)
	raw, _ := json.Marshal(map[string]any{
		"id": b64u(u.credID), "rawId": b64u(u.credID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64u(clientData("webauthn.create", challenge, origin)),
			"attestationObject": b64u(att), "transports": []string{"internal", "hybrid"},
		},
	})
	return raw
}

// cborBytesHeader is the CBOR header of a byte string of length n (n < 65536).
func cborBytesHeader(n int) []byte {
	switch {
	case n < 24:
		return []byte{0x40 | byte(n)}
	case n < 256:
		return []byte{0x58, byte(n)}
	}
	return []byte{0x59, byte(n >> 8), byte(n)}
}

// coseKey encodes a P-256 public key as a COSE_Key (kty EC2, alg ES256, crv P-256), with
// both coordinates 32 bytes wide.
func coseKey(pub *ecdsa.PublicKey) []byte {
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err) // a key made by ecdsa.GenerateKey or ParseRawPrivateKey always encodes
	}
	out := []byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20}
	out = append(out, raw[1:33]...)
	out = append(out, 0x22, 0x58, 0x20)
	return append(out, raw[33:]...)
}

// benchSeed is the seed file of `latchkey bench seed`: every user's identifier, user handle,
// credential ID and private key derive from Seed and the user's index, so that a million
// users fit in a few hundred bytes. Keep it private: it holds the passkeys' private keys.
type benchSeed struct {
	Version   int    `json:"version"`
	ProjectID string `json:"projectID"`
	RPID      string `json:"rpID"`
	Prefix    string `json:"prefix"`
	Seed      string `json:"seed"` // hex, 32 bytes
	Users     int    `json:"users"`
}

// derive returns HMAC-SHA256(seed, label || i).
func (s *benchSeed) derive(label string, i int) []byte {
	key, _ := hex.DecodeString(s.Seed)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(i)))
	return m.Sum(nil)
}

// user returns the i-th user of the seed.
func (s *benchSeed) user(i int) (*vuser, error) {
	if i < 0 || i >= s.Users {
		return nil, fmt.Errorf("user %d of a seed of %d", i, s.Users)
	}
	u := &vuser{identifier: s.Prefix + strconv.Itoa(i), handle: s.derive("handle", i), credID: s.derive("credential", i)[:16]}
	for attempt := 0; u.key == nil; attempt++ {
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), s.derive("key"+strconv.Itoa(attempt), i))
		if err == nil {
			u.key = k
		} else if attempt > 8 {
			return nil, err
		}
	}
	return u, nil
}

func readSeed(path string) (*benchSeed, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s benchSeed
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if k, err := hex.DecodeString(s.Seed); s.Version != 1 || err != nil || len(k) != 32 || s.Users < 0 || s.ProjectID == "" {
		return nil, fmt.Errorf("%s: not a seed file of latchkey bench seed", path)
	}
	return &s, nil
}

func writeSeed(path string, s *benchSeed) error {
	raw, _ := json.MarshalIndent(s, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

const benchSeedSummary = `Writes --users users, each with one passkey, straight into the database of a project,
in batched INSERTs, and the seed file from which 'latchkey bench --seed-file' derives their
private keys. Run it against the broker's database (the broker may be running). For load
tests only: it bypasses ceremonies and connect tokens.`

func cmdBenchSeed(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey bench seed", benchSeedSummary, e)
	var sf storeFlags
	sf.register(fs, e, false)
	projectID := fs.String("project", "", "project ID (required)")
	users := fs.Int("users", 0, "how many users to create (required)")
	seedFile := fs.String("seed-file", "latchkey-bench-seed.json", "where to write the seed file")
	batch := fs.Int("batch", 25000, "users per transaction")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if *projectID == "" || *users <= 0 {
		return usagef("%s: --project and --users (positive) are required", fs.Name())
	}
	if *batch < 1 {
		return usagef("%s: --batch must be positive", fs.Name())
	}
	store, b, err := sf.open(ctx, fs.Name(), false)
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := b.Project(ctx, *projectID)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	prefix := make([]byte, 3)
	_, _ = rand.Read(prefix)
	seed := &benchSeed{Version: 1, ProjectID: p.ID, RPID: p.RPID, Prefix: "bench-" + hex.EncodeToString(prefix) + "-", Seed: hex.EncodeToString(key)}
	start := time.Now()
	err = seedUsers(ctx, *users, *batch, func(from, to int) ([]broker.SeedUser, error) {
		batch := make([]broker.SeedUser, 0, to-from)
		for i := from; i < to; i++ {
			u, err := seed.user(i)
			if err != nil {
				return nil, err
			}
			batch = append(batch, broker.SeedUser{Identifier: u.identifier, WebAuthnID: u.handle, CredentialID: u.credID, PublicKey: coseKey(&u.key.PublicKey)})
		}
		return batch, nil
	}, func(batch []broker.SeedUser) error {
		return b.SeedPasskeys(ctx, p.ID, batch)
	}, func(done int) {
		fmt.Fprintf(e.stderr, "seeded %d/%d users (%.0f/s)\n", done, *users, float64(done)/time.Since(start).Seconds())
	}, seed)
	if werr := writeSeed(*seedFile, seed); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("seeding (%d users stored, seed file %s): %w", seed.Users, *seedFile, err)
	}
	fmt.Fprintf(e.stdout, "seeded %d users into project %s in %.1fs; seed file %s\n", seed.Users, p.ID, time.Since(start).Seconds(), *seedFile)
	return nil
}

// seedUsers stores users [0, n) of seed in batches of size: derive makes a batch (on every
// core at once), write stores it (one batch at a time, in index order, so that what is
// stored is always a prefix of the seed). It reports each stored total, and leaves
// seed.Users at the number of users stored.
func seedUsers(ctx context.Context, n, size int, derive func(from, to int) ([]broker.SeedUser, error),
	write func([]broker.SeedUser) error, progress func(done int), seed *benchSeed) error {
	seed.Users = n // so that every index derives
	var (
		mu       sync.Mutex
		cond     = sync.NewCond(&mu)
		next     int // the batch to write next starts here
		firstErr error
		wg       sync.WaitGroup
		batches  = make(chan int)
	)
	go func() {
		defer close(batches)
		for from := 0; from < n; from += size {
			select {
			case batches <- from:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for from := range batches {
				to := min(from+size, n)
				users, err := derive(from, to)
				mu.Lock()
				for next != from && firstErr == nil {
					cond.Wait()
				}
				if err == nil && firstErr == nil {
					mu.Unlock()
					err = write(users)
					mu.Lock()
				}
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if firstErr == nil {
					next = to
					progress(next)
				}
				cond.Broadcast()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	seed.Users = next
	return firstErr
}

// procSample is a process's CPU time and resident memory at one moment.
type procSample struct {
	at  time.Time
	cpu time.Duration
	rss int64 // bytes
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux port.
const clockTicks = 100

// readProc reads /proc/<pid>/stat (utime + stime) and /proc/<pid>/status (VmRSS).
func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.cpu, err = parseStatCPU(string(stat)); err != nil {
		return s, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	s.rss, err = parseStatusRSS(string(status))
	return s, err
}

// parseStatCPU returns utime + stime of a /proc/<pid>/stat line.
func parseStatCPU(stat string) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may hold spaces and parentheses.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// parseStatusRSS returns VmRSS of a /proc/<pid>/status file, in bytes.
func parseStatusRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// machineBusy returns the CPU time all processors spent not idle, from /proc/stat.
func machineBusy() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("malformed /proc/stat")
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest times are already in user
			break
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, errors.New("malformed /proc/stat")
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}

// latency summarises one step's or scenario's latencies.
type latency struct {
	Count int     `json:"count"`
	Rate  float64 `json:"perSecond"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func summarize(samples []time.Duration, elapsed time.Duration) latency {
	s := slices.Clone(samples)
	slices.Sort(s)
	msOf := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	l := latency{Count: len(s), P50: msOf(percentile(s, 50)), P90: msOf(percentile(s, 90)), P99: msOf(percentile(s, 99))}
	if len(s) > 0 {
		l.Max = msOf(s[len(s)-1])
	}
	if elapsed > 0 {
		l.Rate = math.Round(float64(len(s))/elapsed.Seconds()*10) / 10
	}
	return l
}

// slope returns the least-squares slope of ys over xs (0 for fewer than two points).
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if len(xs) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// benchReport is the result of a run; its JSON form is what --json prints.
type benchReport struct {
	Scenario       string             `json:"scenario"`
	Workers        int                `json:"workers"`
	Users          int                `json:"users"`
	ElapsedSeconds float64            `json:"elapsedSeconds"`
	Iterations     int64              `json:"iterations"`
	Throughput     float64            `json:"iterationsPerSecond"`
	Errors         int64              `json:"errors"`
	Scenarios      map[string]latency `json:"scenarios"`
	Steps          map[string]latency `json:"steps"`
	ErrorsByType   map[string]int     `json:"errorsByType"`
	Client         procReport         `json:"loadGenerator"`
	Machine        *machineReport     `json:"machine,omitempty"`
	Broker         *procReport        `json:"broker,omitempty"`
}

// procReport is the CPU and memory of one process over the run.
type procReport struct {
	PID          int       `json:"pid"`
	CPUSeconds   float64   `json:"cpuSeconds"`
	CPUPerIterMs float64   `json:"cpuMsPerIteration"`
	RSSStartMiB  float64   `json:"rssStartMiB,omitempty"`
	RSSEndMiB    float64   `json:"rssEndMiB,omitempty"`
	RSSMaxMiB    float64   `json:"rssMaxMiB,omitempty"`
	RSSSlope     float64   `json:"rssSlopeMiBPerMinute"`
	RSSSamples   []float64 `json:"rssSamplesMiB,omitempty"`
}

// machineReport is the CPU time of every process over the run, and the load average
// (/proc/loadavg, one minute) before and after it: other work on the machine skews a run.
type machineReport struct {
	BusySeconds   float64 `json:"busyCPUSeconds"`
	BusyPerIterMs float64 `json:"busyCPUMsPerIteration"`
	Cores         int     `json:"cores"`
	LoadBefore    string  `json:"loadAverageBefore"`
	LoadAfter     string  `json:"loadAverageAfter"`
}

// loadAverage returns the one-minute load average, or "" where /proc/loadavg is missing.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// monitor samples a process's CPU time and memory while the run goes on.
type monitor struct {
	pid     int
	samples []procSample
	err     error
}

func (m *monitor) sample() {
	if s, err := readProc(m.pid); err != nil {
		m.err = err
	} else {
		m.samples = append(m.samples, s)
	}
}

func (m *monitor) report(iterations int64) procReport {
	r := procReport{PID: m.pid}
	if len(m.samples) < 2 {
		return r
	}
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	mib := func(b int64) float64 { return math.Round(float64(b)/(1<<20)*10) / 10 }
	r.CPUSeconds = math.Round((last.cpu-first.cpu).Seconds()*100) / 100
	if iterations > 0 {
		r.CPUPerIterMs = math.Round(float64(last.cpu-first.cpu)/float64(iterations)/1e3) / 1e3
	}
	r.RSSStartMiB, r.RSSEndMiB = mib(first.rss), mib(last.rss)
	var xs, ys []float64
	for i, s := range m.samples {
		r.RSSMaxMiB = max(r.RSSMaxMiB, mib(s.rss))
		r.RSSSamples = append(r.RSSSamples, mib(s.rss))
		// The trend leaves out the first tenth of the run, while pools and caches fill.
		if i >= len(m.samples)/10 {
			xs = append(xs, s.at.Sub(first.at).Minutes())
			ys = append(ys, float64(s.rss)/(1<<20))
		}
	}
	r.RSSSlope = math.Round(slope(xs, ys)*100) / 100
	return r
}

// runBench seeds users if needed, runs the workers, and prints the report.
func runBench(ctx context.Context, e env, cfg benchConfig) error {
	pool := &userPool{}
	project := cfg.project
	if cfg.seedFile != "" {
		seed, err := readSeed(cfg.seedFile)
		if err != nil {
			return err
		}
		if project == "" {
			project = seed.ProjectID
		} else if project != seed.ProjectID {
			return usagef("latchkey bench: --project %s, but the seed file is for %s", project, seed.ProjectID)
		}
		if cfg.users > seed.Users {
			return usagef("latchkey bench: --users %d, but the seed file has %d", cfg.users, seed.Users)
		}
		pool.seed, pool.n = seed, seed.Users
		if cfg.users > 0 {
			pool.n = cfg.users
		}
	}
	c := newClient(cfg, project)
	runID := make([]byte, 3)
	_, _ = rand.Read(runID)
	prefix := "bench-" + hex.EncodeToString(runID) + "-"
	if pool.seed == nil && needsUsers(cfg.mix) {
		n := cfg.users
		if n == 0 {
			n = 1000
		}
		if err := seedOverHTTP(ctx, e, c, cfg.workers, n, prefix, pool); err != nil {
			return err
		}
	}
	if pool.n == 0 && needsUsers(cfg.mix) {
		return usagef("latchkey bench: no users to log in as")
	}

	var mon *monitor
	if cfg.pid > 0 {
		mon = &monitor{pid: cfg.pid}
		if mon.sample(); mon.err != nil {
			return fmt.Errorf("--pid %d: %w", cfg.pid, mon.err)
		}
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := rpprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer rpprof.StopCPUProfile()
	}
	self := &monitor{pid: os.Getpid()}
	self.sample()
	busyStart, busyErr := machineBusy()
	loadBefore := loadAverage()

	var (
		started, finished, failed atomic.Int64
		stop                      = make(chan struct{})
		stopOnce                  sync.Once
		recs                      = make([]*recorder, cfg.workers)
		wg                        sync.WaitGroup
	)
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	begin := time.Now()
	for w := range cfg.workers {
		recs[w] = newRecorder()
		wg.Go(func() {
			wk := &worker{id: w, c: c, pool: pool, rec: recs[w], prefix: prefix,
				rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))}
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				if cfg.count > 0 && started.Add(1) > cfg.count {
					halt()
					return
				}
				err := wk.iteration(ctx, pick(cfg.mix, wk.rng))
				switch {
				case ctx.Err() != nil:
					return // interrupted: the run's end is no error of the broker's
				case err != nil:
					wk.rec.errors[errorKind(err)]++
					failed.Add(1)
				default:
					finished.Add(1)
				}
			}
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	var deadline <-chan time.Time
	if cfg.duration > 0 {
		t := time.NewTimer(cfg.duration)
		defer t.Stop()
		deadline = t.C
	}
	var progress <-chan time.Time
	if cfg.progress > 0 {
		t := time.NewTicker(cfg.progress)
		defer t.Stop()
		progress = t.C
	}
	sampler := time.NewTicker(cfg.sample)
	defer sampler.Stop()
	lastN, lastAt := int64(0), begin
wait:
	for {
		select {
		case <-allDone:
			break wait
		case <-deadline:
			halt()
		case <-ctx.Done():
			halt()
		case <-sampler.C:
			if mon != nil {
				mon.sample()
			}
		case now := <-progress:
			n := finished.Load()
			line := fmt.Sprintf("%7.1fs  %d iterations  %.0f/s  errors %d", now.Sub(begin).Seconds(), n,
				float64(n-lastN)/now.Sub(lastAt).Seconds(), failed.Load())
			if mon != nil && len(mon.samples) > 0 {
				line += fmt.Sprintf("  broker RSS %.1f MiB", float64(mon.samples[len(mon.samples)-1].rss)/(1<<20))
			}
			fmt.Fprintln(e.stderr, line)
			lastN, lastAt = n, now
		}
	}
	elapsed := time.Since(begin)
	if mon != nil {
		mon.sample()
	}
	self.sample()

	all := newRecorder()
	for _, r := range recs {
		all.merge(r)
	}
	rep := benchReport{
		Scenario:       cfg.scenario,
		Workers:        cfg.workers,
		Users:          pool.n,
		ElapsedSeconds: math.Round(elapsed.Seconds()*100) / 100,
		Iterations:     finished.Load(),
		Errors:         failed.Load(),
		Scenarios:      map[string]latency{},
		Steps:          map[string]latency{},
		ErrorsByType:   all.errors,
	}
	rep.Throughput = math.Round(float64(rep.Iterations)/elapsed.Seconds()*10) / 10
	for k, v := range all.scenarios {
		rep.Scenarios[k] = summarize(v, elapsed)
	}
	for k, v := range all.steps {
		rep.Steps[k] = summarize(v, elapsed)
	}
	rep.Client = self.report(rep.Iterations)
	rep.Client.RSSSamples, rep.Client.RSSSlope = nil, 0
	if busyEnd, err := machineBusy(); err == nil && busyErr == nil {
		busy := busyEnd - busyStart
		rep.Machine = &machineReport{BusySeconds: math.Round(busy.Seconds()*100) / 100, Cores: runtime.NumCPU(),
			LoadBefore: loadBefore, LoadAfter: loadAverage()}
		if rep.Iterations > 0 {
			rep.Machine.BusyPerIterMs = math.Round(float64(busy)/float64(rep.Iterations)/1e3) / 1e3
		}
	}
	if mon != nil {
		r := mon.report(rep.Iterations)
		rep.Broker = &r
	}
	if cfg.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(e.stdout, rep)
	}
	if rep.Errors > 0 {
		return fmt.Errorf("bench: %d of %d iterations failed", rep.Errors, rep.Errors+rep.Iterations)
	}
	if rep.Iterations == 0 {
		return errors.New("bench: no iteration completed")
	}
	return nil
}

// worker is one virtual user's loop.
type worker struct {
	id      int
	c       *client
	pool    *userPool
	rec     *recorder
	rng     *mrand.Rand
	prefix  string
	appends int
	token   string // the last signedPasskeyData, for verify-offline
	tokenOf string
	tokenAt time.Time
}

// iteration runs one scenario and records its latency when it succeeds.
func (w *worker) iteration(ctx context.Context, scenario string) error {
	start := time.Now()
	var err error
	switch scenario {
	case scenarioAppend:
		w.appends++
		_, err = w.c.appendUser(ctx, w.rec, fmt.Sprintf("%sw%d-%d", w.prefix, w.id, w.appends))
	case scenarioLogin, scenarioUsernameless:
		err = w.login(ctx, scenario == scenarioLogin)
	case scenarioVerifyOffline:
		// A token lives 5 minutes: log in again (timed as a login) for a fresh one.
		if w.token == "" || time.Since(w.tokenAt) > 4*time.Minute {
			loginStart := time.Now()
			if err := w.login(ctx, true); err != nil {
				return err
			}
			w.rec.scenarios[scenarioLogin] = append(w.rec.scenarios[scenarioLogin], time.Since(loginStart))
			start = time.Now()
		}
		err = w.c.verifyOffline(ctx, w.rec, w.token, w.tokenOf)
	}
	if err == nil {
		w.rec.scenarios[scenario] = append(w.rec.scenarios[scenario], time.Since(start))
	}
	return err
}

func (w *worker) login(ctx context.Context, byIdentifier bool) error {
	u, err := w.pool.get(w.rng.IntN(w.pool.n))
	if err != nil {
		return &stepError{stepLoginStart, "client: " + err.Error()}
	}
	tok, err := w.c.login(ctx, w.rec, u, byIdentifier)
	if err == nil {
		w.token, w.tokenOf, w.tokenAt = tok, u.identifier, time.Now()
	}
	return err
}

// seedOverHTTP appends n users with passkeys through the broker, with workers in parallel,
// retrying each user a few times; it fails if one cannot be seeded.
func seedOverHTTP(ctx context.Context, e env, c *client, workers, n int, prefix string, pool *userPool) error {
	pool.users, pool.n = make([]*vuser, n), n
	var (
		next, done atomic.Int64
		firstErr   error
		mu         sync.Mutex
		wg         sync.WaitGroup
	)
	start := time.Now()
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				fmt.Fprintf(e.stderr, "seeding users over HTTP: %d/%d\n", done.Load(), n)
			}
		}
	}()
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				var err error
				for attempt := 0; attempt < 3; attempt++ {
					var u *vuser
					if u, err = c.appendUser(ctx, nil, prefix+strconv.Itoa(i)); err == nil {
						pool.users[i] = u
						break
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(stopProgress)
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return fmt.Errorf("seeding users over HTTP: %w", firstErr)
	}
	fmt.Fprintf(e.stderr, "seeded %d users over HTTP in %.1fs\n", n, time.Since(start).Seconds())
	return nil
}

// printReport writes the human-readable report.
func printReport(w io.Writer, r benchReport) {
	fmt.Fprintf(w, "scenario %s, %d workers, %d users: %d iterations in %.2fs = %.1f/s, %d errors\n\n",
		r.Scenario, r.Workers, r.Users, r.Iterations, r.ElapsedSeconds, r.Throughput, r.Errors)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	table := func(title string, order []string, m map[string]latency) {
		fmt.Fprintf(tw, "%s\tcount\tper s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t\n", title)
		for _, k := range order {
			if l, ok := m[k]; ok {
				fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", k, l.Count, l.Rate, l.P50, l.P90, l.P99, l.Max)
			}
		}
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
	}
	table("scenario", scenarioOrder, r.Scenarios)
	table("step", stepOrder, r.Steps)
	tw.Flush()
	if len(r.ErrorsByType) == 0 {
		fmt.Fprintln(w, "errors: none")
	} else {
		fmt.Fprintln(w, "errors by type:")
		for _, k := range slices.Sorted(maps.Keys(r.ErrorsByType)) {
			fmt.Fprintf(w, "  %6d  %s\n", r.ErrorsByType[k], k)
		}
	}
	if b := r.Broker; b != nil {
		fmt.Fprintf(w, "broker (pid %d): CPU %.2fs = %.3f ms per iteration; RSS start %.1f MiB, max %.1f MiB, end %.1f MiB, trend %+.2f MiB/min\n",
			b.PID, b.CPUSeconds, b.CPUPerIterMs, b.RSSStartMiB, b.RSSMaxMiB, b.RSSEndMiB, b.RSSSlope)
	}
	fmt.Fprintf(w, "load generator: CPU %.2fs = %.3f ms per iteration\n", r.Client.CPUSeconds, r.Client.CPUPerIterMs)
	if m := r.Machine; m != nil {
		fmt.Fprintf(w, "machine (%d cores, every process): CPU %.2fs = %.3f ms per iteration; load average %s before, %s after\n",
			m.Cores, m.BusySeconds, m.BusyPerIterMs, m.LoadBefore, m.LoadAfter)
	}
}

// startPprof serves net/http/pprof on addr (e.g. 127.0.0.1:6060) on a listener of its own,
// until ctx ends. The command line is left out: it may carry --secret-key.
func startPprof(ctx context.Context, addr string, log *slog.Logger) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usagef("--pprof %q is not host:port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("pprof listening", slog.String("addr", ln.Addr().String()))
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}
