package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/signeddata"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// getenvFrom returns a getenv over a map.
func getenvFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// runCmd runs one command to completion and returns its stdout and stderr.
func runCmd(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, getenvFrom(env), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a `latchkey serve` started through run.
type server struct {
	URL       string
	ProjectID string
	Secret    string
	Logs      *syncBuffer
	env       map[string]string
	stop      func() error
}

// startServe creates a project with the CLI on a fresh database of dialect and starts
// `latchkey serve` on it, with origin as the project's web origin.
func startServe(t *testing.T, dialect, origin string) *server {
	t.Helper()
	return startServeWith(t, dialect, origin, nil)
}

// startServeWith is startServe with extra environment for serve, such as rate limits.
func startServeWith(t *testing.T, dialect, origin string, extra map[string]string) *server {
	t.Helper()
	env := map[string]string{
		"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, dialect),
		"LATCHKEY_SECRET_KEY":   brokertest.SecretKey,
	}
	maps.Copy(env, extra)
	projectID, secret := createProject(t, env, "E2E", "localhost", origin)
	return serveOn(t, env, projectID, secret)
}

// createProject runs `latchkey project create --json` with env and returns the new project's
// ID and first API secret.
func createProject(t *testing.T, env map[string]string, name, rpID, origin string) (projectID, secret string) {
	t.Helper()
	out, stderr, err := runCmd(t, env, "project", "create", "--name", name, "--rp-id", rpID, "--origin", origin, "--json")
	if err != nil {
		t.Fatalf("project create: %v\n%s", err, stderr)
	}
	var created struct{ ProjectID, APISecret string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ProjectID == "" || created.APISecret == "" {
		t.Fatalf("project create --json printed %q (%v)", out, err)
	}
	return created.ProjectID, created.APISecret
}

// serveOn starts `latchkey serve` through run with env on a free port, for the project
// with the given credentials, and waits for /healthz.
func serveOn(t *testing.T, env map[string]string, projectID, apiSecret string) *server {
	t.Helper()
	port := freePort(t)
	env = maps.Clone(env)
	env["LATCHKEY_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", port)
	env["LATCHKEY_ALLOW_INSECURE_KEY"] = "1" // the tests' key is published: serve refuses it otherwise
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenvFrom(env), strings.NewReader(""), io.Discard, logs) }()
	s := &server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), ProjectID: projectID, Secret: apiSecret, Logs: logs, env: env}
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(15 * time.Second):
				stopErr = errors.New("serve did not stop within 15 s of cancellation")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = s.stop() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not healthy after 20 s: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call sends a JSON request and decodes the JSON answer into out (if not nil); it returns
// the status code.
func call(t *testing.T, method, url string, body any, out any, hdr ...string) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

// mint asks the backend API for a connect token and returns its secret.
func (s *server) mint(t *testing.T, typ, identifier string) string {
	t.Helper()
	var tok struct {
		Secret string `json:"secret"`
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v2/connectTokens", strings.NewReader(
		fmt.Sprintf(`{"type":%q,"data":{"identifier":%q,"displayName":"Jane Doe"}}`, typ, identifier)))
	req.SetBasicAuth(s.ProjectID, s.Secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(tok.Secret, "ctk1_") {
		t.Fatalf("minting %s token: status %d, %+v, %v", typ, resp.StatusCode, tok, err)
	}
	return tok.Secret
}

func (s *server) frontend(path string) string {
	return s.URL + "/v2/projects/" + s.ProjectID + "/connect/" + path
}

// appendPasskey adds a passkey for identifier through the frontend API.
func (s *server) appendPasskey(t *testing.T, auth *softauthn.Authenticator, origin, identifier string) string {
	t.Helper()
	var start struct {
		CeremonyID string          `json:"ceremonyID"`
		PublicKey  json.RawMessage `json:"publicKey"`
	}
	if code := call(t, "POST", s.frontend("append/start"), map[string]any{"connectToken": s.mint(t, "passkey-append", identifier)}, &start, "Origin", origin); code != 200 {
		t.Fatalf("append/start = %d", code)
	}
	return s.appendWithStart(t, auth, origin, start.CeremonyID, start.PublicKey)
}

