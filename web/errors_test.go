package web_test

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/web"
)

// TestValidationErrors checks that invalid fields give 400 validation_error naming the field.
func TestValidationErrors(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		long := strings.Repeat("x", 256)
		backend := []struct {
			name, path string
			body       string
			field      string
		}{
			{"missing identifier", "/v2/connectTokens", `{"type":"passkey-list","data":{}}`, "data.identifier"},
			{"blank identifier", "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"  "}}`, "data.identifier"},
			{"identifier too long", "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"` + long + `"}}`, "data.identifier"},
			{"identifier with control character", "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"a\u0000b"}}`, "data.identifier"},
			{"append without displayName", "/v2/connectTokens", `{"type":"passkey-append","data":{"identifier":"u"}}`, "data.displayName"},
			{"unknown type", "/v2/connectTokens", `{"type":"passkey-steal","data":{"identifier":"u"}}`, "type"},
			{"missing type", "/v2/connectTokens", `{"data":{"identifier":"u"}}`, "type"},
			{"null body is an empty object", "/v2/connectTokens", `null`, "type"},
			{"lifetime zero", "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u"},"maxLifetimeInSeconds":0}`, "maxLifetimeInSeconds"},
			{"lifetime too long", "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u"},"maxLifetimeInSeconds":3601}`, "maxLifetimeInSeconds"},
			{"type is a number", "/v2/connectTokens", `{"type":5,"data":{"identifier":"u"}}`, "type"},
			{"identifier is a number", "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":5}}`, "data.identifier"},
			{"data is a string", "/v2/connectTokens", `{"type":"passkey-list","data":"u"}`, "data"},
			{"lifetime is a string", "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u"},"maxLifetimeInSeconds":"600"}`, "maxLifetimeInSeconds"},
			{"lifetime is fractional", "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u"},"maxLifetimeInSeconds":1.5}`, "maxLifetimeInSeconds"},
			{"verify without signedPasskeyData", "/v2/passkey/verifySignedData", `{"username":"u"}`, "signedPasskeyData"},
			{"verify without username", "/v2/passkey/verifySignedData", `{"signedPasskeyData":"a.b.c"}`, "username"},
			{"verify plural without signedPasskeyData", "/v2/passkeys/verifySignedData", `{}`, "signedPasskeyData"},
			{"signedPasskeyData is a number", "/v2/passkeys/verifySignedData", `{"signedPasskeyData":5}`, "signedPasskeyData"},
		}
		for _, tc := range backend {
			t.Run(tc.name, func(t *testing.T) {
				assertValidation(t, e.backend(t, http.MethodPost, tc.path, tc.body), tc.field)
			})
		}
		frontend := []struct {
			name, op string
			body     string
			field    string
		}{
			{"append/start without connectToken", "append/start", `{}`, "connectToken"},
			{"connectToken is a number", "append/start", `{"connectToken":5}`, "connectToken"},
			{"conditional is a string", "append/start", `{"connectToken":"x","conditional":"yes"}`, "conditional"},
			{"login/start identifier is a number", "login/start", `{"identifier":5}`, "identifier"},
			{"login/start identifier too long", "login/start", `{"identifier":"` + long + `"}`, "identifier"},
			{"login/start identifier with control character", "login/start", `{"identifier":"a\nb"}`, "identifier"},
			{"login/finish without ceremonyID", "login/finish", `{"credential":{}}`, "ceremonyID"},
			{"login/finish without credential", "login/finish", `{"ceremonyID":"cer-1"}`, "credential"},
			{"login/finish credential null", "login/finish", `{"ceremonyID":"cer-1","credential":null}`, "credential"},
			{"login/finish credential a string", "login/finish", `{"ceremonyID":"cer-1","credential":"x"}`, "credential"},
			{"login/finish credential unparsable", "login/finish", `{"ceremonyID":"cer-1","credential":{"id":"x"}}`, "credential"},
			{"append/finish credential unparsable", "append/finish", `{"ceremonyID":"cer-1","credential":{"type":"public-key"}}`, "credential"},
			{"ceremonyID is a number", "append/finish", `{"ceremonyID":1,"credential":{}}`, "ceremonyID"},
			{"manage/list without connectToken", "manage/list", `{}`, "connectToken"},
			{"manage/delete without credentialID", "manage/delete", `{"connectToken":"x"}`, "credentialID"},
			{"manage/delete credentialID not base64url", "manage/delete", `{"connectToken":"x","credentialID":"a+b/c="}`, "credentialID"},
		}
		for _, tc := range frontend {
			t.Run(tc.name, func(t *testing.T) {
				assertValidation(t, e.front(t, tc.op, tc.body), tc.field)
			})
		}
	})
}

// TestTypeErrorsNameTheSchemaType: a value of the wrong JSON type is told the type that
// openapi.yaml gives the field, with "integer" for integers.
func TestTypeErrorsNameTheSchemaType(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, tc := range []struct{ body, field, want string }{
		{`{"type":"passkey-list","data":{"identifier":"u"},"maxLifetimeInSeconds":1.5}`, "maxLifetimeInSeconds", "must be of type integer"},
		{`{"type":"passkey-list","data":{"identifier":"u"},"maxLifetimeInSeconds":1e100}`, "maxLifetimeInSeconds", "must be of type integer"},
		{`{"type":"passkey-list","data":{"identifier":"u"},"maxLifetimeInSeconds":"600"}`, "maxLifetimeInSeconds", "must be of type integer"},
		{`{"type":5,"data":{"identifier":"u"}}`, "type", "must be of type string"},
		{`{"type":"passkey-list","data":"u"}`, "data", "must be of type object"},
	} {
		env := assertError(t, e.backend(t, http.MethodPost, "/v2/connectTokens", tc.body), http.StatusBadRequest, "validation_error")
		if len(env.Error.Validation) != 1 || env.Error.Validation[0].Field != tc.field || env.Error.Validation[0].Message != tc.want {
			t.Errorf("%s: error.validation = %+v, want [{%s %s}]", tc.body, env.Error.Validation, tc.field, tc.want)
		}
	}
}

// TestInvalidJSON checks the bodies that are not one JSON object sent as application/json.
func TestInvalidJSON(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		valid := `{"type":"passkey-list","data":{"identifier":"u"}}`
		for _, tc := range []struct{ name, body, contentType string }{
			{"malformed", `{"type":passkey-list}`, "application/json"},
			{"truncated", valid[:len(valid)-1], "application/json"},
			{"trailing garbage", valid + ` x`, "application/json"},
			{"trailing brace", valid + `}`, "application/json"},
			{"two objects", valid + valid, "application/json"},
			{"empty body", ``, "application/json"},
			{"array instead of object", `[` + valid + `]`, "application/json"},
			{"string instead of object", `"passkey-list"`, "application/json"},
			{"number instead of object", `42`, "application/json"},
			{"text/plain", valid, "text/plain"},
			{"form", `type=passkey-list`, "application/x-www-form-urlencoded"},
			{"no Content-Type", valid, ""},
			{"malformed Content-Type", valid, "application/json; charset"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := e.basic()
				h["Content-Type"] = tc.contentType
				assertError(t, e.doJSON(t, http.MethodPost, "/v2/connectTokens", tc.body, h), http.StatusBadRequest, "invalid_json")
			})
		}
		t.Run("frontend text/plain", func(t *testing.T) {
			r := e.doJSON(t, http.MethodPost, e.frontPath("login/start"), `{}`, map[string]string{"Content-Type": "text/plain", "Origin": brokertest.Origin})
			assertError(t, r, http.StatusBadRequest, "invalid_json")
		})
		t.Run("charset parameter accepted", func(t *testing.T) {
			h := e.basic()
			h["Content-Type"] = "application/json; charset=utf-8"
			e.doJSON(t, http.MethodPost, "/v2/connectTokens", valid, h).wantStatus(t, http.StatusOK)
		})
		t.Run("whitespace around the object accepted", func(t *testing.T) {
			e.backend(t, http.MethodPost, "/v2/connectTokens", "\n\t "+valid+" \r\n").wantStatus(t, http.StatusOK)
		})
	})
}

// TestVerifyWithASecretRevokedElsewhere: the verify routes check the API secret in the
// broker, against the hashes it read last, confirmed by the store where the token is recorded.
// A secret revoked behind this server's back (another replica, the command line) is refused
// at once all the same, with 401 before anything the request body would earn, and the token
// it presented stays good for a live secret.
func TestVerifyWithASecretRevokedElsewhere(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		for _, c := range []struct {
			name string
			body func(token string) any
		}{
			{"a valid token", func(token string) any { return map[string]any{"signedPasskeyData": token, "username": "alice"} }},
			{"another user's name", func(token string) any { return map[string]any{"signedPasskeyData": token, "username": "bob"} }},
			{"no signedPasskeyData", func(string) any { return map[string]any{"username": "alice"} }},
			{"not JSON", func(string) any { return "{" }},
		} {
			t.Run(c.name, func(t *testing.T) {
				e := newEnv(t, dialect)
				e.register(t, "alice")
				id, secret, err := e.f.Broker.AddSecret(t.Context(), e.f.Project.ID)
				if err != nil {
					t.Fatal(err)
				}
				auth := map[string]string{"Authorization": basicAuth(e.f.Project.ID, secret)}
				verify := func(body any, headers map[string]string) response {
					return e.doJSON(t, http.MethodPost, "/v2/passkey/verifySignedData", body, headers)
				}
				warm := verify(map[string]any{"signedPasskeyData": e.login(t, "alice").str(t, "signedPasskeyData"), "username": "alice"}, auth)
				if warm.Status != http.StatusOK || warm.str(t, "verificationResult") != "success" {
					t.Fatalf("verify with the new secret = %d %s", warm.Status, warm.Body)
				}
				other, err := sqlstore.Open(t.Context(), e.f.URL, sqlstore.Config{})
				if err != nil {
					t.Fatal(err)
				}
				defer other.Close()
				if err := other.RevokeAPISecret(t.Context(), e.f.Project.ID, id, time.Now().UnixMilli()); err != nil {
					t.Fatal(err)
				}
				token := e.login(t, "alice").str(t, "signedPasskeyData")
				r := verify(c.body(token), auth)
				assertError(t, r, http.StatusUnauthorized, "login_error")
				ok := verify(map[string]any{"signedPasskeyData": token, "username": "alice"}, e.basic())
				if ok.Status != http.StatusOK || ok.str(t, "verificationResult") != "success" {
					t.Errorf("the token with a live secret, after the revoked one = %d %s; want success", ok.Status, ok.Body)
				}
			})
		}
	})
}

// TestLoginError checks the backend API's answer to wrong or missing credentials.
func TestLoginError(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id, secret := e.f.Project.ID, e.f.APISecret
		other, otherSecret := e.f.AddProject(t, "other.example", "https://other.example")
		revokedID, revoked, err := e.f.Broker.AddSecret(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.f.Broker.RevokeSecret(t.Context(), id, revokedID); err != nil {
			t.Fatal(err)
		}
		body := `{"type":"passkey-list","data":{"identifier":"u"}}`
		bodies := map[string][]byte{}
		for _, tc := range []struct{ name, authorization string }{
			{"no Authorization", ""},
			{"wrong secret", basicAuth(id, secret+"x")},
			{"unknown project", basicAuth("prj-000000000000000000000000", secret)},
			{"secret of another project", basicAuth(id, otherSecret)},
			{"project of another secret", basicAuth(other.ID, secret)},
			{"revoked secret", basicAuth(id, revoked)},
			{"empty secret", basicAuth(id, "")},
			{"empty project", basicAuth("", secret)},
			{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte(id+secret))},
			{"not base64", "Basic !!!" + id},
			{"Bearer", "Bearer " + secret},
			{"scheme only", "Basic"},
			{"project ID too long", basicAuth(strings.Repeat("p", 65), secret)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.doJSON(t, http.MethodPost, "/v2/connectTokens", body, map[string]string{"Authorization": tc.authorization})
				env := assertError(t, r, http.StatusUnauthorized, "login_error")
				if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
					t.Errorf("WWW-Authenticate = %q, want Basic realm=...", got)
				}
				bodies[tc.name] = bytes.Replace(r.Body, []byte(env.RequestData.RequestID), []byte("req-X"), 1)
			})
		}
		t.Run("same answer for unknown project and wrong secret", func(t *testing.T) {
			if !bytes.Equal(bodies["unknown project"], bodies["wrong secret"]) || len(bodies["wrong secret"]) == 0 {
				t.Errorf("unknown project answers\n%s\nwrong secret answers\n%s", bodies["unknown project"], bodies["wrong secret"])
			}
		})
		t.Run("every backend route", func(t *testing.T) {
			for _, rt := range []struct{ method, path string }{
				{http.MethodPost, "/v2/connectTokens"},
				{http.MethodGet, "/v2/connectTokens/ctk-000000000000000000000000"},
				{http.MethodDelete, "/v2/connectTokens/ctk-000000000000000000000000"},
				{http.MethodPost, "/v2/passkey/verifySignedData"},
				{http.MethodPost, "/v2/passkeys/verifySignedData"},
			} {
				r := e.doJSON(t, rt.method, rt.path, `{}`, map[string]string{"Authorization": basicAuth(id, "wrong")})
				if _, problem := checkEnvelope(r, http.StatusUnauthorized, "login_error"); problem != "" {
					t.Errorf("%s %s with a wrong secret: %s; body %s", rt.method, rt.path, problem, r.Body)
				}
			}
		})
	})
}

// TestInvalidConnectToken checks the tokens that authorise nothing.
func TestInvalidConnectToken(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		revoked := e.mint(t, "passkey-append", "user-42")
		e.backend(t, http.MethodDelete, "/v2/connectTokens/"+revoked.str(t, "id"), nil).wantStatus(t, http.StatusNoContent)
		consumed := e.token(t, "passkey-list", "user-42")
		e.front(t, "manage/list", map[string]any{"connectToken": consumed}).wantStatus(t, http.StatusOK)
		list := e.token(t, "passkey-list", "user-42")
		login := e.token(t, "passkey-login", "user-42")
		e.register(t, "user-42")

		for _, tc := range []struct {
			name, op string
			body     map[string]any
		}{
			{"garbage", "append/start", map[string]any{"connectToken": "garbage"}},
			{"wrong prefix", "append/start", map[string]any{"connectToken": "ctk2_" + strings.TrimPrefix(list, "ctk1_")}},
			{"revoked", "append/start", map[string]any{"connectToken": revoked.str(t, "secret")}},
			{"consumed", "manage/list", map[string]any{"connectToken": consumed}},
			{"list token on append/start", "append/start", map[string]any{"connectToken": list}},
			{"list token on manage/delete", "manage/delete", map[string]any{"connectToken": list, "credentialID": "AAAA"}},
			{"login token on manage/list", "manage/list", map[string]any{"connectToken": login}},
			{"list token as loginConnectToken", "login/start", map[string]any{"loginConnectToken": list}},
			{"login token for another identifier", "login/start", map[string]any{"loginConnectToken": login, "identifier": "user-43"}},
			{"garbage loginConnectToken", "login/start", map[string]any{"loginConnectToken": "x"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				assertError(t, e.front(t, tc.op, tc.body), http.StatusUnauthorized, "invalid_connect_token")
			})
		}
		t.Run("failures leave the token usable", func(t *testing.T) {
			e.front(t, "manage/list", map[string]any{"connectToken": list}).wantStatus(t, http.StatusOK)
		})
	})
}

// TestForbiddenOrigin checks that every frontend route refuses a foreign Origin.
func TestForbiddenOrigin(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		tok := e.token(t, "passkey-list", "user-42")
		for _, op := range []string{"login/start", "login/finish", "append/start", "append/finish", "manage/list", "manage/delete"} {
			for _, origin := range []string{"https://evil.example", "null", brokertest.Origin + "/", "http://localhost:8081", "https://localhost:8080"} {
				t.Run(op+" from "+origin, func(t *testing.T) {
					r := e.doJSON(t, http.MethodPost, e.frontPath(op), map[string]any{"connectToken": tok}, map[string]string{"Origin": origin})
					assertError(t, r, http.StatusForbidden, "forbidden_origin")
					if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
						t.Errorf("Access-Control-Allow-Origin = %q on a refused origin", got)
					}
				})
			}
		}
		t.Run("token unused", func(t *testing.T) {
			e.front(t, "manage/list", map[string]any{"connectToken": tok}).wantStatus(t, http.StatusOK)
		})
	})
}

// TestNotFound checks unknown routes, tokens and projects.
func TestNotFound(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		unknownProject := "/v2/projects/prj-000000000000000000000000"
		for _, tc := range []struct {
			name, method, path string
			auth               bool
		}{
			{"unknown route", http.MethodGet, "/nope", false},
			{"unknown v2 route", http.MethodGet, "/v2/nope", true},
			{"unknown frontend operation", http.MethodPost, e.frontPath("login/nope"), false},
			{"unknown connect token", http.MethodGet, "/v2/connectTokens/ctk-000000000000000000000000", true},
			{"revoke unknown connect token", http.MethodDelete, "/v2/connectTokens/ctk-000000000000000000000000", true},
			{"unknown project on frontend", http.MethodPost, unknownProject + "/connect/login/start", false},
			{"unknown project JWKS", http.MethodGet, unknownProject + "/.well-known/jwks.json", false},
			{"project ID too long on frontend", http.MethodPost, "/v2/projects/" + strings.Repeat("p", 65) + "/connect/login/start", false},
			{"project ID too long JWKS", http.MethodGet, "/v2/projects/" + strings.Repeat("p", 65) + "/.well-known/jwks.json", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := map[string]string{}
				if tc.auth {
					h = e.basic()
				}
				assertError(t, e.doJSON(t, tc.method, tc.path, `{}`, h), http.StatusNotFound, "not_found")
			})
		}
		t.Run("unknown project from an allowed origin", func(t *testing.T) {
			r := e.doJSON(t, http.MethodPost, unknownProject+"/connect/login/start", `{}`, map[string]string{"Origin": brokertest.Origin})
			assertError(t, r, http.StatusNotFound, "not_found")
		})
		t.Run("delete a passkey the user does not have", func(t *testing.T) {
			e.register(t, "user-42")
			tok := e.token(t, "passkey-delete", "user-42")
			r := e.front(t, "manage/delete", map[string]any{"connectToken": tok, "credentialID": "AAAAAAAAAAAAAAAAAAAAAA"})
			assertError(t, r, http.StatusNotFound, "not_found")
			// The token stays unused.
			list := e.front(t, "manage/delete", map[string]any{"connectToken": tok, "credentialID": base64.RawURLEncoding.EncodeToString(e.auth.Creds[0].ID)})
			list.wantStatus(t, http.StatusOK)
		})
		t.Run("wrong method", func(t *testing.T) {
			// echo answers 405 where no group catch-all route matches, 404 under one.
			for _, tc := range []struct {
				method, path string
				status       int
			}{
				{http.MethodPut, "/healthz", http.StatusMethodNotAllowed},
				{http.MethodGet, e.frontPath("login/start"), http.StatusNotFound},
			} {
				r := e.doJSON(t, tc.method, tc.path, `{}`, nil)
				if _, problem := checkEnvelope(r, tc.status, "not_found"); problem != "" {
					t.Errorf("%s %s: %s; body %s", tc.method, tc.path, problem, r.Body)
				}
			}
		})
	})
}

// TestCeremonyErrors checks ceremony_not_found, unknown_credential, verification_failed and
// already_exists on the finish routes.
func TestCeremonyErrors(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		t.Run("append finish twice", func(t *testing.T) {
			e := newEnv(t, dialect)
			start := e.front(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", "user-42")})
			cred, err := e.auth.Create(softauthn.PublicKeyOf(start.Body))
			if err != nil {
				t.Fatal(err)
			}
			body := map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)}
			e.front(t, "append/finish", body).wantStatus(t, http.StatusOK)
			assertError(t, e.front(t, "append/finish", body), http.StatusGone, "ceremony_not_found")
		})
		t.Run("login finish twice", func(t *testing.T) {
			e := newEnv(t, dialect)
			e.register(t, "user-42")
			start := e.front(t, "login/start", map[string]any{"identifier": "user-42"})
			cred, err := e.auth.Get(softauthn.PublicKeyOf(start.Body))
			if err != nil {
				t.Fatal(err)
			}
			body := map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)}
			e.front(t, "login/finish", body).wantStatus(t, http.StatusOK)
			assertError(t, e.front(t, "login/finish", body), http.StatusGone, "ceremony_not_found")
		})
		t.Run("unknown or mismatched ceremony", func(t *testing.T) {
			e := newEnv(t, dialect)
			start := e.front(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", "user-42")})
			cred, err := e.auth.Create(softauthn.PublicKeyOf(start.Body))
			if err != nil {
				t.Fatal(err)
			}
			loginStart := e.front(t, "login/start", map[string]any{})
			loginStart.wantStatus(t, http.StatusOK)
			for _, id := range []string{"cer-000000000000000000000000", loginStart.str(t, "ceremonyID")} {
				r := e.front(t, "append/finish", map[string]any{"ceremonyID": id, "credential": json.RawMessage(cred)})
				assertError(t, r, http.StatusGone, "ceremony_not_found")
			}
			// The append ceremony itself is untouched.
			e.front(t, "append/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)}).
				wantStatus(t, http.StatusOK)
		})
		t.Run("unknown credential", func(t *testing.T) {
			e := newEnv(t, dialect)
			_, pk := e.register(t, "user-42")
			del := e.front(t, "manage/delete", map[string]any{"connectToken": e.token(t, "passkey-delete", "user-42"), "credentialID": pk["id"]})
			del.wantStatus(t, http.StatusOK)
			start := e.front(t, "login/start", map[string]any{})
			cred, err := e.auth.Get(softauthn.PublicKeyOf(start.Body))
			if err != nil {
				t.Fatal(err)
			}
			r := e.front(t, "login/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)})
			env := assertError(t, r, http.StatusNotFound, "unknown_credential")
			if env.Error.Signal == nil || env.Error.Signal.UnknownCredential.RPID != brokertest.RPID ||
				env.Error.Signal.UnknownCredential.CredentialID != pk["id"] {
				t.Errorf("error.signal = %s, want unknownCredential {rpId %s, credentialId %v}", r.raw(t, "error"), brokertest.RPID, pk["id"])
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != brokertest.Origin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %s so that the page can read the signal", got, brokertest.Origin)
			}
		})
		t.Run("tampered signature", func(t *testing.T) {
			e := newEnv(t, dialect)
			e.register(t, "user-42")
			start := e.front(t, "login/start", map[string]any{"identifier": "user-42"})
			cred, err := e.auth.Get(softauthn.PublicKeyOf(start.Body))
			if err != nil {
				t.Fatal(err)
			}
			bad := softauthn.Tamper(cred, "signature", func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
			r := e.front(t, "login/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(bad)})
			assertError(t, r, http.StatusBadRequest, "verification_failed")
		})
		t.Run("tampered challenge on append", func(t *testing.T) {
			e := newEnv(t, dialect)
			start := e.front(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", "user-42")})
			cred, err := e.auth.Create(softauthn.PublicKeyOf(start.Body))
			if err != nil {
				t.Fatal(err)
			}
			bad := softauthn.Tamper(cred, "clientDataJSON", func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"challenge":"`), []byte(`"challenge":"AAAA`), 1)
			})
			r := e.front(t, "append/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(bad)})
			assertError(t, r, http.StatusBadRequest, "verification_failed")
		})
		t.Run("credential registered twice", func(t *testing.T) {
			// A replayed credential ID for another user: the software authenticator attests the
			// same key pair twice, which a real authenticator would not.
			e := newEnv(t, dialect)
			auth := softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
			cred := softauthn.NewCredential()
			for i, user := range []string{"user-42", "user-43"} {
				start := e.front(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", user)})
				start.wantStatus(t, http.StatusOK)
				att, err := auth.Attest(softauthn.PublicKeyOf(start.Body), cred)
				if err != nil {
					t.Fatal(err)
				}
				r := e.front(t, "append/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(att)})
				if i == 0 {
					r.wantStatus(t, http.StatusOK)
				} else {
					assertError(t, r, http.StatusConflict, "already_exists")
				}
			}
		})
	})
}

