package web

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rate
	}{
		{"300/1m", Rate{300, time.Minute}},
		{"10/m", Rate{10, time.Minute}},
		{"5/30s", Rate{5, 30 * time.Second}},
		{" 1/1h ", Rate{1, time.Hour}},
		{"off", Rate{}},
		{"0", Rate{}},
	} {
		got, err := ParseRate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if again, err := ParseRate(got.String()); err != nil || again != got {
			t.Errorf("ParseRate(%q.String() = %q) = %v, %v; want %v", tc.in, got.String(), again, err, got)
		}
	}
	for _, bad := range []string{"", "300", "x/1m", "-1/1m", "0/1m", "10/0s", "10/500ms", "10/48h", "10/fortnight", "2000000/1m"} {
		if got, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,, ::ffff:198.51.100.1")
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.1/32")}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseTrustedProxies() = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "10.0.0.1:80"} {
		if got, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) = %v, want an error", bad, got)
		}
	}
}

func TestLimiter(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := newLimiter(Rate{Burst: 3, Per: time.Minute}, 100, c.Now)
	for i := range 3 {
		if wait, ok := l.take("a"); !ok {
			t.Fatalf("take #%d = refused (wait %v), want allowed within the burst", i+1, wait)
		}
	}
	wait, ok := l.take("a")
	if ok || wait != 20*time.Second {
		t.Fatalf("take beyond the burst = %v, %v; want refused, wait 20s (3 a minute)", ok, wait)
	}
	if _, ok := l.take("b"); !ok {
		t.Fatal("another key was refused")
	}
	c.Advance(19 * time.Second)
	if wait, ok := l.take("a"); ok || wait != time.Second {
		t.Fatalf("take after 19s = %v, %v; want refused, wait 1s", ok, wait)
	}
	c.Advance(time.Second)
	if _, ok := l.take("a"); !ok {
		t.Fatal("take after 20s refused, want one token refilled")
	}
	if _, ok := l.take("a"); ok {
		t.Fatal("a second take after 20s allowed, want only one token refilled")
	}
	c.Advance(time.Hour)
	for i := range 3 {
		if _, ok := l.take("a"); !ok {
			t.Fatalf("take #%d after an hour refused: the bucket refills to its burst", i+1)
		}
	}
	if _, ok := l.take("a"); ok {
		t.Fatal("the bucket refilled beyond its burst")
	}

	// check does not take.
	l2 := newLimiter(Rate{Burst: 1, Per: time.Minute}, 100, c.Now)
	for range 3 {
		if _, ok := l2.check("k"); !ok {
			t.Fatal("check refused a full bucket")
		}
	}
	l2.take("k")
	if wait, ok := l2.check("k"); ok || wait != time.Minute {
		t.Fatalf("check of an empty bucket = %v, %v; want refused, wait 1m", ok, wait)
	}

	// Off allows everything and remembers nothing.
	off := newLimiter(Rate{}, 100, c.Now)
	for range 1000 {
		if _, ok := off.take("x"); !ok {
			t.Fatal("an off limiter refused")
		}
	}
	if off.keys() != 0 {
		t.Errorf("an off limiter remembers %d keys", off.keys())
	}
}

// TestLimiterIsBounded floods a limiter with distinct keys: it remembers at most its maximum,
// and a key seen recently keeps its (empty) bucket.
func TestLimiterIsBounded(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := newLimiter(Rate{Burst: 1, Per: time.Hour}, 1000, c.Now)
	l.take("victim")
	for i := range 100_000 {
		l.take(fmt.Sprint("flood-", i))
		if i%400 == 0 {
			if _, ok := l.take("victim"); ok {
				t.Fatalf("after %d other keys, the recently used key got a fresh bucket", i)
			}
		}
		if n := l.keys(); n > 1000 {
			t.Fatalf("after %d keys the limiter remembers %d, want at most 1000", i+1, n)
		}
	}
}

