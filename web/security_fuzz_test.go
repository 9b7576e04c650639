package web

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzClientIP feeds arbitrary peers and X-Forwarded-For headers to clientIP: the answer is
// the peer unless the peer is a trusted proxy, and otherwise an address that the header or
// the peer holds; a client never picks an address by writing the header from an untrusted peer.
func FuzzClientIP(f *testing.F) {
	trusted, _ := ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48")
	for _, s := range [][2]string{
		{"198.51.100.7:5555", "203.0.113.9"}, {"10.1.2.3:443", "1.1.1.1, 203.0.113.9, 10.9.9.9"},
		{"10.1.2.3:443", "garbage, ,,"}, {"[2001:db8:ffff::1]:443", "[2001:db8::1]:8443"}, {"[::ffff:10.1.2.3]:1", "fe80::1%eth0"},
		{"pipe", ""}, {"10.0.0.1:1", strings.Repeat("10.0.0.2,", 100)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = peer
		req.Header.Set("X-Forwarded-For", xff)
		got := clientIP(req, trusted)
		p := parseHost(peer)
		if !p.IsValid() || !isTrusted(p, trusted) {
			if got != p {
				t.Fatalf("clientIP(untrusted peer %q, %q) = %v, want the peer %v", peer, xff, got, p)
			}
			return
		}
		if got == p {
			return
		}
		found := false
		for _, h := range strings.Split(xff, ",") {
			if a := parseHost(strings.TrimSpace(h)); a.IsValid() && a == got {
				found = true
			}
		}
		if !found || got.Zone() != "" {
			t.Fatalf("clientIP(%q, %q) = %v, which neither the peer nor X-Forwarded-For holds", peer, xff, got)
		}
		_ = ipKey(got)
		_ = netip.PrefixFrom(got, 0)
	})
}

// FuzzCheckJSON compares checkJSON with a plain recursive reference on arbitrary bodies:
// they agree on every valid JSON document, and an accepted body is valid UTF-8.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"A":2}`, `{"k":1,"\u212a":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `[[[[]]]]`, `{"a":"a","b":"a"}`,
		`{"credential":{"response":{"clientDataJSON":"e30"}},"ceremonyID":"cer-1"}`, "{\"\xff\":1}", `{"a":1}{"a":1}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := checkJSON(body)
		if err == nil && !utf8.Valid(body) {
			t.Fatalf("checkJSON accepted invalid UTF-8 %q", body)
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			return
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		refDup, refDeep := referenceCheck(dec, 0)
		if (err == nil) == (refDup || refDeep) {
			t.Fatalf("checkJSON(%q) = %v, reference says duplicate %v, too deep %v", body, err, refDup, refDeep)
		}
	})
}

// referenceCheck walks one JSON value recursively and reports whether an object in it has
// two keys equal under strings.EqualFold, or whether it nests deeper than maxJSONDepth.
func referenceCheck(dec *json.Decoder, depth int) (dup, deep bool) {
	tok, err := dec.Token()
	if err == io.EOF || err != nil {
		return false, false
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return false, false
	}
	if depth+1 > maxJSONDepth {
		return false, true
	}
	var keys []string
	for dec.More() {
		if d == '{' {
			k, _ := dec.Token()
			key, _ := k.(string)
			for _, seen := range keys {
				if strings.EqualFold(seen, key) {
					dup = true
				}
			}
			keys = append(keys, key)
		}
		cd, cdeep := referenceCheck(dec, depth+1)
		dup, deep = dup || cd, deep || cdeep
		if deep {
			return dup, deep
		}
	}
	_, _ = dec.Token() // the closing delimiter
	return dup, deep
}