// TestPayloadTooLarge checks the 64 KiB body limit, with and without Content-Length.
func TestPayloadTooLarge(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		// padded returns a valid JSON object of exactly n bytes.
		padded := func(n int) []byte {
			obj := `{"connectToken":"x"}`
			return []byte(obj[:len(obj)-1] + strings.Repeat(" ", n-len(obj)) + "}")
		}
		t.Run("Content-Length over the limit", func(t *testing.T) {
			for _, path := range []string{e.frontPath("append/start"), "/v2/connectTokens"} {
				r := e.doJSON(t, http.MethodPost, path, padded(65<<10), e.basic())
				assertError(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")
			}
		})
		t.Run("one byte over the limit", func(t *testing.T) {
			assertError(t, e.front(t, "append/start", padded(web.MaxBodyBytes+1)), http.StatusRequestEntityTooLarge, "payload_too_large")
		})
		t.Run("exactly the limit", func(t *testing.T) {
			assertError(t, e.front(t, "append/start", padded(web.MaxBodyBytes)), http.StatusUnauthorized, "invalid_connect_token")
		})
		t.Run("chunked over the limit", func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, e.srv.URL+e.frontPath("append/start"), io.MultiReader(bytes.NewReader(padded(65<<10))))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if req.ContentLength != 0 {
				t.Fatalf("ContentLength = %d, want unknown so that the body is sent chunked", req.ContentLength)
			}
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			assertError(t, newResponse(res.StatusCode, res.Header, raw), http.StatusRequestEntityTooLarge, "payload_too_large")
		})
		t.Run("unknown length over the limit, in process", func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, e.frontPath("append/start"), io.MultiReader(bytes.NewReader(padded(1<<20))))
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = -1
			assertError(t, serve(e.h, req), http.StatusRequestEntityTooLarge, "payload_too_large")
		})
	})
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestInternalError breaks a project's signing key in the database behind the broker's back:
// the client gets a bare 500 internal_error, the log gets the detail.
func TestInternalError(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		f := brokertest.New(t, dialect)
		var log lockedBuffer
		h := web.New(f.Broker, slog.New(slog.NewTextHandler(&log, nil)))
		db := openRaw(t, dialect, f.URL)
		if _, err := db.Exec(`UPDATE signing_keys SET public_key = 'AAAA' WHERE project_id = '` + f.Project.ID + `'`); err != nil {
			t.Fatal(err)
		}
		var kid string
		if err := db.QueryRow(`SELECT id FROM signing_keys WHERE project_id = '` + f.Project.ID + `'`).Scan(&kid); err != nil {
			t.Fatal(err)
		}
		r := serve(h, httptest.NewRequest(http.MethodGet, "/v2/projects/"+f.Project.ID+"/.well-known/jwks.json", nil))
		env := assertError(t, r, http.StatusInternalServerError, "internal_error")
		if env.Message != "Internal error." || env.Error.Details != "" || len(env.Error.Validation) != 0 {
			t.Errorf("500 envelope = %s, want message \"Internal error.\" and no details", r.Body)
		}
		for _, leak := range []string{kid, "public key", "x509", "asn1", f.Project.ID} {
			if bytes.Contains(r.Body, []byte(leak)) {
				t.Errorf("500 body %s leaks %q", r.Body, leak)
			}
		}
		logged := log.String()
		if !strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, env.RequestData.RequestID) || !strings.Contains(logged, kid) {
			t.Errorf("log = %q, want an ERROR line with the request ID %s and the internal detail", logged, env.RequestData.RequestID)
		}
	})
}

