package loadgen

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/signeddata"
)

// vuser is a virtual user: the identifier the app knows it by and one passkey.
type vuser struct {
	identifier string
	cred       softauthn.Credential
}

// stepError is a failed step, counted by its kind.
type stepError struct {
	step, kind string
}

func (e *stepError) Error() string { return e.step + ": " + e.kind }

// errorKind names err for the report: "step: kind" for a failed step, otherwise its text.
func errorKind(err error) string {
	var se *stepError
	if errors.As(err, &se) {
		return se.Error()
	}
	return err.Error()
}

// requestTimeout bounds each request of the load generator.
const requestTimeout = 30 * time.Second

// client talks to the broker as an app backend, a page and an authenticator together.
type client struct {
	http     *http.Client
	base     string
	project  string
	secret   string
	origin   string
	verifier *signeddata.Verifier
	// auth answers for every virtual user: its Attest and Assert only read it. Like a synced
	// passkey provider, it sets BE and BS, keeps counters at 0, and attests "none" with a
	// zero AAGUID, for the RP ID the options name.
	auth *softauthn.Authenticator
}

func newClient(cfg Config, project string) *client {
	dial := (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		MaxIdleConns:          cfg.Workers * 2,
		MaxIdleConnsPerHost:   cfg.Workers * 2,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		DisableCompression:    true,
	}
	// http:// on the caller's goroutine (wireTransport), https:// through net/http's. The
	// requests' timeout is the transports', not http.Client.Timeout, which costs a goroutine
	// per request.
	hc := &http.Client{Transport: newWireTransport(dial, tr, cfg.Workers*2, requestTimeout)}
	return &client{
		http: hc, base: cfg.URL, project: project, secret: cfg.Secret, origin: cfg.Origin,
		verifier: &signeddata.Verifier{JWKSURL: cfg.URL + "/v2/projects/" + project + "/.well-known/jwks.json", ProjectID: project, Client: hc},
		auth: &softauthn.Authenticator{RP: softauthn.RelyingParty{Origin: cfg.Origin}, Attestation: "none",
			BackupEligible: true, BackedUp: true},
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
	return postJSON(c.http, rec, req, step, out, func(status int, data []byte) string {
		var env struct {
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		_ = json.Unmarshal(data, &env)
		return fmt.Sprintf("%d %s", status, env.Error.Type)
	})
}

// postJSON sends req, times it as step in rec when it answers 200 and decodes that answer
// into out; another status is a stepError that errorKind names (from the status and body).
func postJSON(hc *http.Client, rec *recorder, req *http.Request, step string, out any, errorKind func(status int, body []byte) string) error {
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return &stepError{step, transportKind(err)}
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return &stepError{step, transportKind(err)}
	}
	if resp.StatusCode != http.StatusOK {
		return &stepError{step, strings.TrimSpace(errorKind(resp.StatusCode, data))}
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

// started is what the broker's start answers carry: the options go to the authenticator as
// they are.
type started struct {
	CeremonyID string          `json:"ceremonyID"`
	PublicKey  json.RawMessage `json:"publicKey"`
	Fallback   *struct {
		Reason string `json:"reason"`
	} `json:"fallback"`
}

// options is what the load generator itself checks in the options.
type options struct {
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	AllowCredentials []credentialRef `json:"allowCredentials"`
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
	if err := c.call(ctx, rec, StepMint, "/v2/connectTokens", true, mint, &tok); err != nil {
		return nil, err
	}
	var st started
	if err := c.call(ctx, rec, StepAppendStart, c.frontend("append/start"), false, map[string]string{"connectToken": tok.Secret}, &st); err != nil {
		return nil, err
	}
	var opts options
	_ = json.Unmarshal(st.PublicKey, &opts)
	handle, err := base64.RawURLEncoding.DecodeString(opts.User.ID)
	if err != nil || len(handle) == 0 {
		return nil, &stepError{StepAppendStart, "bad response: no user.id"}
	}
	u := &vuser{identifier: identifier, cred: softauthn.Credential{Key: softauthn.NewES256Key(), UserHandle: handle}}
	cred, err := c.auth.Attest(st.PublicKey, u.cred)
	if err != nil {
		return nil, &stepError{StepAppendFinish, "client: " + err.Error()}
	}
	var done struct {
		Passkey struct {
			ID string `json:"id"`
		} `json:"passkey"`
	}
	if err := c.call(ctx, rec, StepAppendFinish, c.frontend("append/finish"), false, map[string]any{"ceremonyID": st.CeremonyID, "credential": json.RawMessage(cred)}, &done); err != nil {
		return nil, err
	}
	if done.Passkey.ID != base64.RawURLEncoding.EncodeToString(u.cred.ID) {
		return nil, &stepError{StepAppendFinish, "bad response: another passkey"}
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
	var st started
	if err := c.call(ctx, rec, StepLoginStart, c.frontend("login/start"), false, start, &st); err != nil {
		return "", err
	}
	if st.Fallback != nil {
		return "", &stepError{StepLoginStart, "fallback " + st.Fallback.Reason}
	}
	if byIdentifier {
		var opts options
		_ = json.Unmarshal(st.PublicKey, &opts)
		id := base64.RawURLEncoding.EncodeToString(u.cred.ID)
		if !slices.Contains(opts.AllowCredentials, credentialRef{id}) {
			return "", &stepError{StepLoginStart, "bad response: the user's passkey is not allowed"}
		}
	}
	cred, err := c.auth.Assert(st.PublicKey, u.cred)
	if err != nil {
		return "", &stepError{StepLoginFinish, "client: " + err.Error()}
	}
	var res struct {
		SignedPasskeyData string `json:"signedPasskeyData"`
		Username          string `json:"username"`
	}
	if err := c.call(ctx, rec, StepLoginFinish, c.frontend("login/finish"), false, map[string]any{"ceremonyID": st.CeremonyID, "credential": json.RawMessage(cred)}, &res); err != nil {
		return "", err
	}
	if res.Username != u.identifier || res.SignedPasskeyData == "" {
		return "", &stepError{StepLoginFinish, "bad response: another user"}
	}
	var v struct {
		Result string `json:"verificationResult"`
	}
	if err := c.call(ctx, rec, StepVerifyOnline, "/v2/passkey/verifySignedData", true, map[string]string{"signedPasskeyData": res.SignedPasskeyData, "username": u.identifier}, &v); err != nil {
		return "", err
	}
	if v.Result != broker.ResultSuccess {
		return "", &stepError{StepVerifyOnline, "result " + v.Result}
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
		return &stepError{StepVerifyOffline, kind}
	}
	rec.step(StepVerifyOffline, time.Since(start))
	if claims.Username != username {
		return &stepError{StepVerifyOffline, "another user"}
	}
	return nil
}

// seedOverHTTP appends n users with passkeys through the broker, with workers in parallel,
// retrying each user a few times; it fails if one cannot be seeded.
func seedOverHTTP(ctx context.Context, stderr io.Writer, d driver, workers, n int, prefix string, pool *userPool) error {
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
				fmt.Fprintf(stderr, "seeding users over HTTP: %d/%d\n", done.Load(), n)
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
					if u, err = d.appendUser(ctx, nil, prefix+strconv.Itoa(i)); err == nil {
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
	fmt.Fprintf(stderr, "seeded %d users over HTTP in %.1fs\n", n, time.Since(start).Seconds())
	return nil
}
