package web

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// contentSecurityPolicy is sent with every response. The broker serves no pages: API answers
// are JSON and /web/ serves scripts that other origins import, so nothing it sends needs to
// load anything, run inline, or be framed.
const contentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// maxJSONDepth bounds the nesting of request bodies; the deepest the contract needs is a
// credential's extension outputs, about six levels.
const maxJSONDepth = 32

// checkJSON refuses, as errInvalidJSON, a body that is not valid UTF-8, nests deeper than
// maxJSONDepth, or has an object with two keys that encoding/json would take for the same
// field. Go's decoder matches names case-insensitively and lets the last duplicate win, where
// another parser (a proxy, a WAF, the app's logs) may keep the first: such a body means two
// things, so it is refused rather than guessed at. Keys the broker does not know are still
// ignored, so that newer clients keep working. Syntax errors are left to the decoder.
func checkJSON(body []byte) error {
	if !utf8.Valid(body) {
		return errInvalidJSON
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// Each open container: its keys so far (nil for an array), and whether the next string
	// token of an object is a key.
	type frame struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errInvalidJSON
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) >= maxJSONDepth {
					return errInvalidJSON
				}
				if top != nil && top.keys != nil {
					top.expectKey = true
				}
				f := &frame{}
				if t == '{' {
					f.keys, f.expectKey = map[string]bool{}, true
				}
				stack = append(stack, f)
				continue
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].keys != nil {
					stack[len(stack)-1].expectKey = true
				}
				continue
			}
		case string:
			if top != nil && top.keys != nil && top.expectKey {
				k := foldKey(t)
				if top.keys[k] {
					return errInvalidJSON
				}
				top.keys[k] = true
				top.expectKey = false
				continue
			}
		}
		if top != nil && top.keys != nil {
			top.expectKey = true
		}
	}
}

// foldKey maps s to one representative of the names that equal it under Unicode simple case
// folding, the equivalence encoding/json uses to match keys to fields.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