// openRaw opens the fixture's database directly, behind the broker's back.
func openRaw(t *testing.T, dialect, url string) *sql.DB {
	t.Helper()
	driver, dsn := "postgres", url
	if dialect == "sqlite" {
		driver, dsn = "sqlite", "file:"+strings.TrimPrefix(url, "sqlite:")+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestUnavailable closes the store under a running server: every route that needs it
// answers 503 unavailable with Retry-After, never 500.
func TestUnavailable(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		tok := e.token(t, "passkey-list", "user-42")
		if err := e.f.Store.Close(); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, method, path string
			body               any
			headers            map[string]string
		}{
			{"readyz", http.MethodGet, "/readyz", nil, nil},
			{"mint", http.MethodPost, "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u"}}`, e.basic()},
			{"get token", http.MethodGet, "/v2/connectTokens/ctk-000000000000000000000000", nil, e.basic()},
			{"jwks", http.MethodGet, e.jwksPath(), nil, nil},
			// (A usernameless login/start needs no store: its ceremony is sealed into its ID.)
			{"login/start", http.MethodPost, e.frontPath("login/start"), `{"identifier":"user-42"}`, nil},
			{"manage/list", http.MethodPost, e.frontPath("manage/list"), map[string]any{"connectToken": tok}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.doJSON(t, tc.method, tc.path, tc.body, tc.headers)
				assertError(t, r, http.StatusServiceUnavailable, "unavailable")
				if got := r.Header.Get("Retry-After"); got == "" {
					t.Error("503 without Retry-After")
				}
			})
		}
		t.Run("healthz still answers", func(t *testing.T) {
			e.doJSON(t, http.MethodGet, "/healthz", nil, nil).wantStatus(t, http.StatusOK)
		})
	})
}

// TestHostileIDs sends IDs that no store can hold as text (NUL, invalid UTF-8) in every
// place an ID comes from the client: each is unknown or invalid, never a 500.
func TestHostileIDs(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		_, pk := e.register(t, "user-42")
		for _, bad := range []string{"%00", "%FF", "ctk-%00", "a%C0%AFb"} {
			t.Run("path "+bad, func(t *testing.T) {
				for _, tc := range []struct {
					method, path string
					auth         bool
				}{
					{http.MethodGet, "/v2/connectTokens/" + bad, true},
					{http.MethodDelete, "/v2/connectTokens/" + bad, true},
					{http.MethodPost, "/v2/projects/" + bad + "/connect/login/start", false},
					{http.MethodOptions, "/v2/projects/" + bad + "/connect/login/start", false},
					{http.MethodGet, "/v2/projects/" + bad + "/.well-known/jwks.json", false},
				} {
					h := map[string]string{}
					if tc.auth {
						h = e.basic()
					}
					r := e.doJSON(t, tc.method, tc.path, `{}`, h)
					if _, problem := checkEnvelope(r, http.StatusNotFound, "not_found"); problem != "" {
						t.Errorf("%s %s: %s; body %s", tc.method, tc.path, problem, r.Body)
					}
				}
			})
		}
		for _, bad := range []string{"\x00", "prj-\xff", "\xc0\xaf"} {
			t.Run("Basic user "+strconv.Quote(bad), func(t *testing.T) {
				r := e.doJSON(t, http.MethodPost, "/v2/connectTokens", `{}`, map[string]string{"Authorization": basicAuth(bad, e.f.APISecret)})
				assertError(t, r, http.StatusUnauthorized, "login_error")
			})
		}
		for _, bad := range []string{"\x00", "cer-\x00", "\xff", "cer-" + strings.Repeat("0", 61), "cls-" + strings.Repeat("A", 253), "cls-\x00"} {
			t.Run("ceremonyID "+strconv.Quote(bad), func(t *testing.T) {
				// json.Marshal sends NUL as \u0000 and invalid UTF-8 as U+FFFD, as a client would.
				loginStart := e.front(t, "login/start", map[string]any{"identifier": "user-42"})
				assertion, err := e.auth.GetWith(softauthn.PublicKeyOf(loginStart.Body), pk["id"].(string))
				if err != nil {
					t.Fatal(err)
				}
				id, _ := json.Marshal(bad)
				body := append(append(append([]byte(`{"ceremonyID":`), id...), `,"credential":`...), assertion...)
				body = append(body, '}')
				assertValidation(t, e.front(t, "login/finish", body), "ceremonyID")
			})
		}
	})
}
