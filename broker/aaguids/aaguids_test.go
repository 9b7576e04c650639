package aaguids

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestEmbedded(t *testing.T) {
	n := Embedded()
	if n.Len() < 300 {
		t.Fatalf("Embedded().Len() = %d, want the 309 names of aaguids 0.0.44", n.Len())
	}
	tests := []struct{ aaguid, want string }{
		{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4", "Google Password Manager"},
		{"EA9B8D66-4D01-1D21-3CE4-B6B48CB575D4", "Google Password Manager"},
		{"fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "Apple Passwords"},
		{"bada5566-a7aa-401f-bd96-45619a55120d", "1Password"},
		{"d548826e-79b4-db40-a3d8-11116f7e8349", "Bitwarden"},
		{"00000000-0000-0000-0000-000000000000", ""},
		{"", ""},
		{"not-a-uuid", ""},
	}
	for _, tc := range tests {
		if got := n.Name(tc.aaguid); got != tc.want {
			t.Errorf("Embedded().Name(%q) = %q, want %q", tc.aaguid, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr error
		aaguid  string
		want    string
	}{
		{name: "one name", in: `{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager"}`, aaguid: "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4", want: "Google Password Manager"},
		{name: "upper-case key", in: `{"EA9B8D66-4D01-1D21-3CE4-B6B48CB575D4": "GPM"}`, aaguid: "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4", want: "GPM"},
		{name: "not JSON", in: `{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "GPM"`, wantErr: ErrMalformed},
		{name: "empty input", in: ``, wantErr: ErrMalformed},
		{name: "array", in: `["GPM"]`, wantErr: ErrShape},
		{name: "null", in: `null`, wantErr: ErrShape},
		{name: "no entries", in: `{}`, wantErr: ErrShape},
		{name: "object values", in: `{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": {"name": "GPM", "icon_dark": "data:..."}}`, wantErr: ErrShape},
		{name: "number value", in: `{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": 1}`, wantErr: ErrShape},
		{name: "key not a UUID", in: `{"google": "GPM"}`, wantErr: ErrShape},
		{name: "key in braces", in: `{"{ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4}": "GPM"}`, wantErr: ErrShape},
		{name: "empty name", in: `{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": " "}`, wantErr: ErrShape},
		{name: "control character", in: `{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "GPM\u0007"}`, wantErr: ErrShape},
		{name: "one AAGUID twice", in: `{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "a", "EA9B8D66-4D01-1D21-3CE4-B6B48CB575D4": "b"}`, wantErr: ErrShape},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse([]byte(tc.in))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Parse(%q) = %v, want %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := n.Name(tc.aaguid); got != tc.want {
				t.Errorf("Parse(%q).Name(%q) = %q, want %q", tc.in, tc.aaguid, got, tc.want)
			}
		})
	}
}

func TestLoadAndMarshal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aaguids.json")
	if _, err := Load(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want os.ErrNotExist", err)
	}
	in := `{"EA9B8D66-4D01-1D21-3CE4-B6B48CB575D4": "GPM", "bada5566-a7aa-401f-bd96-45619a55120d": "1Password"}`
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := Load(path)
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	b, err := n.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"bada5566-a7aa-401f-bd96-45619a55120d":"1Password","ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4":"GPM"}`
	if string(b) != want {
		t.Errorf("MarshalJSON() = %s, want %s", b, want)
	}
	var nilNames *Names
	if got := nilNames.Name("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"); got != "" || nilNames.Len() != 0 {
		t.Errorf("(*Names)(nil).Name() = %q, Len() = %d; want \"\", 0", got, nilNames.Len())
	}
}

// FuzzParse feeds Parse arbitrary files: it must never panic, every refusal must be one of
// the package's kinds, and what it accepts must round-trip through MarshalJSON.
func FuzzParse(f *testing.F) {
	f.Add(embedded)
	for _, s := range []string{`{}`, `[]`, `{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "GPM"}`, `{"x": 1}`, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrShape) {
				t.Fatalf("Parse(%q) = %v, want ErrMalformed or ErrShape", b, err)
			}
			return
		}
		out, err := n.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON() = %v", err)
		}
		again, err := Parse(out)
		if err != nil || again.Len() != n.Len() {
			t.Fatalf("Parse(MarshalJSON(Parse(%q))) = %v with %d names, want %d", b, err, again.Len(), n.Len())
		}
	})
}