// appendWithStart finishes an append ceremony started elsewhere and returns the credential ID.
func (s *server) appendWithStart(t *testing.T, auth *softauthn.Authenticator, origin, ceremonyID string, publicKey any) string {
	t.Helper()
	pk, err := json.Marshal(publicKey)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := auth.Create(pk)
	if err != nil {
		t.Fatal(err)
	}
	var fin struct {
		Passkey struct {
			ID string `json:"id"`
		} `json:"passkey"`
	}
	if code := call(t, "POST", s.frontend("append/finish"), map[string]any{"ceremonyID": ceremonyID, "credential": json.RawMessage(cred)}, &fin, "Origin", origin); code != 200 || fin.Passkey.ID == "" {
		t.Fatalf("append/finish = %d, %+v", code, fin)
	}
	return fin.Passkey.ID
}

// login signs in through the frontend API (by identifier, or usernameless when it is empty)
// and returns signedPasskeyData.
func (s *server) login(t *testing.T, auth *softauthn.Authenticator, origin, identifier string) string {
	t.Helper()
	var start struct {
		CeremonyID string          `json:"ceremonyID"`
		PublicKey  json.RawMessage `json:"publicKey"`
	}
	body := map[string]any{}
	if identifier != "" {
		body["identifier"] = identifier
	}
	if code := call(t, "POST", s.frontend("login/start"), body, &start, "Origin", origin); code != 200 || start.CeremonyID == "" {
		t.Fatalf("login/start = %d, %+v", code, start)
	}
	assertion, err := auth.Get(start.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var fin struct {
		SignedPasskeyData string `json:"signedPasskeyData"`
		Username          string `json:"username"`
	}
	if code := call(t, "POST", s.frontend("login/finish"), map[string]any{"ceremonyID": start.CeremonyID, "credential": json.RawMessage(assertion)}, &fin, "Origin", origin); code != 200 {
		t.Fatalf("login/finish = %d", code)
	}
	if fin.Username != "user-42" || strings.Count(fin.SignedPasskeyData, ".") != 2 {
		t.Fatalf("login/finish = %+v, want username user-42 and a compact JWS", fin)
	}
	return fin.SignedPasskeyData
}

func (s *server) verifyOnline(t *testing.T, token, username string) string {
	t.Helper()
	var v struct {
		VerificationResult string `json:"verificationResult"`
		Username           string `json:"username"`
		UserID             string `json:"userID"`
	}
	req, _ := json.Marshal(map[string]string{"signedPasskeyData": token, "username": username})
	r, _ := http.NewRequest("POST", s.URL+"/v2/passkey/verifySignedData", bytes.NewReader(req))
	r.SetBasicAuth(s.ProjectID, s.Secret)
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("verifySignedData: status %d, %v", resp.StatusCode, err)
	}
	if v.VerificationResult == "success" && (v.Username != username || !strings.HasPrefix(v.UserID, "usr-")) {
		t.Fatalf("verifySignedData = %+v, want username %s and a usr- ID", v, username)
	}
	return v.VerificationResult
}

