package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/web"
)

// env is one broker behind the real router, served by an httptest server.
type env struct {
	f    *brokertest.Fixture
	h    http.Handler
	srv  *httptest.Server
	auth *softauthn.Authenticator
	api  *apiValidator // checks every exchange of the test client against web/openapi.yaml
}

func newEnv(t testing.TB, dialect string) *env {
	t.Helper()
	return newEnvWith(t, dialect, nil)
}

// newEnvWith is newEnv with a broker built with cfg (nil: the fixture's).
func newEnvWith(t testing.TB, dialect string, cfg *broker.Config) *env {
	t.Helper()
	f := brokertest.New(t, dialect)
	if cfg != nil {
		f.Broker = f.NewBroker(t, *cfg)
	}
	h := web.New(f.Broker, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{f: f, h: h, srv: srv, auth: softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)}
	e.api = validate(t, e)
	return e
}

// forEachDialect runs fn as one subtest per store dialect.
func forEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range brokertest.Dialects(t) {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// response is what the client helpers return.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	// JSON is the body decoded as a JSON object, nil if it is not one.
	JSON map[string]any
}

func newResponse(status int, header http.Header, body []byte) response {
	r := response{Status: status, Header: header, Body: body}
	_ = json.Unmarshal(body, &r.JSON)
	return r
}

