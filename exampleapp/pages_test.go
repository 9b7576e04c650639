package exampleapp

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// browserResolve resolves s against base roughly as a browser's URL parser does for an
// http(s) page: it trims leading and trailing C0 controls and spaces, drops tabs and line
// breaks anywhere, and reads "\" as "/".
func browserResolve(base *url.URL, s string) (*url.URL, error) {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= 0x20 })
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(s)
	return base.Parse(s)
}

// TestNextPath feeds hostile next parameters to the sign-in page's redirect target: each
// gives "" or a path that a browser resolves to the app's own origin.
func TestNextPath(t *testing.T) {
	const host = "app.example"
	good := []struct{ next, want string }{
		{"/profile", "/profile"},
		{"/profile?tab=passkeys#list", "/profile?tab=passkeys#list"},
		{"/welcome?", "/welcome"},
		{"profile", "/profile"},
		{"http://app.example/profile", "/profile"},
		{"/a%2Fb", "/a%2Fb"},
		{"/%09/evil.example/phish", "/%09/evil.example/phish"}, // a literal "%09" stays in the path
		{"/%2F/evil.example", "/%2F/evil.example"},
		{"%2F%2Fevil.example", "/%2F%2Fevil.example"},
		{"/caf%C3%A9", "/caf%C3%A9"},
	}
	for _, tc := range good {
		if got := nextPath(httptest.NewRequest("GET", "http://"+host+"/signin", nil), tc.next); got != tc.want {
			t.Errorf("nextPath(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
	hostile := []string{
		"/\t/evil.example/phish", // the issue's /%09/evil.example/phish, decoded
		"/\n/evil.example", "/\r\n/evil.example", "\t//evil.example", " //evil.example", "\x00//evil.example", "/\x00/evil.example",
		"/\x7f/evil.example", "//evil.example", "///evil.example", "////evil.example", "//evil.example/phish", "//evil.example:80",
		"/\\evil.example", "\\\\evil.example", "/\\/evil.example", "\\/evil.example", "//evil.example\\@app.example",
		"https://evil.example/", "http://evil.example", "HTTP://evil.example", "http://evil.example/profile", "https://app.example/profile",
		"http://app.example:8080/profile", "http://app.example@evil.example/", "http://user:pass@app.example/", "//app.example@evil.example",
		"http:evil.example", "http:/evil.example", "http:\\\\evil.example", "https:evil.example", "http:", "//",
		"javascript:alert(1)", "JaVaScRiPt:alert(document.domain)", " javascript:alert(1)", "java\tscript:alert(1)",
		"data:text/html,<script>alert(1)</script>", "vbscript:msgbox", "file:///etc/passwd", "blob:http://evil.example/x",
		"/.//evil.example", "/..//evil.example", "/./..//evil.example", "./..//evil.example", "/%2e%2e//evil.example", "/x/../..//evil.example",
		"//%65vil.example", "//evil%2Eexample", "/\u3000/evil.example",
	}
	base := &url.URL{Scheme: "http", Host: host, Path: "/signin"}
	for _, next := range hostile {
		got := nextPath(httptest.NewRequest("GET", "http://"+host+"/signin", nil), next)
		if problem := offSite(base, got); problem != "" {
			t.Errorf("nextPath(%q) = %q: %s", next, got, problem)
		}
	}
}

// offSite says what is wrong with next as a place to send the user after signing in on
// base's origin, or "" if nothing is: it must be "" or a path a browser keeps on base.
func offSite(base *url.URL, next string) string {
	if next == "" {
		return ""
	}
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\t\r\n") {
		return "not a plain path"
	}
	u, err := browserResolve(base, next)
	if err != nil || u.Scheme != base.Scheme || u.Host != base.Host {
		return fmt.Sprintf("a browser resolves it to %v (%v)", u, err)
	}
	return ""
}

// TestSignInPageNext checks the sign-in page's next end to end: the URL, and its
// encoded variants, render no way off the site.
func TestSignInPageNext(t *testing.T) {
	ta := newTestApp(t)
	base, _ := url.Parse(ta.srv.URL + "/signin")
	for _, raw := range []string{
		"/%09/evil.example/phish", "%09//evil.example", "/%0a/evil.example", "/%0d%0a/evil.example", "%2F%09%2Fevil.example",
		"/%5Cevil.example", "%5C%5Cevil.example", "/%5C/evil.example", "//evil.example", "%2F%2Fevil.example%2F",
		"https:%2F%2Fevil.example", "javascript%3Aalert(1)", "%20%2F%2Fevil.example", "http%3A%5C%5Cevil.example",
	} {
		resp, err := ta.client(t).Get(ta.srv.URL + "/signin?next=" + raw)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /signin?next=%s = %d", raw, resp.StatusCode)
		}
		// The page script holds next as a JavaScript string that html/template escaped.
		_, rest, ok := strings.Cut(string(body), "const next = '")
		js, _, ok2 := strings.Cut(rest, "';")
		if !ok || !ok2 {
			t.Fatalf("GET /signin?next=%s: no next in the page", raw)
		}
		var next string
		if err := json.Unmarshal([]byte(`"`+js+`"`), &next); err != nil {
			t.Fatalf("next %s: %v", js, err)
		}
		if problem := offSite(base, next); problem != "" {
			t.Errorf("GET /signin?next=%s renders next %q: %s", raw, next, problem)
		}
	}
}
