package loadgen

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/latchkey/latchkey/broker/softauthn"
)

// hankoClient drives Hanko's passkey server (github.com/teamhanko/passkey-server, AGPL-3.0),
// the nearest open-source peer, through its public tenant API, so that the same load
// generator, virtual users and software authenticator measure both systems:
//
//   - appendUser: POST /{tenant}/registration/initialize (apiKey header) with a user ID,
//     the authenticator's attestation, POST /{tenant}/registration/finalize;
//   - login: POST /{tenant}/login/initialize (with the user ID and the apiKey header, or
//     without both: usernameless), the authenticator's assertion, POST
//     /{tenant}/login/finalize, which answers a JWT (RS256, five minutes, sub = user ID,
//     aud = RP ID, cred = credential ID).
//
// The peer has no endpoint that verifies its token, so the load generator verifies it as an
// app backend would: against the tenant's JWKS (/{tenant}/.well-known/jwks.json, fetched once
// and cached), checking signature, expiry, audience, subject and credential. That is what
// Latchkey's verifySignedData checks, less its single use, which the peer does not offer.
type hankoClient struct {
	http   *http.Client
	base   string // the server's URL and tenant: {url}/{tenant}
	apiKey string
	origin string
	auth   *softauthn.Authenticator

	mu   sync.Mutex
	keys jwk.Set // the tenant's JWKS, once fetched
}

func newHankoClient(cfg Config) *hankoClient {
	c := newClient(cfg, "") // the same transport and authenticator as Latchkey's
	return &hankoClient{http: c.http, base: cfg.URL + "/" + cfg.Tenant, apiKey: cfg.APIKey, origin: cfg.Origin, auth: c.auth}
}

// checkHanko validates the flags of the peer target.
func (cfg *Config) checkHanko(name string) error {
	if _, err := uuid.Parse(cfg.Tenant); err != nil {
		return usagef("%s: --target %s needs --tenant, the tenant's ID (a UUID)", name, TargetHanko)
	}
	if cfg.APIKey == "" {
		return usagef("%s: --target %s needs --api-key, the tenant's API key", name, TargetHanko)
	}
	if cfg.SeedFile != "" || cfg.Project != "" || cfg.Secret != "" {
		return usagef("%s: --target %s takes --tenant and --api-key, not --project, --secret or --seed-file", name, TargetHanko)
	}
	switch cfg.Scenario {
	case ScenarioLogin, ScenarioUsernameless, ScenarioAppend:
		return nil
	}
	return usagef("%s: --target %s runs the scenarios login, login-usernameless and append", name, TargetHanko)
}

// call POSTs body as JSON to the tenant's path, with the API key when backend is true, and
// decodes a 200 answer into out. It times the request as step in rec.
func (c *hankoClient) call(ctx context.Context, rec *recorder, step, path string, backend bool, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return &stepError{step, "client: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", c.origin)
	if backend {
		req.Header.Set("apiKey", c.apiKey)
	}
	return postJSON(c.http, rec, req, step, out, func(status int, data []byte) string {
		var e struct {
			Title string `json:"title"`
		}
		_ = json.Unmarshal(data, &e)
		return fmt.Sprintf("%d %.60s", status, e.Title)
	})
}

// peerOptions is the peer's answer to an initialize: the options under "publicKey".
type peerOptions struct {
	PublicKey json.RawMessage `json:"publicKey"`
}

