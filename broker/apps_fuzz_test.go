package broker_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker"
)

// FuzzParseFingerprint: a fingerprint from the management API or the command line is either
// refused or stands for 32 bytes whose origin leads back to it.
func FuzzParseFingerprint(f *testing.F) {
	for _, s := range []string{
		"D2:E1:A6:6F:8C:00:55:97:9F:30:2F:3D:79:A9:5D:78:85:1F:C5:21:5A:7F:81:B3:BF:60:22:71:EF:6F:60:24",
		"d2:e1:a6:6f:8c:00:55:97:9f:30:2f:3d:79:a9:5d:78:85:1f:c5:21:5a:7f:81:b3:bf:60:22:71:ef:6f:60:24",
		"AA:BB", "", ":", "AA::BB", " AA:BB ", "D2E1A66F", "ZZ:ZZ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, raw, err := broker.ParseFingerprint(s)
		if err != nil {
			return
		}
		if len(raw) != 32 || norm != strings.ToUpper(strings.TrimSpace(s)) {
			t.Fatalf("ParseFingerprint(%q) = %q, %d bytes", s, norm, len(raw))
		}
		origin, err := broker.AndroidOrigin(s)
		if err != nil {
			t.Fatalf("AndroidOrigin(%q) = %v after ParseFingerprint accepted it", s, err)
		}
		if back, ok := broker.FingerprintOfOrigin(origin); !ok || back != norm {
			t.Fatalf("FingerprintOfOrigin(AndroidOrigin(%q)) = %q, %v, want %q", s, back, ok, norm)
		}
	})
}

// FuzzAppIdentifiers: package names and app IDs that pass are made of the characters their
// formats allow, so they are safe to put in association files and messages.
func FuzzAppIdentifiers(f *testing.F) {
	for _, s := range []string{"com.example.shop", "ABCDE12345.com.example.shop", "a.b", "ABCDE12345.", "x\x00.y", "ABCDE12345.com/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, check := range map[string]func(string) error{"ValidatePackageName": broker.ValidatePackageName, "ValidateAppID": broker.ValidateAppID} {
			if check(s) != nil {
				continue
			}
			if strings.ContainsFunc(s, func(r rune) bool {
				return !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
			}) || len(s) > 300 {
				t.Fatalf("%s(%q) accepted it", name, s)
			}
		}
	})
}
