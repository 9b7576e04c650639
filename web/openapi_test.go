package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/web"
)

var (
	openAPIOnce   sync.Once
	openAPIDoc    *openapi3.T
	openAPIRouter routers.Router
	openAPIErr    error
)

// loadOpenAPI parses and validates web/openapi.yaml once, and makes its router.
func loadOpenAPI(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	openAPIOnce.Do(func() {
		loader := openapi3.NewLoader()
		if openAPIDoc, openAPIErr = loader.LoadFromData(web.OpenAPI); openAPIErr != nil {
			return
		}
		if openAPIErr = openAPIDoc.Validate(context.Background()); openAPIErr != nil {
			return
		}
		openAPIRouter, openAPIErr = gorillamux.NewRouter(openAPIDoc)
		// The assets under /web/ are text; check that they come with a documented type.
		for _, typ := range []string{"text/javascript", "application/typescript", "text/css", "image/svg+xml", "text/html"} {
			openapi3filter.RegisterBodyDecoder(typ, openapi3filter.FileBodyDecoder)
		}
	})
	if openAPIErr != nil {
		t.Fatalf("web/openapi.yaml: %v", openAPIErr)
	}
	return openAPIDoc, openAPIRouter
}

// apiValidator is an http.RoundTripper that checks every exchange against the API
// description: the response always (its status must be documented, its body must match),
// and the request when the server accepted it (a 2xx answer to a request the document
// forbids means the document or the server is wrong).
type apiValidator struct {
	base   http.RoundTripper
	router routers.Router

	mu       sync.Mutex
	checked  int
	errs     []string
	captured []capturedResponse // every JSON response of a documented operation
}

// capturedResponse is one JSON response as the server sent it, by operation and status.
type capturedResponse struct {
	Operation string          `json:"operation"`
	Status    int             `json:"status"`
	Value     json.RawMessage `json:"value"`
}

// validate installs an apiValidator on the env's client; the test fails at its end if an
// exchange did not match the document. newEnv calls it, so every HTTP test is checked.
func validate(t testing.TB, e *env) *apiValidator {
	t.Helper()
	_, router := loadOpenAPI(t)
	client := e.srv.Client()
	v := &apiValidator{base: client.Transport, router: router}
	client.Transport = v
	t.Cleanup(func() {
		client.Transport = v.base
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, err := range v.errs {
			t.Errorf("OpenAPI: %s", err)
		}
	})
	return v
}

func (v *apiValidator) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := v.base.RoundTrip(req)
	if err != nil {
		return res, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	if problem := v.check(req, reqBody, res.StatusCode, res.Header, resBody); problem != "" {
		v.mu.Lock()
		v.errs = append(v.errs, fmt.Sprintf("%s %s -> %d: %s\nrequest %s\nresponse %s", req.Method, req.URL.RequestURI(), res.StatusCode, problem, clip(reqBody), clip(resBody)))
		v.mu.Unlock()
	}
	return res, nil
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// check returns what is wrong with one exchange, or "" if nothing is.
func (v *apiValidator) check(req *http.Request, reqBody []byte, status int, header http.Header, resBody []byte) string {
	v.mu.Lock()
	v.checked++
	v.mu.Unlock()
	ctx := context.Background()
	r := req.Clone(ctx)
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	// The document's server is http://localhost:8080; the test server listens elsewhere.
	r.URL = &url.URL{Scheme: "http", Host: "localhost:8080", Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	r.Host = "localhost:8080"
	head := r.Method == http.MethodHead // answered as GET without the body
	if head {
		r.Method = http.MethodGet
	}
	route, params, err := v.router.FindRoute(r)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return "" // a request for a route that does not exist, answered as such
		}
		return "the route is not in the document: " + err.Error()
	}
	if head && len(resBody) > 0 {
		return "a HEAD response has a body"
	}
	if strings.HasPrefix(header.Get("Content-Type"), "application/json") && json.Valid(resBody) && route.Operation.OperationID != "" {
		v.mu.Lock()
		v.captured = append(v.captured, capturedResponse{route.Operation.OperationID, status, append(json.RawMessage(nil), resBody...)})
		v.mu.Unlock()
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if status >= 200 && status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return "the server accepted a request that the document forbids: " + err.Error()
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: head}}
	out.SetBodyBytes(resBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return "the response does not match the document: " + err.Error()
	}
	return ""
}

// Checked returns how many exchanges v has checked.
func (v *apiValidator) Checked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checked
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %s, want 3.1", doc.OpenAPI)
	}
	ids := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Summary == "" {
				t.Errorf("%s %s has no summary", method, path)
			}
			if len(op.Responses.Map()) == 0 {
				t.Errorf("%s %s documents no response", method, path)
			}
			if op.OperationID != "" {
				if ids[op.OperationID] {
					t.Errorf("operationId %s is used twice", op.OperationID)
				}
				ids[op.OperationID] = true
			}
		}
	}
}

