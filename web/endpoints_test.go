package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/signeddata"
)

// TestEndpoints drives every endpoint to success through the real router.
func TestEndpoints(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		t.Run("mint connect token", func(t *testing.T) {
			e := newEnv(t, dialect)
			for _, typ := range []string{"passkey-append", "passkey-list", "passkey-delete", "passkey-login"} {
				t.Run(typ, func(t *testing.T) {
					before := time.Now().Unix()
					r := e.mint(t, typ, "user-42")
					after := time.Now().Unix()
					if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
						t.Errorf("Content-Type = %q, want application/json", ct)
					}
					if id := r.str(t, "id"); !strings.HasPrefix(id, "ctk-") {
						t.Errorf("id = %q, want prefix ctk-", id)
					}
					if got := r.str(t, "tokenType"); got != typ {
						t.Errorf("tokenType = %q, want %q", got, typ)
					}
					wantData := map[string]any{"identifier": "user-42", "displayName": "Name of user-42"}
					if diff := cmp.Diff(wantData, r.get("data")); diff != "" {
						t.Errorf("data (-want +got):\n%s", diff)
					}
					if got := r.str(t, "connectTokenStatus"); got != "initial" {
						t.Errorf("connectTokenStatus = %q, want initial", got)
					}
					exp, ok := r.get("expires").(float64)
					if !ok || int64(exp) < before+600-1 || int64(exp) > after+600+1 {
						t.Errorf("expires = %v, want about now+600 (%d)", r.get("expires"), before+600)
					}
					if s := r.str(t, "secret"); !strings.HasPrefix(s, "ctk1_") || len(s) < 30 {
						t.Errorf("secret = %q, want ctk1_ and random bytes", s)
					}
				})
			}
			t.Run("maxLifetimeInSeconds", func(t *testing.T) {
				now := time.Now().Unix()
				r := e.backend(t, http.MethodPost, "/v2/connectTokens", map[string]any{
					"type": "passkey-login", "data": map[string]any{"identifier": "user-42"}, "maxLifetimeInSeconds": 60})
				r.wantStatus(t, http.StatusOK)
				if exp, _ := r.get("expires").(float64); int64(exp) < now+59 || int64(exp) > now+62 {
					t.Errorf("expires = %v, want about now+60 (%d)", r.get("expires"), now+60)
				}
			})
		})

		t.Run("get connect token", func(t *testing.T) {
			e := newEnv(t, dialect)
			minted := e.mint(t, "passkey-list", "user-42")
			id, secret := minted.str(t, "id"), minted.str(t, "secret")
			got := e.backend(t, http.MethodGet, "/v2/connectTokens/"+id, nil)
			got.wantStatus(t, http.StatusOK)
			if _, ok := got.JSON["secret"]; ok {
				t.Errorf("GET returned the secret: %s", got.Body)
			}
			want := minted.JSON
			delete(want, "secret")
			if diff := cmp.Diff(want, got.JSON); diff != "" {
				t.Errorf("GET /v2/connectTokens/%s (-minted +got):\n%s", id, diff)
			}
			e.front(t, "manage/list", map[string]any{"connectToken": secret}).wantStatus(t, http.StatusOK)
			got = e.backend(t, http.MethodGet, "/v2/connectTokens/"+id, nil)
			got.wantStatus(t, http.StatusOK)
			if s := got.str(t, "connectTokenStatus"); s != "consumed" {
				t.Errorf("connectTokenStatus after manage/list = %q, want consumed", s)
			}
		})

		t.Run("revoke connect token", func(t *testing.T) {
			e := newEnv(t, dialect)
			minted := e.mint(t, "passkey-append", "user-42")
			id := minted.str(t, "id")
			del := e.backend(t, http.MethodDelete, "/v2/connectTokens/"+id, nil)
			del.wantStatus(t, http.StatusNoContent)
			if len(del.Body) != 0 {
				t.Errorf("DELETE body = %q, want empty", del.Body)
			}
			assertError(t, e.backend(t, http.MethodGet, "/v2/connectTokens/"+id, nil), http.StatusNotFound, "not_found")
			assertError(t, e.backend(t, http.MethodDelete, "/v2/connectTokens/"+id, nil), http.StatusNotFound, "not_found")
			assertError(t, e.front(t, "append/start", map[string]any{"connectToken": minted.str(t, "secret")}),
				http.StatusUnauthorized, "invalid_connect_token")
		})

		t.Run("connect token of another project", func(t *testing.T) {
			e := newEnv(t, dialect)
			other, secret := e.f.AddProject(t, "other.example", "https://other.example")
			r := e.doJSON(t, http.MethodPost, "/v2/connectTokens", map[string]any{
				"type": "passkey-list", "data": map[string]any{"identifier": "user-42"}},
				map[string]string{"Authorization": basicAuth(other.ID, secret)})
			r.wantStatus(t, http.StatusOK)
			assertError(t, e.backend(t, http.MethodGet, "/v2/connectTokens/"+r.str(t, "id"), nil), http.StatusNotFound, "not_found")
			assertError(t, e.backend(t, http.MethodDelete, "/v2/connectTokens/"+r.str(t, "id"), nil), http.StatusNotFound, "not_found")
			assertError(t, e.front(t, "manage/list", map[string]any{"connectToken": r.str(t, "secret")}),
				http.StatusUnauthorized, "invalid_connect_token")
		})

		t.Run("append", func(t *testing.T) {
			e := newEnv(t, dialect)
			minted := e.mint(t, "passkey-append", "user-42")
			start := e.front(t, "append/start", map[string]any{"connectToken": minted.str(t, "secret")})
			start.wantStatus(t, http.StatusOK)
			if id := start.str(t, "ceremonyID"); id == "" {
				t.Error("ceremonyID is empty")
			}
			checkCreationOptions(t, start, "user-42", "Name of user-42")
			if ex, _ := start.get("publicKey.excludeCredentials").([]any); len(ex) != 0 {
				t.Errorf("excludeCredentials = %v for a user without passkeys, want none", ex)
			}
			cred, err := e.auth.Create(softauthn.PublicKeyOf(start.Body))
			if err != nil {
				t.Fatalf("authenticator.Create: %v", err)
			}
			fin := e.front(t, "append/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)})
			fin.wantStatus(t, http.StatusOK)
			credID := base64.RawURLEncoding.EncodeToString(e.auth.Creds[0].ID)
			checkPasskey(t, fin.get("passkey"), credID, false)

			tok := e.backend(t, http.MethodGet, "/v2/connectTokens/"+minted.str(t, "id"), nil)
			if s := tok.str(t, "connectTokenStatus"); s != "consumed" {
				t.Errorf("append token status after append/finish = %q, want consumed", s)
			}

			// A second passkey: the first is excluded, so the same authenticator refuses, as
			// a browser would, and another one registers.
			start2 := e.front(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", "user-42")})
			start2.wantStatus(t, http.StatusOK)
			want := []any{map[string]any{"type": "public-key", "id": credID}}
			if diff := cmp.Diff(want, start2.get("publicKey.excludeCredentials"), ignoreKeys("transports")); diff != "" {
				t.Errorf("excludeCredentials after the first passkey (-want +got):\n%s", diff)
			}
			if start2.str(t, "publicKey.user.id") != start.str(t, "publicKey.user.id") {
				t.Errorf("user.id changed between ceremonies: %s, then %s", start.str(t, "publicKey.user.id"), start2.str(t, "publicKey.user.id"))
			}
			if _, err := e.auth.Create(softauthn.PublicKeyOf(start2.Body)); err == nil {
				t.Error("the authenticator holding an excluded credential created another one")
			}
			auth2 := softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
			cred2, err := auth2.Create(softauthn.PublicKeyOf(start2.Body))
			if err != nil {
				t.Fatalf("second authenticator.Create: %v", err)
			}
			fin2 := e.front(t, "append/finish", map[string]any{"ceremonyID": start2.str(t, "ceremonyID"), "credential": json.RawMessage(cred2)})
			fin2.wantStatus(t, http.StatusOK)
			checkPasskey(t, fin2.get("passkey"), base64.RawURLEncoding.EncodeToString(auth2.Creds[0].ID), false)
		})

		t.Run("login with identifier", func(t *testing.T) {
			e := newEnv(t, dialect)
			_, pk := e.register(t, "user-42")
			start := e.front(t, "login/start", map[string]any{"identifier": "user-42"})
			start.wantStatus(t, http.StatusOK)
			checkRequestOptions(t, start)
			want := []any{map[string]any{"type": "public-key", "id": pk["id"]}}
			if diff := cmp.Diff(want, start.get("publicKey.allowCredentials"), ignoreKeys("transports")); diff != "" {
				t.Errorf("allowCredentials (-want +got):\n%s", diff)
			}
			cred, err := e.auth.Get(softauthn.PublicKeyOf(start.Body))
			if err != nil {
				t.Fatalf("authenticator.Get: %v", err)
			}
			fin := e.front(t, "login/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)})
			fin.wantStatus(t, http.StatusOK)
			if got := fin.str(t, "username"); got != "user-42" {
				t.Errorf("username = %q, want user-42", got)
			}
			if spd := fin.str(t, "signedPasskeyData"); strings.Count(spd, ".") != 2 {
				t.Errorf("signedPasskeyData = %q, want a compact JWS", spd)
			}
			list := e.front(t, "manage/list", map[string]any{"connectToken": e.token(t, "passkey-list", "user-42")})
			list.wantStatus(t, http.StatusOK)
			passkeys := asList(list.get("passkeys"))
			if len(passkeys) != 1 {
				t.Fatalf("passkeys = %v, want one", list.get("passkeys"))
			}
			checkPasskey(t, passkeys[0], pk["id"].(string), true)
		})

		t.Run("login fallback", func(t *testing.T) {
			e := newEnv(t, dialect)
			e.mint(t, "passkey-append", "no-passkey") // creates the user, without a passkey
			want := map[string]any{"fallback": map[string]any{"reason": "no_passkey"}}
			for _, id := range []string{"unknown-user", "no-passkey"} {
				r := e.front(t, "login/start", map[string]any{"identifier": id})
				r.wantStatus(t, http.StatusOK)
				if diff := cmp.Diff(want, r.JSON); diff != "" {
					t.Errorf("login/start for %s (-want +got):\n%s", id, diff)
				}
			}
		})

		t.Run("usernameless login", func(t *testing.T) {
			e := newEnv(t, dialect)
			e.register(t, "user-42")
			start := e.front(t, "login/start", map[string]any{})
			start.wantStatus(t, http.StatusOK)
			checkRequestOptions(t, start)
			if allow, _ := start.get("publicKey.allowCredentials").([]any); len(allow) != 0 {
				t.Errorf("allowCredentials = %v for a usernameless login, want none", allow)
			}
			cred, err := e.auth.Get(softauthn.PublicKeyOf(start.Body))
			if err != nil {
				t.Fatalf("authenticator.Get: %v", err)
			}
			fin := e.front(t, "login/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)})
			fin.wantStatus(t, http.StatusOK)
			if got := fin.str(t, "username"); got != "user-42" {
				t.Errorf("username = %q, want user-42", got)
			}
		})

		t.Run("login with connect token", func(t *testing.T) {
			e := newEnv(t, dialect)
			e.register(t, "user-42")
			minted := e.mint(t, "passkey-login", "user-42")
			start := e.front(t, "login/start", map[string]any{"loginConnectToken": minted.str(t, "secret")})
			start.wantStatus(t, http.StatusOK)
			if allow, _ := start.get("publicKey.allowCredentials").([]any); len(allow) != 1 {
				t.Errorf("allowCredentials = %v, want the user's passkey", allow)
			}
			cred, err := e.auth.Get(softauthn.PublicKeyOf(start.Body))
			if err != nil {
				t.Fatalf("authenticator.Get: %v", err)
			}
			fin := e.front(t, "login/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)})
			fin.wantStatus(t, http.StatusOK)
			tok := e.backend(t, http.MethodGet, "/v2/connectTokens/"+minted.str(t, "id"), nil)
			if s := tok.str(t, "connectTokenStatus"); s != "consumed" {
				t.Errorf("login token status after login/finish = %q, want consumed", s)
			}
			claims, err := e.verifier().Verify(context.Background(), fin.str(t, "signedPasskeyData"))
			if err != nil {
				t.Fatalf("Verifier.Verify: %v", err)
			}
			if claims.ConnectTokenID != minted.str(t, "id") {
				t.Errorf("connectTokenID claim = %q, want %q", claims.ConnectTokenID, minted.str(t, "id"))
			}
		})

		t.Run("manage list", func(t *testing.T) {
			e := newEnv(t, dialect)
			start, pk := e.register(t, "user-42")
			r := e.front(t, "manage/list", map[string]any{"connectToken": e.token(t, "passkey-list", "user-42")})
			r.wantStatus(t, http.StatusOK)
			passkeys, _ := r.get("passkeys").([]any)
			if len(passkeys) != 1 {
				t.Fatalf("passkeys = %v, want one", r.get("passkeys"))
			}
			checkPasskey(t, passkeys[0], pk["id"].(string), false)
			want := map[string]any{"allAcceptedCredentials": map[string]any{
				"rpId": brokertest.RPID, "userId": start.str(t, "publicKey.user.id"), "allAcceptedCredentialIds": []any{pk["id"]}}}
			if diff := cmp.Diff(want, r.get("signal")); diff != "" {
				t.Errorf("signal (-want +got):\n%s", diff)
			}
		})

		t.Run("manage delete", func(t *testing.T) {
			e := newEnv(t, dialect)
			start, first := e.register(t, "user-42")
			e.auth = softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
			_, second := e.register(t, "user-42")
			r := e.front(t, "manage/delete", map[string]any{"connectToken": e.token(t, "passkey-delete", "user-42"), "credentialID": first["id"]})
			r.wantStatus(t, http.StatusOK)
			passkeys, _ := r.get("passkeys").([]any)
			if len(passkeys) != 1 {
				t.Fatalf("passkeys after delete = %v, want only the second", r.get("passkeys"))
			}
			checkPasskey(t, passkeys[0], second["id"].(string), false)
			want := map[string]any{"allAcceptedCredentials": map[string]any{
				"rpId": brokertest.RPID, "userId": start.str(t, "publicKey.user.id"), "allAcceptedCredentialIds": []any{second["id"]}}}
			if diff := cmp.Diff(want, r.get("signal")); diff != "" {
				t.Errorf("signal after delete (-want +got):\n%s", diff)
			}
			list := e.front(t, "manage/list", map[string]any{"connectToken": e.token(t, "passkey-list", "user-42")})
			list.wantStatus(t, http.StatusOK)
			if n := len(list.get("passkeys").([]any)); n != 1 {
				t.Errorf("manage/list after delete lists %d passkeys, want 1", n)
			}
		})

		t.Run("verify signed data", func(t *testing.T) {
			e := newEnv(t, dialect)
			_, pk := e.register(t, "user-42")
			spd := e.login(t, "user-42").str(t, "signedPasskeyData")
			r := e.backend(t, http.MethodPost, "/v2/passkey/verifySignedData", map[string]any{"signedPasskeyData": spd, "username": "user-42"})
			r.wantStatus(t, http.StatusOK)
			if got := r.str(t, "verificationResult"); got != "success" {
				t.Fatalf("verificationResult = %q, want success; body %s", got, r.Body)
			}
			if r.str(t, "reason") != "" || !strings.HasPrefix(r.str(t, "userID"), "usr-") ||
				r.str(t, "username") != "user-42" || r.str(t, "credentialID") != pk["id"] {
				t.Errorf("verification = %s, want reason \"\", userID usr-..., username user-42, credentialID %v", r.Body, pk["id"])
			}
			again := e.backend(t, http.MethodPost, "/v2/passkey/verifySignedData", map[string]any{"signedPasskeyData": spd, "username": "user-42"})
			again.wantStatus(t, http.StatusOK)
			if got := again.str(t, "verificationResult"); got != "invalid_challenge" {
				t.Errorf("second verification = %q, want invalid_challenge", got)
			}
			if again.str(t, "reason") == "" {
				t.Error("invalid_challenge without a reason")
			}

			spd2 := e.login(t, "user-42").str(t, "signedPasskeyData")
			mismatch := e.backend(t, http.MethodPost, "/v2/passkey/verifySignedData", map[string]any{"signedPasskeyData": spd2, "username": "someone-else"})
			if got := mismatch.str(t, "verificationResult"); got != "user_mismatch" {
				t.Errorf("verification with another username = %q, want user_mismatch", got)
			}
			plural := e.backend(t, http.MethodPost, "/v2/passkeys/verifySignedData", map[string]any{"signedPasskeyData": spd2})
			plural.wantStatus(t, http.StatusOK)
			if got := plural.str(t, "verificationResult"); got != "success" {
				t.Errorf("plural verification without username after a user_mismatch = %q, want success; body %s", got, plural.Body)
			}
			bad := e.backend(t, http.MethodPost, "/v2/passkeys/verifySignedData", map[string]any{"signedPasskeyData": "not.a.jws"})
			bad.wantStatus(t, http.StatusOK)
			if got := bad.str(t, "verificationResult"); got != "invalid_signature" {
				t.Errorf("verification of garbage = %q, want invalid_signature", got)
			}
		})

		t.Run("jwks", func(t *testing.T) {
			e := newEnv(t, dialect)
			r := e.doJSON(t, http.MethodGet, e.jwksPath(), nil, nil)
			r.wantStatus(t, http.StatusOK)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			cc := r.Header.Get("Cache-Control")
			age, err := strconv.Atoi(strings.TrimSpace(cc[strings.Index(cc, "max-age=")+len("max-age="):]))
			if !strings.Contains(cc, "public") || !strings.Contains(cc, "max-age=") || err != nil || age <= 0 {
				t.Errorf("Cache-Control = %q, want public, max-age=N", cc)
			}
			keys, _ := r.get("keys").([]any)
			if len(keys) == 0 {
				t.Fatalf("keys = %v, want at least one", r.get("keys"))
			}
			for _, k := range keys {
				key := k.(map[string]any)
				if kid, _ := key["kid"].(string); kid == "" || key["alg"] != "ES256" || key["use"] != "sig" || key["kty"] != "EC" || key["crv"] != "P-256" {
					t.Errorf("key = %v, want kid, alg ES256, use sig, kty EC, crv P-256", key)
				}
				if _, ok := key["d"]; ok {
					t.Errorf("key %v publishes its private part", key["kid"])
				}
			}
		})

		t.Run("offline verification", func(t *testing.T) {
			e := newEnv(t, dialect)
			start, pk := e.register(t, "user-42")
			spd := e.login(t, "user-42").str(t, "signedPasskeyData")
			c, err := e.verifier().Verify(context.Background(), spd)
			if err != nil {
				t.Fatalf("Verifier.Verify: %v", err)
			}
			if c.Issuer != e.f.Project.ID || !strings.HasPrefix(c.Subject, "usr-") || c.Username != "user-42" ||
				c.Credential != pk["id"] || c.WebAuthnID != start.str(t, "publicKey.user.id") || c.ID == "" || c.ProcessID == "" {
				t.Errorf("claims = %+v, want iss %s, sub usr-..., username user-42, credential %v, webauthnId %s",
					c, e.f.Project.ID, pk["id"], start.str(t, "publicKey.user.id"))
			}
			if life := c.Expires.Sub(c.IssuedAt); life <= 0 || life > 300*time.Second {
				t.Errorf("exp - iat = %v, want in (0, 300s]", life)
			}
			if !c.UV || c.IsCUI {
				t.Errorf("uv = %v, isCUI = %v, want true, false", c.UV, c.IsCUI)
			}
			other := &signeddata.Verifier{JWKSURL: e.srv.URL + e.jwksPath(), ProjectID: "prj-other", Client: e.srv.Client()}
			if _, err := other.Verify(context.Background(), spd); err == nil {
				t.Error("a verifier expecting another project accepted the token")
			}
		})

		t.Run("health", func(t *testing.T) {
			e := newEnv(t, dialect)
			for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
				r := e.doJSON(t, http.MethodGet, path, nil, nil)
				r.wantStatus(t, http.StatusOK)
				if got := r.str(t, "status"); got != want {
					t.Errorf("GET %s status = %q, want %q", path, got, want)
				}
			}
		})
	})
}

func (e *env) jwksPath() string {
	return "/v2/projects/" + e.f.Project.ID + "/.well-known/jwks.json"
}

// verifier verifies signedPasskeyData offline against the test server's JWKS.
func (e *env) verifier() *signeddata.Verifier {
	return &signeddata.Verifier{JWKSURL: e.srv.URL + e.jwksPath(), ProjectID: e.f.Project.ID, Client: e.srv.Client()}
}

// ignoreKeys ignores the named members of JSON objects decoded into maps.
func ignoreKeys(keys ...string) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		mi, ok := p.Last().(cmp.MapIndex)
		return ok && slices.Contains(keys, mi.Key().String())
	}, cmp.Ignore())
}

