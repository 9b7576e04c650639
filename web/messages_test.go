package web_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// catalogueLanguages are the languages the components ship.
var catalogueLanguages = []string{"de", "en", "es", "fr", "ja"}

// readCatalogues parses web/sdk/latchkey-messages.js, whose object literal is JSON.
func readCatalogues(t *testing.T) map[string]map[string]string {
	t.Helper()
	src, err := os.ReadFile("sdk/latchkey-messages.js")
	if err != nil {
		t.Fatal(err)
	}
	const decl = "export const catalogues = "
	s := string(src)
	i := strings.Index(s, decl)
	j := strings.LastIndex(s, "};")
	if i < 0 || j < i {
		t.Fatalf("latchkey-messages.js has no %q ... }; declaration", decl)
	}
	var c map[string]map[string]string
	if err := json.Unmarshal([]byte(s[i+len(decl):j+1]), &c); err != nil {
		t.Fatalf("the catalogues of latchkey-messages.js are not JSON: %v", err)
	}
	return c
}

var (
	// messageKey is the shape of a catalogue key.
	messageKey = regexp.MustCompile(`^(busy|(login|append|manage|error)\.[a-z_]+)$`)
	// jsLiteral is a single-quoted string literal of the components' source, with what precedes it.
	jsLiteral   = regexp.MustCompile(`(report\(\s*)?'([a-z_.]+)'`)
	placeholder = regexp.MustCompile(`\{(\w+)\}`)
)

// usedMessageKeys returns the message keys that latchkey-components.js names (analytics event
// names, the first argument of report, are not message keys).
func usedMessageKeys(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("sdk/latchkey-components.js")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range jsLiteral.FindAllStringSubmatch(string(src), -1) {
		if m[1] == "" && messageKey.MatchString(m[2]) && !slices.Contains(keys, m[2]) {
			keys = append(keys, m[2])
		}
	}
	slices.Sort(keys)
	return keys
}

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestMessageCatalogues checks that every catalogue of the components has every key the
// components use, no key they do not use, the same placeholders as English, and no empty text.
func TestMessageCatalogues(t *testing.T) {
	cats := readCatalogues(t)
	var langs []string
	for l := range cats {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	if diff := cmp.Diff(catalogueLanguages, langs); diff != "" {
		t.Errorf("catalogue languages (-want +got):\n%s", diff)
	}
	used := usedMessageKeys(t)
	if len(used) < 50 {
		t.Fatalf("found only %d message keys in latchkey-components.js: %v", len(used), used)
	}
	for _, lang := range langs {
		cat := cats[lang]
		for _, k := range used {
			if _, ok := cat[k]; !ok {
				t.Errorf("catalogue %s lacks the key %q, which the components use", lang, k)
			}
		}
		for k, text := range cat {
			if !slices.Contains(used, k) {
				t.Errorf("catalogue %s has the key %q, which the components do not use", lang, k)
			}
			if strings.TrimSpace(text) == "" {
				t.Errorf("catalogue %s: %q is empty", lang, k)
			}
			if en, ok := cats["en"][k]; ok && !slices.Equal(placeholders(text), placeholders(en)) {
				t.Errorf("catalogue %s: %q has placeholders %v, English has %v", lang, k, placeholders(text), placeholders(en))
			}
		}
	}
}
