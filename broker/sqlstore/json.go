package sqlstore

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// List is a list stored as JSON text in one column (origins, algorithms, transports).
// A NULL or empty column reads as an empty list.
type List[T any] []T

// Value encodes l as a JSON array; nil is [].
func (l List[T]) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]T(l))
	return string(b), err
}

// Scan decodes a JSON array column.
func (l *List[T]) Scan(src any) error {
	var raw []byte
	switch v := src.(type) {
	case nil:
		*l = List[T]{}
		return nil
	case string:
		raw = []byte(v)
	case []byte:
		raw = v
	default:
		return fmt.Errorf("sqlstore: cannot read %T as a JSON list", src)
	}
	out := List[T]{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return fmt.Errorf("sqlstore: bad JSON list column: %w", err)
		}
	}
	*l = out
	return nil
}

// Object is a JSON object stored as text in one column (event details). A NULL, empty or
// unreadable column reads as an empty object.
type Object map[string]any

// Value encodes o as a JSON object; nil is {}.
func (o Object) Value() (driver.Value, error) {
	if o == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(o))
	return string(b), err
}

// Scan decodes a JSON object column.
func (o *Object) Scan(src any) error {
	var raw []byte
	switch v := src.(type) {
	case string:
		raw = []byte(v)
	case []byte:
		raw = v
	}
	out := Object{}
	if err := json.Unmarshal(raw, &out); err != nil || out == nil {
		out = Object{}
	}
	*o = out
	return nil
}
