package web_test

import (
	"os"
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
