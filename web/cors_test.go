package web_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
)

const allowedOrigin = "http://localhost:3000" // the fixture project's second web origin

// headerHas reports whether the comma-separated header values of key in h include want,
// case-insensitively.
func headerHas(h http.Header, key, want string) bool {
	for _, v := range h.Values(key) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), want) {
				return true
			}
		}
	}
	return false
}

func TestCORS(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		ops := []string{"login/start", "login/finish", "append/start", "append/finish", "manage/list", "manage/delete"}
		preflight := func(path, origin string) response {
			return e.doJSON(t, http.MethodOptions, path, nil, map[string]string{
				"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
		}

		t.Run("preflight from an allowed origin", func(t *testing.T) {
			for _, op := range ops {
				r := preflight(e.frontPath(op), allowedOrigin)
				r.wantStatus(t, http.StatusNoContent)
				if got := r.Header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
					t.Errorf("%s: Access-Control-Allow-Origin = %q, want %q", op, got, allowedOrigin)
				}
				if !headerHas(r.Header, "Access-Control-Allow-Methods", "POST") {
					t.Errorf("%s: Access-Control-Allow-Methods = %q, want POST", op, r.Header.Get("Access-Control-Allow-Methods"))
				}
				if !headerHas(r.Header, "Access-Control-Allow-Headers", "Content-Type") {
					t.Errorf("%s: Access-Control-Allow-Headers = %q, want Content-Type", op, r.Header.Get("Access-Control-Allow-Headers"))
				}
				if age, err := strconv.Atoi(r.Header.Get("Access-Control-Max-Age")); err != nil || age <= 0 {
					t.Errorf("%s: Access-Control-Max-Age = %q, want seconds", op, r.Header.Get("Access-Control-Max-Age"))
				}
				if !headerHas(r.Header, "Vary", "Origin") {
					t.Errorf("%s: Vary = %q, want Origin", op, r.Header.Values("Vary"))
				}
				if got := r.Header.Get("Access-Control-Allow-Credentials"); got != "" {
					t.Errorf("%s: Access-Control-Allow-Credentials = %q, want none (no cookies)", op, got)
				}
				if len(r.Body) != 0 {
					t.Errorf("%s: preflight body = %q, want empty", op, r.Body)
				}
			}
		})

		t.Run("preflight from a refused origin", func(t *testing.T) {
			for _, op := range ops {
				r := preflight(e.frontPath(op), "https://evil.example")
				assertError(t, r, http.StatusForbidden, "forbidden_origin")
				for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
					if got := r.Header.Get(h); got != "" {
						t.Errorf("%s: %s = %q on a refused preflight", op, h, got)
					}
				}
				if !headerHas(r.Header, "Vary", "Origin") {
					t.Errorf("%s: Vary = %q, want Origin", op, r.Header.Values("Vary"))
				}
			}
		})

		t.Run("POST from a refused origin", func(t *testing.T) {
			r := e.doJSON(t, http.MethodPost, e.frontPath("login/start"), `{}`, map[string]string{"Origin": "https://evil.example"})
			assertError(t, r, http.StatusForbidden, "forbidden_origin")
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("Access-Control-Allow-Origin = %q on a refused origin", got)
			}
			if !headerHas(r.Header, "Vary", "Origin") {
				t.Errorf("Vary = %q, want Origin", r.Header.Values("Vary"))
			}
		})

		t.Run("POST from an allowed origin", func(t *testing.T) {
			r := e.doJSON(t, http.MethodPost, e.frontPath("login/start"), `{}`, map[string]string{"Origin": allowedOrigin})
			r.wantStatus(t, http.StatusOK)
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, allowedOrigin)
			}
			if !headerHas(r.Header, "Access-Control-Expose-Headers", "X-Request-ID") {
				t.Errorf("Access-Control-Expose-Headers = %q, want X-Request-ID", r.Header.Get("Access-Control-Expose-Headers"))
			}
			if !headerHas(r.Header, "Vary", "Origin") {
				t.Errorf("Vary = %q, want Origin", r.Header.Values("Vary"))
			}
		})

		t.Run("error from an allowed origin is readable", func(t *testing.T) {
			r := e.doJSON(t, http.MethodPost, e.frontPath("append/start"), `{"connectToken":"x"}`, map[string]string{"Origin": allowedOrigin})
			assertError(t, r, http.StatusUnauthorized, "invalid_connect_token")
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q on an error, want %q", got, allowedOrigin)
			}
		})

		t.Run("no Origin (native app)", func(t *testing.T) {
			r := e.doJSON(t, http.MethodPost, e.frontPath("login/start"), `{}`, nil)
			r.wantStatus(t, http.StatusOK)
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("Access-Control-Allow-Origin = %q without Origin, want none", got)
			}
			if !headerHas(r.Header, "Vary", "Origin") {
				t.Errorf("Vary = %q, want Origin", r.Header.Values("Vary"))
			}
		})

		t.Run("origin of another project", func(t *testing.T) {
			other, _ := e.f.AddProject(t, "other.example", "https://other.example")
			r := e.doJSON(t, http.MethodPost, e.frontPath("login/start"), `{}`, map[string]string{"Origin": "https://other.example"})
			assertError(t, r, http.StatusForbidden, "forbidden_origin")
			otherPath := "/v2/projects/" + other.ID + "/connect/login/start"
			r = e.doJSON(t, http.MethodPost, otherPath, `{}`, map[string]string{"Origin": brokertest.Origin})
			assertError(t, r, http.StatusForbidden, "forbidden_origin")
			r = e.doJSON(t, http.MethodPost, otherPath, `{}`, map[string]string{"Origin": "https://other.example"})
			r.wantStatus(t, http.StatusOK)
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "https://other.example" {
				t.Errorf("other project: Access-Control-Allow-Origin = %q, want https://other.example", got)
			}
			assertError(t, preflight(otherPath, brokertest.Origin), http.StatusForbidden, "forbidden_origin")
		})

		t.Run("JWKS is readable from anywhere", func(t *testing.T) {
			r := e.doJSON(t, http.MethodGet, e.jwksPath(), nil, map[string]string{"Origin": "https://evil.example"})
			r.wantStatus(t, http.StatusOK)
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("JWKS Access-Control-Allow-Origin = %q, want *", got)
			}
		})

		t.Run("backend API sends no CORS headers", func(t *testing.T) {
			h := e.basic()
			h["Origin"] = allowedOrigin
			r := e.doJSON(t, http.MethodPost, "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u"}}`, h)
			r.wantStatus(t, http.StatusOK)
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("backend Access-Control-Allow-Origin = %q, want none: browsers must not call it", got)
			}
		})
	})
}

func TestSecurityHeaders(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		mint := `{"type":"passkey-list","data":{"identifier":"u"}}`
		for _, tc := range []struct {
			name, method, path string
			body               any
			headers            map[string]string
			status             int
		}{
			{"healthz", http.MethodGet, "/healthz", nil, nil, http.StatusOK},
			{"readyz", http.MethodGet, "/readyz", nil, nil, http.StatusOK},
			{"mint", http.MethodPost, "/v2/connectTokens", mint, e.basic(), http.StatusOK},
			{"login_error", http.MethodPost, "/v2/connectTokens", mint, nil, http.StatusUnauthorized},
			{"get unknown token", http.MethodGet, "/v2/connectTokens/ctk-0", nil, e.basic(), http.StatusNotFound},
			{"verify", http.MethodPost, "/v2/passkeys/verifySignedData", `{"signedPasskeyData":"a.b.c"}`, e.basic(), http.StatusOK},
			{"login/start", http.MethodPost, e.frontPath("login/start"), `{}`, map[string]string{"Origin": brokertest.Origin}, http.StatusOK},
			{"forbidden origin", http.MethodPost, e.frontPath("login/start"), `{}`, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
			{"preflight", http.MethodOptions, e.frontPath("login/start"), nil, map[string]string{"Origin": brokertest.Origin}, http.StatusNoContent},
			{"invalid_json", http.MethodPost, e.frontPath("login/start"), `{`, nil, http.StatusBadRequest},
			{"unknown route", http.MethodGet, "/nope", nil, nil, http.StatusNotFound},
			{"unknown project JWKS", http.MethodGet, "/v2/projects/prj-0/.well-known/jwks.json", nil, nil, http.StatusNotFound},
			{"JWKS", http.MethodGet, e.jwksPath(), nil, nil, http.StatusOK},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.doJSON(t, tc.method, tc.path, tc.body, tc.headers)
				r.wantStatus(t, tc.status)
				if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
				}
				wantCache := "no-store"
				if tc.name == "JWKS" {
					wantCache = "public, max-age=300"
				}
				if got := r.Header.Get("Cache-Control"); got != wantCache {
					t.Errorf("Cache-Control = %q, want %q", got, wantCache)
				}
				if id := r.Header.Get("X-Request-ID"); !strings.HasPrefix(id, "req-") {
					t.Errorf("X-Request-ID = %q, want req-...", id)
				}
			})
		}
		t.Run("request IDs differ", func(t *testing.T) {
			seen := map[string]bool{}
			for range 20 {
				id := e.doJSON(t, http.MethodGet, "/healthz", nil, nil).Header.Get("X-Request-ID")
				if seen[id] {
					t.Fatalf("request ID %s given twice", id)
				}
				seen[id] = true
			}
		})
	})
}

// TestFailedRequestsChangeNothing checks that a request that fails leaves every row of the
// store as it was.
func TestFailedRequestsChangeNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register(t, "user-42")
		cases := []struct {
			name string
			// prepare does what the failing request needs and returns the request.
			prepare func(t *testing.T) func() response
			status  int
			typ     string
		}{
			{"append/start with a bad token", func(t *testing.T) func() response {
				return func() response { return e.front(t, "append/start", map[string]any{"connectToken": "ctk1_garbage"}) }
			}, http.StatusUnauthorized, "invalid_connect_token"},
			{"append/start with a list token", func(t *testing.T) func() response {
				tok := e.token(t, "passkey-list", "user-42")
				return func() response { return e.front(t, "append/start", map[string]any{"connectToken": tok}) }
			}, http.StatusUnauthorized, "invalid_connect_token"},
			{"mint with a wrong secret", func(t *testing.T) func() response {
				return func() response {
					return e.doJSON(t, http.MethodPost, "/v2/connectTokens", `{"type":"passkey-append","data":{"identifier":"new","displayName":"New"}}`,
						map[string]string{"Authorization": basicAuth(e.f.Project.ID, "wrong")})
				}
			}, http.StatusUnauthorized, "login_error"},
			{"mint append without displayName", func(t *testing.T) func() response {
				return func() response {
					return e.backend(t, http.MethodPost, "/v2/connectTokens", `{"type":"passkey-append","data":{"identifier":"new"}}`)
				}
			}, http.StatusBadRequest, "validation_error"},
			{"append/finish that fails verification", func(t *testing.T) func() response {
				e.auth = softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
				start := e.front(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", "user-42")})
				cred, err := e.auth.Create(softauthn.PublicKeyOf(start.Body))
				if err != nil {
					t.Fatal(err)
				}
				bad := softauthn.Tamper(cred, "clientDataJSON", func(b []byte) []byte {
					return []byte(strings.Replace(string(b), brokertest.Origin, "https://evil.example", 1))
				})
				return func() response {
					return e.front(t, "append/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(bad)})
				}
			}, http.StatusBadRequest, "verification_failed"},
			{"append/finish of a registered credential", func(t *testing.T) func() response {
				auth := softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
				cred := softauthn.NewCredential()
				attest := func(user string) (string, []byte) {
					start := e.front(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", user)})
					att, err := auth.Attest(softauthn.PublicKeyOf(start.Body), cred)
					if err != nil {
						t.Fatal(err)
					}
					return start.str(t, "ceremonyID"), att
				}
				id, att := attest("user-50")
				e.front(t, "append/finish", map[string]any{"ceremonyID": id, "credential": json.RawMessage(att)}).wantStatus(t, http.StatusOK)
				id, att = attest("user-51")
				return func() response {
					return e.front(t, "append/finish", map[string]any{"ceremonyID": id, "credential": json.RawMessage(att)})
				}
			}, http.StatusConflict, "already_exists"},
			{"login/finish with a tampered signature", func(t *testing.T) func() response {
				e.auth = softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
				e.register(t, "user-60")
				start := e.front(t, "login/start", map[string]any{"identifier": "user-60", "loginConnectToken": e.token(t, "passkey-login", "user-60")})
				cred, err := e.auth.Get(softauthn.PublicKeyOf(start.Body))
				if err != nil {
					t.Fatal(err)
				}
				bad := softauthn.Tamper(cred, "signature", func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
				return func() response {
					return e.front(t, "login/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(bad)})
				}
			}, http.StatusBadRequest, "verification_failed"},
			{"manage/delete of a passkey the user does not have", func(t *testing.T) func() response {
				tok := e.token(t, "passkey-delete", "user-42")
				return func() response {
					return e.front(t, "manage/delete", map[string]any{"connectToken": tok, "credentialID": "AAAAAAAAAAAAAAAAAAAAAA"})
				}
			}, http.StatusNotFound, "not_found"},
			{"manage/list from a foreign origin", func(t *testing.T) func() response {
				tok := e.token(t, "passkey-list", "user-42")
				return func() response {
					return e.doJSON(t, http.MethodPost, e.frontPath("manage/list"), map[string]any{"connectToken": tok}, map[string]string{"Origin": "https://evil.example"})
				}
			}, http.StatusForbidden, "forbidden_origin"},
			{"verifySignedData for another user", func(t *testing.T) func() response {
				e.auth = softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
				e.register(t, "user-70")
				spd := e.login(t, "user-70").str(t, "signedPasskeyData")
				return func() response {
					return e.backend(t, http.MethodPost, "/v2/passkey/verifySignedData", map[string]any{"signedPasskeyData": spd, "username": "user-42"})
				}
			}, http.StatusOK, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				do := tc.prepare(t)
				before := e.f.Snapshot(t)
				r := do()
				if tc.typ != "" {
					assertError(t, r, tc.status, tc.typ)
				} else {
					r.wantStatus(t, tc.status)
					if got := r.str(t, "verificationResult"); got != "user_mismatch" {
						t.Fatalf("verificationResult = %q, want user_mismatch", got)
					}
				}
				if diff := cmp.Diff(before, e.f.Snapshot(t)); diff != "" {
					t.Errorf("the store changed (-before +after):\n%s", diff)
				}
			})
		}
	})
}