func TestClientIP(t *testing.T) {
	trusted, _ := ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48")
	for _, tc := range []struct {
		name, peer string
		xff        []string
		trusted    bool
		want       string
	}{
		{"peer without proxies", "198.51.100.7:5555", []string{"203.0.113.9"}, false, "198.51.100.7"},
		{"untrusted peer's X-Forwarded-For is ignored", "198.51.100.7:5555", []string{"203.0.113.9"}, true, "198.51.100.7"},
		{"trusted proxy", "10.1.2.3:443", []string{"203.0.113.9"}, true, "203.0.113.9"},
		{"client-written hops left of the real one are ignored", "10.1.2.3:443", []string{"1.1.1.1, 2.2.2.2, 203.0.113.9"}, true, "203.0.113.9"},
		{"several trusted hops", "10.1.2.3:443", []string{"1.1.1.1, 203.0.113.9, 10.9.9.9", "10.8.8.8"}, true, "203.0.113.9"},
		{"only trusted hops", "10.1.2.3:443", []string{"10.9.9.9"}, true, "10.9.9.9"},
		{"no X-Forwarded-For", "10.1.2.3:443", nil, true, "10.1.2.3"},
		{"garbage hop stops the walk", "10.1.2.3:443", []string{"203.0.113.9, garbage, 10.9.9.9"}, true, "10.9.9.9"},
		{"hop with a port", "10.1.2.3:443", []string{"[2001:db8::1]:8443"}, true, "2001:db8::1"},
		{"zoned hop stops the walk (found by FuzzClientIP)", "10.1.2.3:443", []string{"[::%0]:0"}, true, "10.1.2.3"},
		{"zoned hop without a port", "10.1.2.3:443", []string{"fe80::1%eth0, 10.9.9.9"}, true, "10.9.9.9"},
		{"zoned peer", "[fe80::1%eth0]:443", []string{"203.0.113.9"}, true, "invalid IP"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:443", []string{"203.0.113.9"}, true, "203.0.113.9"},
		{"IPv6 proxy", "[2001:db8:ffff::1]:443", []string{"2001:db8:1::5"}, true, "2001:db8:1::5"},
		{"unparsable peer", "pipe", []string{"203.0.113.9"}, true, "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", nil)
			req.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			var tr []netip.Prefix
			if tc.trusted {
				tr = trusted
			}
			if got := clientIP(req, tr); got.String() != tc.want {
				t.Errorf("clientIP(peer %s, X-Forwarded-For %q) = %v, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

func TestIPKey(t *testing.T) {
	a := ipKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := ipKey(netip.MustParseAddr("2001:db8:1:2:bbbb::9"))
	c := ipKey(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Errorf("ipKey: same /64 gave %q and %q, another /64 gave %q; want one key per /64", a, b, c)
	}
	if got := ipKey(netip.MustParseAddr("192.0.2.1")); got != "192.0.2.1" {
		t.Errorf("ipKey(192.0.2.1) = %q", got)
	}
	if got := ipKey(netip.Addr{}); got != "unknown" {
		t.Errorf("ipKey(invalid) = %q", got)
	}
}

func TestCheckJSON(t *testing.T) {
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	ok := strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)
	for _, tc := range []struct {
		name, body string
		bad        bool
	}{
		{"plain", `{"identifier":"a","conditional":true}`, false},
		{"same key in sibling objects", `{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]}`, false},
		{"string value equal to a key", `{"k":"k","j":"k"}`, false},
		{"array of strings", `{"k":["k","k"]}`, false},
		{"nesting at the limit", ok, false},
		{"unknown fields", `{"identifier":"a","future":{"x":[1,2,{"y":null}]}}`, false},
		{"duplicate key", `{"identifier":"a","identifier":"b"}`, true},
		{"duplicate key differing in case", `{"identifier":"a","Identifier":"b"}`, true},
		{"duplicate by Unicode folding (Kelvin sign)", `{"k":1,"\u212a":2}`, true},
		{"duplicate in a nested object", `{"credential":{"response":{"clientDataJSON":"a","clientDataJSON":"b"}}}`, true},
		{"duplicate after a nested value", `{"a":{"x":1},"b":[1],"a":2}`, true},
		{"duplicate escaped differently", `{"id":1,"\u0069d":2}`, true},
		{"too deep", deep, true},
		{"invalid UTF-8", "{\"identifier\":\"\xff\"}", true},
		{"invalid UTF-8 in a key", "{\"\xc0\xaf\":1}", true},
	} {
		err := checkJSON([]byte(tc.body))
		if (err != nil) != tc.bad {
			t.Errorf("checkJSON(%s: %q) = %v, want bad %v", tc.name, tc.body, err, tc.bad)
		}
	}
}

// BenchmarkCheckJSON checks a login/finish body of the usual size: 13.8 µs and 177
// allocations with encoding/json's Token, 2.9 µs and 31 with the byte scan.
func BenchmarkCheckJSON(b *testing.B) {
	body := []byte(`{"ceremonyId":"cls-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz","credential":{"id":"AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEf","rawId":"AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEf","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiQWJDZEVmR2hJaktsTW5PcFFyU3RVdld4WXowMTIzNDU2Nzg5QWJDZEVmR2hJaktsIiwib3JpZ2luIjoiaHR0cDovL2xvY2FsaG9zdDo4MDgwIn0","authenticatorData":"SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ","signature":"MEUCIQDabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789","userHandle":"dXNlci0x"},"clientExtensionResults":{},"authenticatorAttachment":"platform"}}`)
	for b.Loop() {
		if err := checkJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestProjectMemoryIsBounded floods the memory of missing projects: it keeps at most
// 2*maxRemembered IDs, and a project known to exist is not pushed out by them.
func TestProjectMemoryIsBounded(t *testing.T) {
	var m projectMemory
	now := time.Unix(1_700_000_000, 0)
	m.remember("prj-live", nil)
	for i := range 100_000 {
		m.forget(fmt.Sprint("prj-", i), now)
		if n := m.unknown.len(); n > 2*maxRemembered {
			t.Fatalf("after %d missing projects the memory holds %d, want at most %d", i+1, n, 2*maxRemembered)
		}
	}
	if known, _ := m.state("prj-live", now); !known {
		t.Error("a flood of missing projects pushed out a live one")
	}
	if _, missing := m.state("prj-99999", now.Add(unknownProjectTTL)); missing {
		t.Error("a missing project is still remembered as missing after unknownProjectTTL")
	}
}