// get returns the value at a dotted path of the JSON body ("publicKey.rp.id"), nil if absent.
func (r response) get(path string) any {
	var v any = r.JSON
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str returns the string at path, failing the test if it is not a string.
func (r response) str(t testing.TB, path string) string {
	t.Helper()
	s, ok := r.get(path).(string)
	if !ok {
		t.Fatalf("%s = %#v, want a string; body %s", path, r.get(path), r.Body)
	}
	return s
}

// raw returns the JSON encoding of the value at path.
func (r response) raw(t testing.TB, path string) []byte {
	t.Helper()
	v := r.get(path)
	if v == nil {
		t.Fatalf("%s is absent; body %s", path, r.Body)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantStatus fails the test unless the response has status want.
func (r response) wantStatus(t testing.TB, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status = %d, want %d; body %s", r.Status, want, r.Body)
	}
}

// encodeBody returns body as request bytes: []byte, string and json.RawMessage as they are,
// anything else JSON-encoded, nil as no body.
func encodeBody(t testing.TB, body any) io.Reader {
	t.Helper()
	switch b := body.(type) {
	case nil:
		return nil
	case []byte:
		return bytes.NewReader(b)
	case json.RawMessage:
		return bytes.NewReader(b)
	case string:
		return strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encoding request body: %v", err)
		}
		return bytes.NewReader(raw)
	}
}

// doJSON sends a request to the test server: body as encodeBody says, Content-Type
// application/json unless headers set another, and headers (a "" value deletes one).
func (e *env) doJSON(t testing.TB, method, path string, body any, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, encodeBody(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return newResponse(res.StatusCode, res.Header, raw)
}

// serve sends req through the handler directly, without a network.
func serve(h http.Handler, req *http.Request) response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return newResponse(rec.Code, rec.Result().Header, rec.Body.Bytes())
}

// basic returns the Authorization header of the fixture's project.
func (e *env) basic() map[string]string {
	return map[string]string{"Authorization": basicAuth(e.f.Project.ID, e.f.APISecret)}
}

func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// backend calls the backend API with the project's credentials.
func (e *env) backend(t testing.TB, method, path string, body any) response {
	t.Helper()
	return e.doJSON(t, method, path, body, e.basic())
}

// front calls the frontend API of the fixture's project from the fixture's origin.
func (e *env) front(t testing.TB, op string, body any) response {
	t.Helper()
	return e.doJSON(t, http.MethodPost, e.frontPath(op), body, map[string]string{"Origin": brokertest.Origin})
}

func (e *env) frontPath(op string) string {
	return "/v2/projects/" + e.f.Project.ID + "/connect/" + op
}

// mint mints a connect token of typ for identifier and returns the whole response.
func (e *env) mint(t testing.TB, typ, identifier string) response {
	t.Helper()
	body := map[string]any{"type": typ, "data": map[string]any{"identifier": identifier, "displayName": "Name of " + identifier}}
	r := e.backend(t, http.MethodPost, "/v2/connectTokens", body)
	r.wantStatus(t, http.StatusOK)
	return r
}

// token mints a connect token and returns its secret.
func (e *env) token(t testing.TB, typ, identifier string) string {
	t.Helper()
	return e.mint(t, typ, identifier).str(t, "secret")
}

// register appends a passkey for identifier through append/start and append/finish with the
// software authenticator and returns the append/start response and the created Passkey.
func (e *env) register(t testing.TB, identifier string) (start response, passkey map[string]any) {
	t.Helper()
	start = e.front(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", identifier)})
	start.wantStatus(t, http.StatusOK)
	cred, err := e.auth.Create(softauthn.PublicKeyOf(start.Body))
	if err != nil {
		t.Fatalf("authenticator.Create: %v", err)
	}
	fin := e.front(t, "append/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)})
	fin.wantStatus(t, http.StatusOK)
	pk, ok := fin.get("passkey").(map[string]any)
	if !ok {
		t.Fatalf("append/finish: no passkey object in %s", fin.Body)
	}
	return start, pk
}

// login signs in with identifier ("" for a usernameless login) and returns the login/finish
// response.
func (e *env) login(t testing.TB, identifier string) response {
	t.Helper()
	body := map[string]any{}
	if identifier != "" {
		body["identifier"] = identifier
	}
	start := e.front(t, "login/start", body)
	start.wantStatus(t, http.StatusOK)
	cred, err := e.auth.Get(softauthn.PublicKeyOf(start.Body))
	if err != nil {
		t.Fatalf("authenticator.Get: %v", err)
	}
	fin := e.front(t, "login/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)})
	fin.wantStatus(t, http.StatusOK)
	return fin
}

// errorEnvelope is the contract's error body.
type errorEnvelope struct {
	HTTPStatusCode int    `json:"httpStatusCode"`
	Message        string `json:"message"`
	RequestData    struct {
		RequestID string `json:"requestID"`
	} `json:"requestData"`
	Error struct {
		Type       string `json:"type"`
		Details    string `json:"details"`
		Validation []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"validation"`
		Signal *struct {
			UnknownCredential struct {
				RPID         string `json:"rpId"`
				CredentialID string `json:"credentialId"`
			} `json:"unknownCredential"`
		} `json:"signal"`
	} `json:"error"`
}

// checkEnvelope returns what is wrong with r as an error response of status and type typ
// ("" for any type), or "" if nothing is.
func checkEnvelope(r response, status int, typ string) (errorEnvelope, string) {
	var env errorEnvelope
	if r.Status != status {
		return env, fmt.Sprintf("status %d, want %d", r.Status, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return env, "Content-Type " + ct + ", want application/json"
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if err := dec.Decode(&env); err != nil {
		return env, "body is not an error envelope: " + err.Error()
	}
	for _, k := range []string{"httpStatusCode", "message", "requestData", "error"} {
		if _, ok := r.JSON[k]; !ok {
			return env, "envelope has no " + k
		}
	}
	switch {
	case env.HTTPStatusCode != status:
		return env, "httpStatusCode does not equal the status"
	case strings.TrimSpace(env.Message) == "":
		return env, "message is empty"
	case !strings.HasPrefix(env.RequestData.RequestID, "req-") || len(env.RequestData.RequestID) <= len("req-"):
		return env, "requestData.requestID " + env.RequestData.RequestID + " does not start with req-"
	case env.RequestData.RequestID != r.Header.Get("X-Request-ID"):
		return env, "requestData.requestID differs from the X-Request-ID header " + r.Header.Get("X-Request-ID")
	case env.Error.Type == "":
		return env, "error.type is empty"
	case typ != "" && env.Error.Type != typ:
		return env, "error.type " + env.Error.Type + ", want " + typ
	}
	return env, ""
}

// assertError checks the whole error envelope of r and returns it.
func assertError(t testing.TB, r response, status int, typ string) errorEnvelope {
	t.Helper()
	env, problem := checkEnvelope(r, status, typ)
	if problem != "" {
		t.Fatalf("error response: %s\nstatus %d, headers %v\nbody %s", problem, r.Status, r.Header, r.Body)
	}
	return env
}

// assertValidation checks a validation_error naming field.
func assertValidation(t testing.TB, r response, field string) {
	t.Helper()
	env := assertError(t, r, http.StatusBadRequest, "validation_error")
	if len(env.Error.Validation) == 0 || env.Error.Validation[0].Field != field || env.Error.Validation[0].Message == "" {
		t.Fatalf("error.validation = %+v, want [{field: %q, message: ...}]", env.Error.Validation, field)
	}
}
