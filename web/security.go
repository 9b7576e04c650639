package web

import (
	"bytes"
	"encoding/json"
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
	// A scan of the bytes, not encoding/json's Token, which allocated for every token and cost
	// as much as decoding the body. It tracks only what the checks need: the open containers,
	// each object's keys, and whether the next string is a key (after "{" or an object's ",").
	// It is exact for valid JSON; on anything else it may stop early or go on, and the decoder
	// that reads the body next refuses it either way. FuzzCheckJSON compares it with a
	// recursive reference built on encoding/json.
	type frame struct {
		keys   map[string]bool // nil for an array, and for an object until its first key
		object bool
	}
	var stack []frame
	expectKey := false
	for i := 0; i < len(body); {
		switch c := body[i]; c {
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				return errInvalidJSON
			}
			stack = append(stack, frame{object: c == '{'})
			expectKey = c == '{'
			i++
		case '}', ']':
			if len(stack) == 0 {
				return errInvalidJSON
			}
			stack = stack[:len(stack)-1]
			expectKey = false
			i++
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
			i++
		case '"':
			end := stringEnd(body, i)
			if end < 0 {
				return errInvalidJSON
			}
			if expectKey {
				key, err := jsonKey(body[i:end])
				if err != nil {
					return errInvalidJSON
				}
				top := &stack[len(stack)-1]
				if top.keys == nil {
					top.keys = map[string]bool{}
				}
				k := foldKey(key)
				if top.keys[k] {
					return errInvalidJSON
				}
				top.keys[k] = true
				expectKey = false
			}
			i = end
		default: // white space, ":", numbers and literals
			i++
		}
	}
	return nil
}

// stringEnd returns the index just after the JSON string that starts with the quote at
// body[start], or -1 if it does not end.
func stringEnd(body []byte, start int) int {
	for j := start + 1; j < len(body); j++ {
		switch body[j] {
		case '\\':
			j++ // the escaped byte; a \u escape's hex digits need no care
		case '"':
			return j + 1
		}
	}
	return -1
}

// jsonKey returns the string that the JSON string literal raw (quotes included) denotes.
func jsonKey(raw []byte) (string, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
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