// routeKey names a route as "METHOD /path/{param}", the document's way; an echo wildcard
// "/*" stays "*".
func routeKey(method, echoPath string) string {
	segs := strings.Split(echoPath, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

// matches reports whether the route key r (possibly ending in a wildcard) serves the
// documented operation d.
func matches(r, d string) bool {
	if prefix, ok := strings.CutSuffix(r, "*"); ok {
		return strings.HasPrefix(d, prefix) && len(d) > len(prefix)
	}
	return r == d
}

// TestOpenAPICoversEveryRoute fails when a route of the router is missing from the document,
// or the document describes an operation that no route serves.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	f := brokertest.New(t, "sqlite")
	e := web.New(f.Broker, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var routes []string
	for _, r := range e.Routes() {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
			routes = append(routes, routeKey(r.Method, r.Path))
		} // others are echo's catch-alls that make a group's middleware answer unknown paths
	}
	sort.Strings(routes)
	if len(routes) < 25 {
		t.Fatalf("the router has %d routes: %v; want the whole API", len(routes), routes)
	}
	for _, r := range routes {
		if !slices.ContainsFunc(documented, func(d string) bool { return matches(r, d) }) {
			t.Errorf("route %s is not in web/openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.ContainsFunc(routes, func(r string) bool { return matches(r, d) }) {
			t.Errorf("web/openapi.yaml describes %s, which no route serves", d)
		}
	}
}

func TestOpenAPIEventTypes(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	var got []string
	for _, v := range doc.Components.Schemas["EventType"].Value.Enum {
		got = append(got, fmt.Sprint(v))
	}
	if diff := cmp.Diff(broker.EventTypes(), got); diff != "" {
		t.Errorf("EventType enum of web/openapi.yaml (-broker.EventTypes() +document):\n%s", diff)
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.doJSON(t, http.MethodGet, "/v2/openapi.yaml", nil, nil)
	r.wantStatus(t, http.StatusOK)
	if !bytes.Equal(r.Body, web.OpenAPI) {
		t.Error("GET /v2/openapi.yaml differs from web/openapi.yaml")
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/yaml") {
		t.Errorf("Content-Type = %q, want application/yaml", ct)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
	}
}

// TestOpenAPIValidatorCatchesMismatches shows that the validator fails exchanges that
// differ from the document.
func TestOpenAPIValidatorCatchesMismatches(t *testing.T) {
	_, router := loadOpenAPI(t)
	v := &apiValidator{router: router}
	get := func(path string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1"+path, nil)
		return req
	}
	post := func(path, body string) (*http.Request, []byte) {
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return req, []byte(body)
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	user := `{"id":"usr-1","identifier":"a","displayName":"A","webauthnID":"AAAA","createdAt":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		name    string
		req     *http.Request
		reqBody []byte
		status  int
		body    string
	}{
		{"a user without its ID", get("/v2/users/usr-1"), nil, 200, `{"identifier":"a","displayName":"A","webauthnID":"AAAA","createdAt":"2026-01-01T00:00:00Z"}`},
		{"an undocumented status", get("/v2/users/usr-1"), nil, 418, `{}`},
		{"an error without the envelope", get("/v2/users/usr-1"), nil, 404, `{"error":"not found"}`},
		{"an unknown error type", get("/v2/users/usr-1"), nil, 404,
			`{"httpStatusCode":404,"message":"x","requestData":{"requestID":"req-1"},"error":{"type":"oops"}}`},
		{"an undocumented route that answers", get("/v2/nothing"), nil, 200, `{}`},
		{"a bad event type", get("/v2/events"), nil, 200, `{"events":[{"id":"evt-1","type":"user.exploded","createdAt":"2026-01-01T00:00:00Z","projectID":"p","details":{}}],"nextCursor":"","hasMore":false}`},
	}
	req, body := post("/v2/users", `{"displayName":"no identifier"}`)
	tests = append(tests, struct {
		name    string
		req     *http.Request
		reqBody []byte
		status  int
		body    string
	}{"an accepted request without a required field", req, body, 201, user})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if problem := v.check(tc.req, tc.reqBody, tc.status, jsonHeader, []byte(tc.body)); problem == "" {
				t.Errorf("the validator passed %s", tc.name)
			}
		})
	}
	// And passes what matches.
	if problem := v.check(get("/v2/users/usr-1"), nil, 200, jsonHeader, []byte(user)); problem != "" {
		t.Errorf("the validator failed a valid exchange: %s", problem)
	}
}

// TestOpenAPIMainFlows drives the main flows of the contract through the real router and
// checks every request and response against the document.
func TestOpenAPIMainFlows(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		mainFlows(t, e, dialect)
		if n := e.api.Checked(); n < 40 {
			t.Errorf("the validator checked %d exchanges, want every one of the flows above", n)
		}
	})
}

// mainFlows drives the main flows of the contract and its errors through e.
func mainFlows(t *testing.T, e *env, dialect string) {
	t.Helper()
	get := func(path string, headers map[string]string) response {
		return e.doJSON(t, http.MethodGet, path, nil, headers)
	}

	get("/healthz", nil).wantStatus(t, http.StatusOK)
	get("/readyz", nil).wantStatus(t, http.StatusOK)
	get("/web/latchkey.js", nil).wantStatus(t, http.StatusOK)
	get("/web/latchkey-components.d.ts", nil).wantStatus(t, http.StatusOK)
	get("/web/nothing.js", nil).wantStatus(t, http.StatusNotFound)
	get(e.jwksPath(), nil).wantStatus(t, http.StatusOK)
	get("/v2/projects/prj-000000000000000000000000/.well-known/jwks.json", nil).wantStatus(t, http.StatusNotFound)

	for _, typ := range []string{"passkey-append", "passkey-list", "passkey-delete", "passkey-login"} {
		e.mint(t, typ, "alice")
	}
	minted := e.mint(t, "passkey-list", "alice")
	e.backend(t, http.MethodGet, "/v2/connectTokens/"+minted.str(t, "id"), nil).wantStatus(t, http.StatusOK)
	e.backend(t, http.MethodDelete, "/v2/connectTokens/"+minted.str(t, "id"), nil).wantStatus(t, http.StatusNoContent)
	e.backend(t, http.MethodGet, "/v2/connectTokens/"+minted.str(t, "id"), nil).wantStatus(t, http.StatusNotFound)

	_, pk := e.register(t, "alice")
	res := e.login(t, "alice")
	e.login(t, "")
	e.front(t, "login/start", map[string]any{"identifier": "nobody"}).wantStatus(t, http.StatusOK)
	e.front(t, "login/start", map[string]any{"conditional": true}).wantStatus(t, http.StatusOK)
	spd := res.str(t, "signedPasskeyData")
	e.backend(t, http.MethodPost, "/v2/passkey/verifySignedData", map[string]any{"signedPasskeyData": spd, "username": "alice"}).wantStatus(t, http.StatusOK)
	e.backend(t, http.MethodPost, "/v2/passkeys/verifySignedData", map[string]any{"signedPasskeyData": spd}).wantStatus(t, http.StatusOK)
	e.backend(t, http.MethodPost, "/v2/passkeys/verifySignedData", map[string]any{"signedPasskeyData": "x.y.z"}).wantStatus(t, http.StatusOK)
	e.front(t, "manage/list", map[string]any{"connectToken": e.token(t, "passkey-list", "alice")}).wantStatus(t, http.StatusOK)
	loginTok := e.token(t, "passkey-login", "alice")
	e.front(t, "login/start", map[string]any{"loginConnectToken": loginTok}).wantStatus(t, http.StatusOK)

	// Preflight, and the errors of the contract.
	e.doJSON(t, http.MethodOptions, e.frontPath("login/start"), nil, map[string]string{
		"Origin": brokertest.Origin, "Access-Control-Request-Method": "POST"}).wantStatus(t, http.StatusNoContent)
	assertError(t, e.doJSON(t, http.MethodOptions, e.frontPath("append/finish"), nil, map[string]string{
		"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}), http.StatusForbidden, "forbidden_origin")
	assertError(t, e.doJSON(t, http.MethodPost, "/v2/connectTokens", map[string]any{}, map[string]string{
		"Authorization": basicAuth(e.f.Project.ID, "lks_wrong")}), http.StatusUnauthorized, "login_error")
	assertValidation(t, e.backend(t, http.MethodPost, "/v2/connectTokens", map[string]any{"type": "passkey-append", "data": map[string]any{}}), "data.identifier")
	assertError(t, e.backend(t, http.MethodPost, "/v2/connectTokens", "{"), http.StatusBadRequest, "invalid_json")
	assertError(t, e.backend(t, http.MethodPost, "/v2/connectTokens", strings.Repeat(" ", web.MaxBodyBytes+1)), http.StatusRequestEntityTooLarge, "payload_too_large")
	assertError(t, e.front(t, "append/start", map[string]any{"connectToken": "ctk1_nope"}), http.StatusUnauthorized, "invalid_connect_token")
	start := e.front(t, "login/start", map[string]any{})
	cred, err := e.auth.Get(softauthn.PublicKeyOf(start.Body))
	if err != nil {
		t.Fatal(err)
	}
	assertError(t, e.front(t, "login/finish", map[string]any{"ceremonyID": "cer-000000000000000000000000", "credential": json.RawMessage(cred)}),
		http.StatusGone, "ceremony_not_found")
	stranger := softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
	other := newEnv(t, dialect)
	other.auth = stranger
	other.register(t, "mallory")
	cred, err = stranger.Get(softauthn.PublicKeyOf(start.Body))
	if err != nil {
		t.Fatal(err)
	}
	assertError(t, e.front(t, "login/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)}),
		http.StatusNotFound, "unknown_credential")

	e.front(t, "manage/delete", map[string]any{"connectToken": e.token(t, "passkey-delete", "alice"), "credentialID": pk["id"]}).wantStatus(t, http.StatusOK)
	assertError(t, e.front(t, "manage/delete", map[string]any{"connectToken": e.token(t, "passkey-delete", "alice"), "credentialID": pk["id"]}),
		http.StatusNotFound, "not_found")
}