// appendUser registers a passkey for a new user. The peer's user ID is a UUID string, as in
// its documentation (it reads a 16-byte user handle as a UUID's bytes, so short IDs of
// exactly 16 bytes would not sign in); identifier becomes the username.
func (c *hankoClient) appendUser(ctx context.Context, rec *recorder, identifier string) (*vuser, error) {
	userID := uuid.NewString()
	body, _ := json.Marshal(map[string]string{"user_id": userID, "username": identifier})
	var init peerOptions
	if err := c.call(ctx, rec, StepPeerRegisterInit, "/registration/initialize", true, body, &init); err != nil {
		return nil, err
	}
	var opts options
	_ = json.Unmarshal(init.PublicKey, &opts)
	handle, err := base64.RawURLEncoding.DecodeString(opts.User.ID)
	if err != nil || string(handle) != userID {
		return nil, &stepError{StepPeerRegisterInit, "bad response: another user.id"}
	}
	u := &vuser{identifier: userID, cred: softauthn.Credential{Key: softauthn.NewES256Key(), UserHandle: handle}}
	cred, err := c.auth.Attest(init.PublicKey, u.cred)
	if err != nil {
		return nil, &stepError{StepPeerRegisterFinal, "client: " + err.Error()}
	}
	var done struct {
		Token string `json:"token"`
	}
	if err := c.call(ctx, rec, StepPeerRegisterFinal, "/registration/finalize", false, cred, &done); err != nil {
		return nil, err
	}
	if done.Token == "" {
		return nil, &stepError{StepPeerRegisterFinal, "bad response: no token"}
	}
	return u, nil
}

// login signs u in and verifies the token against the tenant's JWKS; it returns the token.
func (c *hankoClient) login(ctx context.Context, rec *recorder, u *vuser, byIdentifier bool) (string, error) {
	body := []byte("{}")
	if byIdentifier {
		body, _ = json.Marshal(map[string]string{"user_id": u.identifier})
	}
	var init peerOptions
	if err := c.call(ctx, rec, StepPeerLoginInit, "/login/initialize", byIdentifier, body, &init); err != nil {
		return "", err
	}
	var opts options
	_ = json.Unmarshal(init.PublicKey, &opts)
	credID := base64.RawURLEncoding.EncodeToString(u.cred.ID)
	if byIdentifier && !slices.Contains(opts.AllowCredentials, credentialRef{credID}) {
		return "", &stepError{StepPeerLoginInit, "bad response: the user's passkey is not allowed"}
	}
	var rp struct {
		RPID string `json:"rpId"`
	}
	_ = json.Unmarshal(init.PublicKey, &rp)
	cred, err := c.auth.Assert(init.PublicKey, u.cred)
	if err != nil {
		return "", &stepError{StepPeerLoginFinal, "client: " + err.Error()}
	}
	var done struct {
		Token string `json:"token"`
	}
	if err := c.call(ctx, rec, StepPeerLoginFinal, "/login/finalize", false, cred, &done); err != nil {
		return "", err
	}
	start := time.Now()
	if err := c.verify(ctx, done.Token, rp.RPID, u.identifier, credID); err != nil {
		return "", &stepError{StepPeerVerifyJWT, err.Error()}
	}
	rec.step(StepPeerVerifyJWT, time.Since(start))
	return done.Token, nil
}

// verify checks token's signature against the tenant's JWKS, its expiry, that its audience
// is rpID, its subject userID and its "cred" claim credID. The error is a short kind.
func (c *hankoClient) verify(ctx context.Context, token, rpID, userID, credID string) error {
	keys, err := c.jwks(ctx)
	if err != nil {
		return fmt.Errorf("jwks: %v", err)
	}
	tok, err := jwt.Parse([]byte(token), jwt.WithKeySet(keys), jwt.WithValidate(true), jwt.WithAudience(rpID))
	if err != nil {
		return fmt.Errorf("invalid token")
	}
	if tok.Subject() != userID {
		return fmt.Errorf("another user")
	}
	if v, _ := tok.Get("cred"); v != credID {
		return fmt.Errorf("another credential")
	}
	return nil
}

// jwks returns the tenant's key set, fetching it on first use.
func (c *hankoClient) jwks(ctx context.Context) (jwk.Set, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys != nil {
		return c.keys, nil
	}
	set, err := jwk.Fetch(ctx, c.base+"/.well-known/jwks.json", jwk.WithHTTPClient(c.http))
	if err != nil {
		return nil, err
	}
	c.keys = set
	return set, nil
}
