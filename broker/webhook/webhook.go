// Package webhook signs and sends webhook deliveries the way the Standard Webhooks
// specification describes (headers webhook-id, webhook-timestamp and webhook-signature, an
// HMAC-SHA256 of "id.timestamp.body" under a per-endpoint secret `whsec_...`), and guards the
// outgoing requests against SSRF: only https to public addresses, checked on the address
// actually dialled, and no redirects followed. It knows nothing about the store.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SecretPrefix starts every endpoint secret.
const SecretPrefix = "whsec_"

// secretBytes is the length of a new secret's key: the specification asks for 24 to 64.
const secretBytes = 32

// NewSecret returns a new endpoint secret: SecretPrefix and the standard base64 of 32 random
// bytes.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook: reading random bytes: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// ParseSecret returns the key of secret (with or without SecretPrefix), which must be the
// standard base64 of 24 to 64 bytes.
func ParseSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, errors.New("webhook: a secret is whsec_ and the base64 of 24 to 64 bytes")
	}
	return key, nil
}

// Sign returns the webhook-signature header of a message: "v1," and the standard base64 of
// HMAC-SHA256(key, msgID + "." + unix seconds of at + "." + body).
func Sign(key []byte, msgID string, at time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + strconv.FormatInt(at.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ErrBlocked is returned (wrapped) for a URL or address that the guard refuses.
var ErrBlocked = errors.New("webhook: destination not allowed")

// blocked are the special-purpose ranges that are not public, beyond what netip's
// predicates (loopback, private, link-local, multicast, unspecified) cover (IANA's IPv4 and
// IPv6 Special-Purpose Address Registries).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may reach any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo among them)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: may embed any IPv4 address
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// PublicAddr reports whether a is a public unicast address: not loopback, private,
// link-local, CGNAT, multicast, unspecified, documentation or otherwise special-purpose.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// CheckURL validates a webhook URL as given by a project: absolute, https (http too when
// allowPrivate), a host, no user information or fragment, at most 2,000 bytes; without
// allowPrivate the host must not be an IP address that PublicAddr refuses nor a name
// under localhost. It returns the URL in canonical form. Names are resolved only when a
// delivery dials (see Client), where the address is checked again.
func CheckURL(raw string, allowPrivate bool) (string, error) {
	if len(raw) > 2000 {
		return "", fmt.Errorf("%w: the URL is longer than 2000 bytes", ErrBlocked)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%w: not an absolute URL", ErrBlocked)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	default:
		return "", fmt.Errorf("%w: the URL must use https", ErrBlocked)
	}
	if u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("%w: the URL must not carry user information or a fragment", ErrBlocked)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return "", fmt.Errorf("%w: the URL has no host", ErrBlocked)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%w: bad port", ErrBlocked)
		}
	}
	if !allowPrivate {
		if a, err := netip.ParseAddr(host); err == nil && !PublicAddr(a) {
			return "", fmt.Errorf("%w: %s is not a public address", ErrBlocked, host)
		}
		if host == "localhost" || strings.HasSuffix(host, ".localhost") || !strings.Contains(host, ".") && net.ParseIP(host) == nil {
			return "", fmt.Errorf("%w: %s is not a public host name", ErrBlocked, host)
		}
	}
	return u.String(), nil
}

// dialControl refuses, unless allowPrivate, a connection to an address that PublicAddr
// refuses. It runs on the address being dialled, after name resolution, so a name that
// resolves to a private address (or changes its answer between checks) cannot get through.
func dialControl(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: cannot parse dialled address %q", ErrBlocked, address)
		}
		if !PublicAddr(ap.Addr()) {
			return fmt.Errorf("%w: %s is not a public address", ErrBlocked, ap.Addr())
		}
		return nil
	}
}

// Client sends deliveries.
type Client struct {
	// AllowPrivate lets deliveries go to http URLs and to private, loopback and other
	// non-public addresses (LATCHKEY_WEBHOOK_ALLOW_PRIVATE=1: tests and intranets).
	AllowPrivate bool
	http         *http.Client
}

// NewClient returns a Client whose requests time out after timeout (0: 10 s), go directly
// (no proxy from the environment: the guard must see the real destination), and never
// follow redirects: a 3xx answer is a failed delivery.
func NewClient(allowPrivate bool, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: dialControl(allowPrivate)}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          20,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       60 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Client{AllowPrivate: allowPrivate, http: &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// The results of a delivery attempt, a fixed set (for metrics).
const (
	ResultSuccess      = "success"       // a 2xx answer
	ResultHTTPError    = "http_error"    // any other status, redirects included
	ResultNetworkError = "network_error" // no answer: refused, reset, TLS, DNS
	ResultTimeout      = "timeout"       // no answer in time
	ResultBlocked      = "blocked"       // the guard refused the URL or the dialled address
)

// Results lists every result.
var Results = []string{ResultSuccess, ResultHTTPError, ResultNetworkError, ResultTimeout, ResultBlocked}

// Message is one delivery.
type Message struct {
	ID   string    // webhook-id: the same for every attempt of one message
	At   time.Time // webhook-timestamp: when this attempt is made
	Body []byte    // the JSON payload
}

// Outcome is what one attempt came to.
type Outcome struct {
	Result     string
	StatusCode int    // 0 when there was no answer
	Error      string // a short description for the operator, "" on success
}

// Send POSTs m to rawURL signed with key, and reports the outcome; it reads at most 4 KiB
// of the answer. The URL is checked again (CheckURL) and every dialled address too.
func (c *Client) Send(ctx context.Context, rawURL string, key []byte, m Message) Outcome {
	if _, err := CheckURL(rawURL, c.AllowPrivate); err != nil {
		return Outcome{Result: ResultBlocked, Error: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(m.Body))
	if err != nil {
		return Outcome{Result: ResultBlocked, Error: "the URL does not make a request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Latchkey-Webhooks/1")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(m.At.Unix(), 10))
	req.Header.Set("webhook-signature", Sign(key, m.ID, m.At, m.Body))
	resp, err := c.http.Do(req)
	if err != nil {
		var nerr net.Error
		switch {
		case errors.Is(err, ErrBlocked):
			return Outcome{Result: ResultBlocked, Error: shorten(err.Error())}
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
			return Outcome{Result: ResultTimeout, Error: "no answer in time"}
		}
		return Outcome{Result: ResultNetworkError, Error: shorten(err.Error())}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return Outcome{Result: ResultSuccess, StatusCode: resp.StatusCode}
	}
	msg := "answered " + resp.Status
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg += " (redirects are not followed)"
	}
	return Outcome{Result: ResultHTTPError, StatusCode: resp.StatusCode, Error: shorten(msg)}
}

// shorten cuts s to at most 300 bytes of valid UTF-8.
func shorten(s string) string {
	if len(s) > 300 {
		s = s[:300]
	}
	return strings.ToValidUTF8(s, "")
}