// b64url decodes a base64url value without padding, failing the test if it is not one.
func b64url(t testing.TB, name string, v any) []byte {
	t.Helper()
	s, _ := v.(string)
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || s == "" {
		t.Errorf("%s = %#v, want base64url without padding", name, v)
	}
	return b
}

// checkCreationOptions checks that the publicKey of an append/start response is a
// PublicKeyCredentialCreationOptionsJSON as WebAuthn Level 3 defines it.
func checkCreationOptions(t *testing.T, start response, name, displayName string) {
	t.Helper()
	if got := start.get("publicKey.rp.id"); got != brokertest.RPID {
		t.Errorf("rp.id = %v, want %s", got, brokertest.RPID)
	}
	if got, _ := start.get("publicKey.rp.name").(string); got == "" {
		t.Error("rp.name is empty")
	}
	if handle := b64url(t, "user.id", start.get("publicKey.user.id")); len(handle) < 16 || len(handle) > 64 {
		t.Errorf("user.id is %d bytes, want 16 to 64", len(handle))
	}
	if got := start.get("publicKey.user.name"); got != name {
		t.Errorf("user.name = %v, want %s", got, name)
	}
	if got := start.get("publicKey.user.displayName"); got != displayName {
		t.Errorf("user.displayName = %v, want %s", got, displayName)
	}
	if c := b64url(t, "challenge", start.get("publicKey.challenge")); len(c) < 16 {
		t.Errorf("challenge is %d bytes, want at least 16", len(c))
	}
	params, _ := start.get("publicKey.pubKeyCredParams").([]any)
	es256 := false
	for _, p := range params {
		m, _ := p.(map[string]any)
		if m["type"] != "public-key" {
			t.Errorf("pubKeyCredParams member %v, want type public-key", p)
		}
		if _, ok := m["alg"].(float64); !ok {
			t.Errorf("pubKeyCredParams member %v, want a numeric alg", p)
		}
		es256 = es256 || m["alg"] == float64(-7)
	}
	if !es256 {
		t.Errorf("pubKeyCredParams = %v, want ES256 (-7) among them", params)
	}
	if got := start.get("publicKey.authenticatorSelection.residentKey"); got != "preferred" {
		t.Errorf("authenticatorSelection.residentKey = %v, want preferred", got)
	}
	if got := start.get("publicKey.attestation"); got != "none" {
		t.Errorf("attestation = %v, want none", got)
	}
	if timeout, ok := start.get("publicKey.timeout").(float64); ok && timeout <= 0 {
		t.Errorf("timeout = %v, want positive milliseconds", timeout)
	}
}

