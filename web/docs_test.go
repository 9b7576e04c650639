package web_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLicense checks that the repository carries the Apache License 2.0 and that README and
// the API description name it.
func TestLicense(t *testing.T) {
	raw, err := os.ReadFile("../LICENSE")
	if err != nil {
		t.Fatalf("LICENSE: %v", err)
	}
	text := string(raw)
	for _, want := range []string{"Apache License", "Version 2.0, January 2004", "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "END OF TERMS AND CONDITIONS"} {
		if !strings.Contains(text, want) {
			t.Errorf("LICENSE lacks %q", want)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "[Apache License 2.0](LICENSE)") {
		t.Error("README does not name the license with a link to LICENSE")
	}
	doc, _ := loadOpenAPI(t)
	if l := doc.Info.License; l == nil || l.Name != "Apache-2.0" || l.Identifier != "Apache-2.0" || l.URL != "" {
		t.Errorf("info.license = %+v, want name and identifier Apache-2.0 (and no url: 3.1 allows one of the two)", l)
	}
}

// TestDocsStandAlone checks that no file of the repository links outside it (the team's
// shared folder): README and web/openapi.yaml describe the API themselves.
func TestDocsStandAlone(t *testing.T) {
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "out") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, bad := range []string{"../shared", "shared/CONTRACT", "CONTRACT.md"} {
			if bytes.Contains(raw, []byte(bad)) && !strings.HasSuffix(p, "docs_test.go") {
				t.Errorf("%s refers to %q, outside the repository", p, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	readme, _ := os.ReadFile("../README.md")
	for _, want := range []string{"### The HTTP API", "`error.type` is one of", "signedPasskeyData** is a compact JWS", "| `login/start` |"} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Errorf("README does not describe the API itself: no %q", want)
		}
	}
}

// TestReadmeKeyRotation checks that README warns, where `keys rotate --activate-in` is
// documented, that verifiers such as jose's wait 30 s between JWKS fetches.
func TestReadmeKeyRotation(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "**Rotating signing keys.**")
	section, _, _ = strings.Cut(section, "\n\n")
	for _, want := range []string{"--activate-in", "cooldownDuration", "30 seconds", "ERR_JWKS_NO_MATCHING_KEY"} {
		if !strings.Contains(section, want) {
			t.Errorf("README's key rotation paragraph lacks %q:\n%s", want, section)
		}
	}
}
