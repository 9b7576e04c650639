package connecttoken

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewAndHash(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		secret, hash, err := New()
		if err != nil {
			t.Fatalf("New() error = %v", err)
		}
		if !strings.HasPrefix(secret, Prefix) || len(secret) != len(Prefix)+43 {
			t.Fatalf("New() secret = %q, want %s plus 43 characters", secret, Prefix)
		}
		if seen[secret] {
			t.Fatalf("New() returned %q twice", secret)
		}
		seen[secret] = true
		got, err := Hash(secret)
		if err != nil || got != hash {
			t.Fatalf("Hash(%q) = %q, %v, want %q, nil", secret, got, err, hash)
		}
		if strings.Contains(hash, secret[len(Prefix):]) {
			t.Fatalf("hash %q contains the secret", hash)
		}
	}
}

func TestHashKnownAnswer(t *testing.T) {
	// 32 zero bytes, base64url: 43 'A's. SHA-256 computed with `printf %s ctk1_AAAA... | sha256sum`.
	secret := Prefix + strings.Repeat("A", 43)
	got, err := Hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	const want = "da04fb40b140dbd682d62e6ac199112060995a285a2dc4c35ba185c61c63d3bf"
	if sum := hashOf(secret); got != sum {
		t.Fatalf("Hash(%q) = %q, want %q", secret, got, sum)
	}
	if got != want {
		t.Fatalf("Hash(%q) = %q, want %q", secret, got, want)
	}
}

func TestHashRejectsMalformed(t *testing.T) {
	valid, _, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, secret string
	}{
		{"empty", ""},
		{"prefix only", Prefix},
		{"no prefix", valid[len(Prefix):]},
		{"other prefix", "ctk2_" + valid[len(Prefix):]},
		{"upper-case prefix", "CTK1_" + valid[len(Prefix):]},
		{"truncated", valid[:len(valid)-1]},
		{"extended", valid + "A"},
		{"padding", valid[:len(valid)-1] + "="},
		{"standard alphabet", Prefix + strings.Repeat("+", 43)},
		{"space", Prefix + strings.Repeat(" ", 43)},
		{"non-canonical last character", Prefix + strings.Repeat("A", 42) + "B"},
		{"id instead of secret", "ctk-0123456789abcdef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Hash(tt.secret); !errors.Is(err, ErrMalformed) {
				t.Errorf("Hash(%q) = %q, %v, want ErrMalformed", tt.secret, got, err)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	for _, s := range []string{"passkey-append", "passkey-list", "passkey-delete", "passkey-login"} {
		if got, err := ParseType(s); err != nil || string(got) != s {
			t.Errorf("ParseType(%q) = %q, %v, want %q, nil", s, got, err, s)
		}
	}
	for _, s := range []string{"", "passkey", "PASSKEY-APPEND", "passkey-append ", "login"} {
		if _, err := ParseType(s); !errors.Is(err, ErrUnknownType) {
			t.Errorf("ParseType(%q) error = %v, want ErrUnknownType", s, err)
		}
	}
}

func TestLifetime(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		name    string
		seconds *int64
		want    time.Duration
		wantErr error
	}{
		{"default", nil, 600 * time.Second, nil},
		{"one second", n(1), time.Second, nil},
		{"one hour", n(3600), time.Hour, nil},
		{"zero", n(0), 0, ErrLifetime},
		{"negative", n(-5), 0, ErrLifetime},
		{"over an hour", n(3601), 0, ErrLifetime},
		{"huge", n(1 << 62), 0, ErrLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Lifetime(tt.seconds)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("Lifetime() = %v, %v, want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAuthorizes(t *testing.T) {
	now := time.Unix(1767225600, 0)
	tests := []struct {
		name  string
		state State
		want  Type
		err   error
	}{
		{"fresh", State{Type: TypeAppend, ExpiresAt: now.Add(time.Minute)}, TypeAppend, nil},
		{"wrong type", State{Type: TypeList, ExpiresAt: now.Add(time.Minute)}, TypeDelete, ErrWrongType},
		{"login token for append", State{Type: TypeLogin, ExpiresAt: now.Add(time.Minute)}, TypeAppend, ErrWrongType},
		{"consumed", State{Type: TypeList, ExpiresAt: now.Add(time.Minute), Consumed: true}, TypeList, ErrConsumed},
		{"expired", State{Type: TypeLogin, ExpiresAt: now.Add(-time.Second)}, TypeLogin, ErrExpired},
		{"expires now", State{Type: TypeLogin, ExpiresAt: now}, TypeLogin, ErrExpired},
		{"wrong type beats expired", State{Type: TypeLogin, ExpiresAt: now.Add(-time.Second)}, TypeAppend, ErrWrongType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.state.Authorizes(tt.want, now); !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Errorf("%+v.Authorizes(%s) = %v, want %v", tt.state, tt.want, err, tt.err)
			}
		})
	}
}

func FuzzHash(f *testing.F) {
	valid, _, _ := New()
	for _, s := range []string{"", Prefix, valid, valid[:20], valid + "x", "ctk1_" + strings.Repeat("_", 43), "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Hash(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Hash(%q) error = %v, want ErrMalformed", s, err)
			}
			return
		}
		if len(h) != 64 || !strings.HasPrefix(s, Prefix) || len(s) != len(Prefix)+43 {
			t.Fatalf("Hash(%q) accepted a secret of the wrong shape: %q", s, h)
		}
	})
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	secret, _, _ := New()
	for b.Loop() {
		if _, err := Hash(secret); err != nil {
			b.Fatal(err)
		}
	}
}
