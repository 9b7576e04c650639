package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/web"
)

// TestHead checks that HEAD answers as GET does, without a body, on the public routes and the
// backend API, and that an unknown path under /v2 is 404 with or without credentials.
func TestHead(t *testing.T) {
	e := newEnv(t, "sqlite")
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		status  int
	}{
		{"health", "/healthz", nil, http.StatusOK},
		{"readiness", "/readyz", nil, http.StatusOK},
		{"home page", "/", nil, http.StatusOK},
		{"SDK", "/web/latchkey.js", nil, http.StatusOK},
		{"API description", "/v2/openapi.yaml", nil, http.StatusOK},
		{"JWKS", e.jwksPath(), nil, http.StatusOK},
		{"JWKS of an unknown project", "/v2/projects/prj-000000000000000000000000/.well-known/jwks.json", nil, http.StatusNotFound},
		{"backend API", "/v2/users", e.basic(), http.StatusOK},
		{"backend API without credentials", "/v2/users", nil, http.StatusUnauthorized},
		{"unknown path", "/v2/nothing", nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			get := e.doJSON(t, http.MethodGet, tt.path, nil, tt.headers)
			head := e.doJSON(t, http.MethodHead, tt.path, nil, tt.headers)
			if get.Status != tt.status || head.Status != tt.status {
				t.Fatalf("GET %s = %d, HEAD = %d, want %d for both; GET body %s", tt.path, get.Status, head.Status, tt.status, get.Body)
			}
			if len(head.Body) != 0 {
				t.Errorf("HEAD %s sent a body: %q", tt.path, head.Body)
			}
			for _, h := range []string{"Content-Type", "Cache-Control", "Content-Security-Policy", "X-Content-Type-Options", "Access-Control-Allow-Origin"} {
				if head.Header.Get(h) != get.Header.Get(h) {
					t.Errorf("HEAD %s: %s = %q, GET's is %q", tt.path, h, head.Header.Get(h), get.Header.Get(h))
				}
			}
		})
	}
}

// TestUnknownPathsAreNotFound checks that a path no route serves, or not with that method,
// is 404 not_found, also under /v2 without credentials (it used to be 401, as if the path
// existed).
func TestUnknownPathsAreNotFound(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, tt := range []struct {
		method, path string
		headers      map[string]string
		status       int
	}{
		{http.MethodGet, "/v2/nothing", nil, http.StatusNotFound},
		{http.MethodPost, "/v2/nothing/at/all", nil, http.StatusNotFound},
		{http.MethodGet, "/v2/nothing", e.basic(), http.StatusNotFound},
		{http.MethodGet, "/v2", nil, http.StatusNotFound},
		{http.MethodGet, "/nothing", nil, http.StatusNotFound},
		{http.MethodPut, "/v2/connectTokens", nil, http.StatusNotFound},
		{http.MethodPut, "/v2/connectTokens", e.basic(), http.StatusNotFound},
	} {
		r := e.doJSON(t, tt.method, tt.path, nil, tt.headers)
		assertError(t, r, tt.status, "not_found")
	}
	// Known routes still need credentials.
	assertError(t, e.doJSON(t, http.MethodGet, "/v2/users", nil, nil), http.StatusUnauthorized, "login_error")
	assertError(t, e.doJSON(t, http.MethodPost, "/v2/connectTokens", map[string]any{}, nil), http.StatusUnauthorized, "login_error")
}

// TestHomePage checks the page at /: HTML with the same security headers as the API, no
// script, and links to the API description, the docs and, when set, the example app.
func TestHomePage(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.doJSON(t, http.MethodGet, "/", nil, map[string]string{"Accept": "text/html"})
	r.wantStatus(t, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q, want the API's", csp)
	}
	page := string(r.Body)
	for _, want := range []string{"<!doctype html>", "Latchkey", `href="/v2/openapi.yaml"`, `href="https://github.com/latchkey/latchkey#readme"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	for _, bad := range []string{"<script", "style=", "<style", "example app"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("the page has %q:\n%s", bad, page)
		}
	}

	h := web.New(e.f.Broker, slog.New(slog.NewTextHandler(io.Discard, nil)), web.WithExampleApp("http://localhost:3001"))
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	withApp := serve(h, req)
	withApp.wantStatus(t, http.StatusOK)
	if !strings.Contains(string(withApp.Body), `href="http://localhost:3001"`) {
		t.Errorf("with WithExampleApp, the page does not link the example app:\n%s", withApp.Body)
	}
}
