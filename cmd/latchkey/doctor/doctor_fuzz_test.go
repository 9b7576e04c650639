package doctor_test

import (
	"testing"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/cmd/latchkey/doctor"
)

// FuzzCompare: whatever a site serves, comparing it never panics, and the broker's own file
// never differs from itself.
func FuzzCompare(f *testing.F) {
	w := project().WellKnown
	for _, name := range broker.WellKnownFiles {
		body, _ := w.File(name)
		f.Add(name, body)
	}
	f.Add(broker.AssetLinksFile, []byte(`[{"target":null}]`))
	f.Add(broker.AppleAssociationFile, []byte(`{"webcredentials":[]}`))
	f.Add(broker.RelatedOriginsFile, []byte(`null`))
	f.Fuzz(func(t *testing.T, name string, got []byte) {
		want, ok := w.File(name)
		if !ok {
			return
		}
		_ = doctor.Compare(name, want, got)
		if d := doctor.Compare(name, want, want); len(d) != 0 {
			t.Fatalf("Compare(%s, itself) = %q", name, d)
		}
	})
}
