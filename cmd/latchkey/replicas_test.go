package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/signeddata"
)

type started struct {
	CeremonyID string          `json:"ceremonyID"`
	PublicKey  json.RawMessage `json:"publicKey"`
}

func (s *server) loginStart(t *testing.T, origin, identifier string) started {
	t.Helper()
	var st started
	if code := call(t, "POST", s.frontend("login/start"), map[string]string{"identifier": identifier}, &st, "Origin", origin); code != 200 || st.CeremonyID == "" {
		t.Fatalf("login/start on %s = %d, %+v", s.URL, code, st)
	}
	return st
}

// loginFinish posts an assertion and returns the status and signedPasskeyData.
func (s *server) loginFinish(t *testing.T, origin, ceremonyID string, assertion []byte) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"ceremonyID": ceremonyID, "credential": json.RawMessage(assertion)})
	req, _ := http.NewRequest("POST", s.frontend("login/finish"), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("login/finish on %s: %v", s.URL, err)
		return 0, ""
	}
	defer resp.Body.Close()
	var out struct {
		SignedPasskeyData string `json:"signedPasskeyData"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.SignedPasskeyData
}

func (s *server) jwks(t *testing.T) []signeddata.PublicKey {
	t.Helper()
	resp, err := http.Get(s.URL + "/v2/projects/" + s.ProjectID + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	keys, err := signeddata.ParseJWKS(raw)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	head, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(head, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func kids(keys []signeddata.PublicKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

// TestTwoReplicas runs two `latchkey serve` replicas on one PostgreSQL database and moves
// every ceremony between them: no replica-local state may change the outcome.
func TestTwoReplicas(t *testing.T) {
	const origin = "http://localhost:8080"
	a := startServe(t, "postgres", origin)
	b := serveOn(t, a.env, a.ProjectID, a.Secret)
	auth := softauthn.NewAuthenticator("localhost", origin)

	// Append started on A, finished on B.
	var st started
	if code := call(t, "POST", a.frontend("append/start"), map[string]string{"connectToken": a.mint(t, "passkey-append", "user-42")}, &st, "Origin", origin); code != 200 {
		t.Fatalf("append/start on A = %d", code)
	}
	credID := b.appendWithStart(t, auth, origin, st.CeremonyID, st.PublicKey)

	// Login started on B, finished on A; the result verified on B, online and offline.
	st = b.loginStart(t, origin, "user-42")
	assertion, err := auth.Get(st.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	code, token := a.loginFinish(t, origin, st.CeremonyID, assertion)
	if code != 200 || token == "" {
		t.Fatalf("login/finish on A of a ceremony started on B = %d", code)
	}
	claims, err := signeddata.Verify(token, b.jwks(t), a.ProjectID, timeNow(), signeddata.DefaultLeeway)
	if err != nil || claims.Credential != credID {
		t.Fatalf("offline Verify with B's JWKS = %+v, %v", claims, err)
	}
	if got := b.verifyOnline(t, token, "user-42"); got != "success" {
		t.Fatalf("verifySignedData on B of a token from A = %s, want success", got)
	}
	if got := a.verifyOnline(t, token, "user-42"); got != "invalid_challenge" {
		t.Fatalf("verifySignedData on A after B verified it = %s, want invalid_challenge", got)
	}

	// A key rotated through one replica's store is used by both at once, and published by
	// both within broker.CacheTTL (each serves its JWKS from memory for a moment).
	oldKid := kidOf(t, token)
	if out, stderr, err := runCmd(t, a.env, "keys", "rotate", "--project", a.ProjectID, "--activate-in", "0s"); err != nil {
		t.Fatalf("keys rotate: %v %s %s", err, out, stderr)
	}
	rotated := time.Now()
	ka, kb := kids(a.jwks(t)), kids(b.jwks(t))
	for strings.Join(ka, ",") != strings.Join(kb, ",") || len(ka) != 2 {
		if time.Since(rotated) > broker.CacheTTL {
			t.Fatalf("JWKS %v after rotation: A %v, B %v, want the same two keys", broker.CacheTTL, ka, kb)
		}
		time.Sleep(100 * time.Millisecond)
		ka, kb = kids(a.jwks(t)), kids(b.jwks(t))
	}
	var newKids []string
	for _, s := range []*server{a, b} {
		st := s.loginStart(t, origin, "user-42")
		assertion, err := auth.Get(st.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		code, tok := s.loginFinish(t, origin, st.CeremonyID, assertion)
		if code != 200 {
			t.Fatalf("login/finish after rotation on %s = %d", s.URL, code)
		}
		newKids = append(newKids, kidOf(t, tok))
	}
	if newKids[0] != newKids[1] || newKids[0] == oldKid {
		t.Fatalf("after rotation A signs with %s and B with %s, want both the new key (old %s)", newKids[0], newKids[1], oldKid)
	}

	// 50 concurrent finishes of one ceremony, spread over both replicas: exactly one succeeds.
	st = a.loginStart(t, origin, "user-42")
	assertion, err = auth.Get(st.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	count := concurrentStatuses(n, func(i int) int {
		code, _ := []*server{a, b}[i%2].loginFinish(t, origin, st.CeremonyID, assertion)
		return code
	})
	if count[200] != 1 || count[410] != n-1 {
		t.Fatalf("50 concurrent finishes over two replicas gave %v, want one 200 and 49 410", count)
	}
}

// concurrentStatuses runs fn(0) ... fn(n-1) at once (released together) and counts the HTTP
// statuses they return.
func concurrentStatuses(n int, fn func(i int) int) map[int]int {
	codes := make([]int, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			codes[i] = fn(i)
		}()
	}
	close(gate)
	wg.Wait()
	count := map[int]int{}
	for _, code := range codes {
		count[code]++
	}
	return count
}

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