func TestEndToEnd(t *testing.T) {
	for _, d := range brokertest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			const origin = "http://localhost:8080"
			s := startServe(t, d, origin)
			auth := softauthn.NewAuthenticator("localhost", origin)

			credID := s.appendPasskey(t, auth, origin, "user-42")

			// Login by identifier, verified online: once, and never again.
			token := s.login(t, auth, origin, "user-42")
			if got := s.verifyOnline(t, token, "user-42"); got != "success" {
				t.Fatalf("first verifySignedData = %s, want success", got)
			}
			if got := s.verifyOnline(t, token, "user-42"); got != "invalid_challenge" {
				t.Fatalf("second verifySignedData = %s, want invalid_challenge", got)
			}

			// Usernameless login, verified offline against the JWKS.
			token = s.login(t, auth, origin, "")
			v := &signeddata.Verifier{JWKSURL: s.URL + "/v2/projects/" + s.ProjectID + "/.well-known/jwks.json", ProjectID: s.ProjectID}
			claims, err := v.Verify(context.Background(), token)
			if err != nil {
				t.Fatalf("offline Verify: %v", err)
			}
			if claims.Username != "user-42" || claims.Credential != credID || claims.IsCUI || !claims.UV {
				t.Fatalf("offline claims = %+v, want username user-42, credential %s, isCUI false, uv true", claims, credID)
			}
			if _, err := (&signeddata.Verifier{JWKSURL: v.JWKSURL, ProjectID: "prj-other"}).Verify(context.Background(), token); !errors.Is(err, signeddata.ErrWrongIssuer) {
				t.Fatalf("offline Verify for another project = %v, want ErrWrongIssuer", err)
			}

			// List, delete, list again.
			type listing struct {
				Passkeys []struct {
					ID         string  `json:"id"`
					LastUsedAt *string `json:"lastUsedAt"`
				} `json:"passkeys"`
				Signal struct {
					AllAcceptedCredentials struct {
						AllAcceptedCredentialIDs []string `json:"allAcceptedCredentialIds"`
					} `json:"allAcceptedCredentials"`
				} `json:"signal"`
			}
			var l listing
			if code := call(t, "POST", s.frontend("manage/list"), map[string]string{"connectToken": s.mint(t, "passkey-list", "user-42")}, &l, "Origin", origin); code != 200 ||
				len(l.Passkeys) != 1 || l.Passkeys[0].ID != credID || l.Passkeys[0].LastUsedAt == nil {
				t.Fatalf("manage/list = %d, %+v, want the one passkey, used", code, l)
			}
			l = listing{}
			if code := call(t, "POST", s.frontend("manage/delete"), map[string]string{"connectToken": s.mint(t, "passkey-delete", "user-42"), "credentialID": credID}, &l, "Origin", origin); code != 200 ||
				len(l.Passkeys) != 0 || len(l.Signal.AllAcceptedCredentials.AllAcceptedCredentialIDs) != 0 {
				t.Fatalf("manage/delete = %d, %+v, want no passkeys left", code, l)
			}
			var fb struct {
				Fallback struct{ Reason string } `json:"fallback"`
			}
			if code := call(t, "POST", s.frontend("login/start"), map[string]string{"identifier": "user-42"}, &fb, "Origin", origin); code != 200 || fb.Fallback.Reason != "no_passkey" {
				t.Fatalf("login/start after delete = %d, %+v, want fallback no_passkey", code, fb)
			}

			if out, _, err := runCmd(t, nil, "healthcheck", "--url", s.URL+"/readyz"); err != nil || out != "ready\n" {
				t.Fatalf("healthcheck of a running server = %v, %q", err, out)
			}
			if err := s.stop(); err != nil {
				t.Fatalf("serve returned %v after cancellation, want nil", err)
			}
			if _, _, err := runCmd(t, nil, "healthcheck", "--url", s.URL+"/readyz"); err == nil {
				t.Fatal("healthcheck of a stopped server succeeded")
			}
			for _, line := range strings.Split(strings.TrimSpace(s.Logs.String()), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("serve log line is not JSON: %q", line)
				}
				if rec["msg"] == "request" && !strings.HasPrefix(fmt.Sprint(rec["request_id"]), "req-") {
					t.Fatalf("request log line without request_id: %q", line)
				}
				if strings.Contains(line, "ctk1_") || strings.Contains(line, "lks_") || strings.Contains(line, token) {
					t.Fatalf("log line holds a secret: %q", line)
				}
			}
		})
	}
}

func timeNow() time.Time { return time.Now() }