// checkRequestOptions checks that the publicKey of a login/start response is a
// PublicKeyCredentialRequestOptionsJSON.
func checkRequestOptions(t *testing.T, start response) {
	t.Helper()
	if id := start.str(t, "ceremonyID"); id == "" {
		t.Error("ceremonyID is empty")
	}
	if c := b64url(t, "challenge", start.get("publicKey.challenge")); len(c) < 16 {
		t.Errorf("challenge is %d bytes, want at least 16", len(c))
	}
	if got := start.get("publicKey.rpId"); got != brokertest.RPID {
		t.Errorf("rpId = %v, want %s", got, brokertest.RPID)
	}
	for _, c := range asList(start.get("publicKey.allowCredentials")) {
		m, _ := c.(map[string]any)
		b64url(t, "allowCredentials[].id", m["id"])
		if m["type"] != "public-key" {
			t.Errorf("allowCredentials member %v, want type public-key", c)
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// checkPasskey checks a contract Passkey object with credential ID id.
func checkPasskey(t *testing.T, v any, id string, used bool) {
	t.Helper()
	pk, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("passkey = %#v, want an object", v)
	}
	if pk["id"] != id {
		t.Errorf("passkey id = %v, want %s", pk["id"], id)
	}
	for _, k := range []string{"label", "providerName", "aaguid", "createdAt"} {
		if _, ok := pk[k].(string); !ok {
			t.Errorf("passkey %s = %#v, want a string", k, pk[k])
		}
	}
	if pk["label"] == "" {
		t.Error("passkey label is empty")
	}
	for _, k := range []string{"backupEligible", "backedUp"} {
		if _, ok := pk[k].(bool); !ok {
			t.Errorf("passkey %s = %#v, want a boolean", k, pk[k])
		}
	}
	if transports := asList(pk["transports"]); !slices.Contains(transports, any("internal")) {
		t.Errorf("passkey transports = %#v, want the authenticator's [internal hybrid]", pk["transports"])
	}
	created, err := time.Parse(time.RFC3339, pk["createdAt"].(string))
	if err != nil || time.Since(created) > time.Minute || time.Until(created) > time.Minute {
		t.Errorf("passkey createdAt = %v, want an RFC 3339 time of now", pk["createdAt"])
	}
	last, present := pk["lastUsedAt"]
	switch {
	case !present:
		t.Error("passkey has no lastUsedAt member")
	case !used && last != nil:
		t.Errorf("passkey lastUsedAt = %v, want null before any login", last)
	case used && last == nil:
		t.Error("passkey lastUsedAt = null after a login")
	}
}
