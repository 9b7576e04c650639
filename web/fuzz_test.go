package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
)

// fuzzRoutes are the POST routes whose bodies FuzzFrontendRequest sends.
var fuzzRoutes = []struct {
	op      string // frontend operation, or a backend path starting with /
	backend bool
}{
	{"login/start", false},
	{"login/finish", false},
	{"append/start", false},
	{"append/finish", false},
	{"manage/list", false},
	{"manage/delete", false},
	{"/v2/connectTokens", true},
	{"/v2/passkey/verifySignedData", true},
	{"/v2/passkeys/verifySignedData", true},
}

// FuzzFrontendRequest posts arbitrary bodies to the frontend and backend routes (route picks
// one; route/16%4 == 3 sends text/plain) and checks that the answer is never a 500, always
// JSON, and for a 4xx the whole error envelope. Placeholders in the body such as @APPEND@ are
// replaced with live values of this process's store, so that seeds reach the success paths.
// It runs on PostgreSQL when LATCHKEY_TEST_DATABASE_URL is set, the stricter store.
func FuzzFrontendRequest(f *testing.F) {
	dialects := brokertest.Dialects(f)
	e := newEnv(f, dialects[len(dialects)-1])

	// Live values: tokens of each type, a passkey, open ceremonies with their credentials,
	// and a signedPasskeyData.
	_, pk := e.register(f, "user-42")
	spd := e.login(f, "user-42").str(f, "signedPasskeyData")
	appendStart := e.front(f, "append/start", map[string]any{"connectToken": e.token(f, "passkey-append", "user-43")})
	attestation, err := e.auth.Create(softauthn.PublicKeyOf(appendStart.Body))
	if err != nil {
		f.Fatal(err)
	}
	loginStart := e.front(f, "login/start", map[string]any{"identifier": "user-42"})
	assertion, err := e.auth.GetWith(softauthn.PublicKeyOf(loginStart.Body), pk["id"].(string))
	if err != nil {
		f.Fatal(err)
	}
	placeholders := map[string]string{
		"@APPEND@":         e.token(f, "passkey-append", "user-42"),
		"@LIST@":           e.token(f, "passkey-list", "user-42"),
		"@DELETE@":         e.token(f, "passkey-delete", "user-42"),
		"@LOGIN@":          e.token(f, "passkey-login", "user-42"),
		"@CRED@":           pk["id"].(string),
		"@APPENDCEREMONY@": appendStart.str(f, "ceremonyID"),
		"@LOGINCEREMONY@":  loginStart.str(f, "ceremonyID"),
		"@ATTESTATION@":    string(attestation),
		"@ASSERTION@":      string(assertion),
		"@SPD@":            spd,
	}
	var pairs []string
	for k, v := range placeholders {
		pairs = append(pairs, k, v)
	}

	seeds := map[int][]string{
		0: {`{}`, `{"identifier":"user-42"}`, `{"identifier":"nobody","conditional":true}`, `{"loginConnectToken":"@LOGIN@"}`,
			`{"identifier":"user-43","loginConnectToken":"@LOGIN@"}`, `{"identifier":"\u0000"}`},
		1: {`{"ceremonyID":"@LOGINCEREMONY@","credential":@ASSERTION@}`, `{"ceremonyID":"@APPENDCEREMONY@","credential":@ASSERTION@}`,
			`{"ceremonyID":"@LOGINCEREMONY@","credential":{"id":"@CRED@","rawId":"@CRED@","type":"public-key","response":{}}}`,
			`{"ceremonyID":"\u0000","credential":@ASSERTION@}`},
		2: {`{"connectToken":"@APPEND@"}`, `{"connectToken":"@APPEND@","conditional":true}`, `{"connectToken":"@LIST@"}`, `{"connectToken":"ctk1_"}`},
		3: {`{"ceremonyID":"@APPENDCEREMONY@","credential":@ATTESTATION@}`, `{"ceremonyID":"@LOGINCEREMONY@","credential":@ATTESTATION@}`,
			`{"ceremonyID":"x","credential":{"response":{"attestationObject":"AAAA","clientDataJSON":"e30"}}}`},
		4: {`{"connectToken":"@LIST@"}`, `{"connectToken":"@DELETE@"}`},
		5: {`{"connectToken":"@DELETE@","credentialID":"@CRED@"}`, `{"connectToken":"@DELETE@","credentialID":"AAAA"}`},
		6: {`{"type":"passkey-append","data":{"identifier":"user-44","displayName":"D"},"maxLifetimeInSeconds":60}`,
			`{"type":"passkey-login","data":{"identifier":"\u00e9\u0000"}}`, `{"type":"passkey-list","data":{"identifier":"u"},"maxLifetimeInSeconds":1e100}`},
		7: {`{"signedPasskeyData":"@SPD@","username":"user-42"}`, `{"signedPasskeyData":"a.b.c","username":"u"}`},
		8: {`{"signedPasskeyData":"@SPD@"}`, `{"signedPasskeyData":"eyJhbGciOiJub25lIn0.e30."}`},
	}
	for route, bodies := range seeds {
		for _, b := range bodies {
			f.Add(uint8(route), []byte(b))
		}
	}
	for route := range fuzzRoutes {
		for _, b := range []string{``, `{`, `[]`, `null`, `"x"`, `{"a":1}{}`, `{"connectToken":5}`, `{"credential":[]}`} {
			f.Add(uint8(route), []byte(b))
		}
		f.Add(uint8(route+48), []byte(`{}`)) // as text/plain
	}

	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		for i := 0; i < len(pairs); i += 2 {
			body = bytes.ReplaceAll(body, []byte(pairs[i]), []byte(pairs[i+1]))
		}
		path := rt.op
		if !rt.backend {
			path = e.frontPath(rt.op)
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if route/16%4 == 3 {
			req.Header.Set("Content-Type", "text/plain")
		}
		if rt.backend {
			req.Header.Set("Authorization", e.basic()["Authorization"])
		} else {
			req.Header.Set("Origin", brokertest.Origin)
		}
		r := serve(e.h, req)
		if r.Status >= 500 {
			t.Fatalf("POST %s %q: status %d, body %s", path, body, r.Status, r.Body)
		}
		if !json.Valid(r.Body) || r.JSON == nil {
			t.Fatalf("POST %s %q: status %d, body is not a JSON object: %q", path, body, r.Status, r.Body)
		}
		if r.Status >= 400 {
			if _, problem := checkEnvelope(r, r.Status, ""); problem != "" {
				t.Fatalf("POST %s %q: %s; body %s", path, body, problem, r.Body)
			}
		} else if r.Status != http.StatusOK {
			t.Fatalf("POST %s %q: status %d, want 200 or an error", path, body, r.Status)
		}
	})
}
