package webhook

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSignKnownVector signs the example of the Standard Webhooks reference libraries.
// Source: github.com/standard-webhooks/standard-webhooks, libraries/go/webhook_test.go
// (TestWebhookSign); the same vector is in the other languages' tests there. License: MIT,
// Copyright (c) 2023 Svix (libraries/LICENSE).
func TestSignKnownVector(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign(vector) = %s, want %s", got, want)
	}
	// Any change to the id, the time or the body changes the signature.
	for name, s := range map[string]string{
		"id":   Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJeK", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`)),
		"time": Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265331, 0), []byte(`{"test": 2432232314}`)),
		"body": Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232315}`)),
	} {
		if s == got {
			t.Errorf("Sign with another %s = the vector's signature", name)
		}
	}
}

func TestSecrets(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseSecret(s)
	if !strings.HasPrefix(s, "whsec_") || err != nil || len(key) != 32 {
		t.Errorf("NewSecret() = %q: ParseSecret = %d bytes, %v; want whsec_ and 32 bytes", s, len(key), err)
	}
	if s2, _ := NewSecret(); s2 == s {
		t.Error("NewSecret() twice = the same secret")
	}
	for _, bad := range []string{"", "whsec_", "whsec_c2hvcnQ=", "whsec_!!!!", "whsec_" + strings.Repeat("QUFB", 30)} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) = nil error, want one", bad)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"93.184.215.14", true},
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"127.1.2.3", false},
		{"::1", false},
		{"10.0.0.1", false},
		{"172.16.5.4", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.64.0.1", false},      // CGNAT
		{"100.127.255.254", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped
		{"::ffff:10.1.2.3", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:8.8.8.8", true},
		{"::127.0.0.1", false},         // IPv4-compatible
		{"64:ff9b::7f00:1", false},     // NAT64 of 127.0.0.1
		{"2002:7f00:1::1", false},      // 6to4 of 127.0.0.1
		{"2001:db8::1", false},         // documentation
		{"2001:0:4136:e378::1", false}, // Teredo
		{"fec0::1", false},             // site-local
		{"100::1", false},              // discard-only
		{"fe80::1%eth0", false},        // zoned
		{"2a00:1450:4001:82b::200e", true},
	} {
		if got := PublicAddr(netip.MustParseAddr(tc.addr)); got != tc.public {
			t.Errorf("PublicAddr(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://hooks.example.com/latchkey", false, true},
		{"https://hooks.example.com:8443/x?y=1", false, true},
		{"https://93.184.215.14/x", false, true},
		{"http://hooks.example.com/latchkey", false, false}, // http
		{"ftp://hooks.example.com/", false, false},
		{"https://localhost/x", false, false},
		{"https://LOCALHOST./x", false, false},
		{"https://api.localhost/x", false, false},
		{"https://intranet/x", false, false}, // a single label: not a public name
		{"https://127.0.0.1/x", false, false},
		{"https://[::1]/x", false, false},
		{"https://[::ffff:127.0.0.1]/x", false, false},
		{"https://10.0.0.8/x", false, false},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://100.64.1.1/x", false, false},
		{"https://0.0.0.0/x", false, false},
		{"https://user:pw@hooks.example.com/x", false, false},
		{"https://hooks.example.com/x#frag", false, false},
		{"/relative", false, false},
		{"https://", false, false},
		{"https://hooks.example.com:0/x", false, false},
		{"https://hooks.example.com/" + strings.Repeat("a", 2001), false, false},
		// With private addresses allowed (tests, intranets): http and loopback pass.
		{"http://127.0.0.1:8080/hook", true, true},
		{"http://localhost:8080/hook", true, true},
		{"https://intranet/x", true, true},
		{"ftp://127.0.0.1/x", true, false},
	} {
		_, err := CheckURL(tc.url, tc.allowPrivate)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, allowPrivate=%v) = %v, want ok=%v", tc.url, tc.allowPrivate, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBlocked) {
			t.Errorf("CheckURL(%q) = %v, want ErrBlocked", tc.url, err)
		}
	}
}

// TestGuardAfterResolution: a host name that resolves to a loopback address passes no
// syntax check of the name, but the dialer's check of the address refuses it; so does a
// literal private address reached without the URL check.
func TestGuardAfterResolution(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.Listener.Addr().(interface{ String() string }).String()
	_, port, _ = strings.Cut(port, ":")
	c := NewClient(false, 5*time.Second)
	c.http.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the test server's certificate
	for _, u := range []string{"https://localhost:" + port + "/", "https://127.0.0.1:" + port + "/", "https://[::ffff:127.0.0.1]:" + port + "/"} {
		// Straight through the transport, past CheckURL: the dial-time guard alone.
		req, _ := http.NewRequest("POST", u, nil)
		resp, err := c.http.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("POST %s through the guarded client = %s, want refused at dial", u, resp.Status)
		} else if !errors.Is(err, ErrBlocked) {
			t.Errorf("POST %s through the guarded client = %v, want ErrBlocked", u, err)
		}
		// And through Send.
		if out := c.Send(t.Context(), u, []byte("0123456789abcdef01234567"), Message{ID: "msg_1", At: time.Now(), Body: []byte(`{}`)}); out.Result != ResultBlocked {
			t.Errorf("Send(%s) = %+v, want %s", u, out, ResultBlocked)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests, want none", n)
	}
	// The same client with private addresses allowed reaches it: the refusal was the guard.
	open := NewClient(true, 5*time.Second)
	open.http.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	if out := open.Send(t.Context(), "https://localhost:"+port+"/", []byte("0123456789abcdef01234567"), Message{ID: "msg_1", At: time.Now(), Body: []byte(`{}`)}); out.Result != ResultSuccess {
		t.Errorf("Send(localhost) with private addresses allowed = %+v, want success", out)
	}
}

// TestNoRedirects: a receiver that redirects (here to a private address) gets a failed
// delivery; the redirect's target gets nothing.
func TestNoRedirects(t *testing.T) {
	var targetHits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { targetHits.Add(1) }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	// Private addresses are allowed here so that the redirector itself can be reached; the
	// redirect is still not followed.
	c := NewClient(true, 5*time.Second)
	out := c.Send(t.Context(), redirector.URL, []byte("0123456789abcdef01234567"), Message{ID: "msg_1", At: time.Now(), Body: []byte(`{}`)})
	if out.Result != ResultHTTPError || out.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("Send(redirector) = %+v, want http_error 307", out)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the redirect's target got %d requests, want none", n)
	}
}

// TestSendHeaders: a delivery carries the three headers, and its signature verifies.
func TestSendHeaders(t *testing.T) {
	key := []byte("0123456789abcdef01234567")
	var got http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		body = make([]byte, r.ContentLength)
		_, _ = r.Body.Read(body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	at := time.Unix(1767225600, 0)
	out := NewClient(true, 5*time.Second).Send(t.Context(), srv.URL, key, Message{ID: "evt-1", At: at, Body: []byte(`{"a":1}`)})
	if out.Result != ResultSuccess || out.StatusCode != 204 {
		t.Fatalf("Send = %+v, want success 204", out)
	}
	if got.Get("webhook-id") != "evt-1" || got.Get("webhook-timestamp") != "1767225600" || got.Get("webhook-signature") != Sign(key, "evt-1", at, []byte(`{"a":1}`)) ||
		string(body) != `{"a":1}` || got.Get("Content-Type") != "application/json" {
		t.Errorf("delivery headers = %v, body %q", got, body)
	}
	// A 500 is an http_error with its status.
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer failing.Close()
	if out := NewClient(true, 5*time.Second).Send(t.Context(), failing.URL, key, Message{ID: "evt-1", At: at, Body: []byte(`{}`)}); out.Result != ResultHTTPError || out.StatusCode != 500 {
		t.Errorf("Send(500) = %+v", out)
	}
	// An http URL is refused unless private addresses are allowed.
	if out := NewClient(false, 5*time.Second).Send(t.Context(), srv.URL, key, Message{ID: "evt-1", At: at, Body: []byte(`{}`)}); out.Result != ResultBlocked {
		t.Errorf("Send(http URL) without private addresses = %+v, want blocked", out)
	}
}
