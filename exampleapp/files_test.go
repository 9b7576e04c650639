package exampleapp

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestDataFilesArePrivate checks that the app's database (with SQLite's -wal and -shm files)
// and its session key are readable by their owner only, also a database that an older
// version created readable by all.
func TestDataFilesArePrivate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing bool
	}{{"new", false}, {"created readable by all", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.existing {
				if err := os.WriteFile(filepath.Join(dir, "exampleapp.db"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(dir, "exampleapp.db"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fb := newFakeBroker(t)
			a, err := New(context.Background(), Config{BrokerURL: fb.URL, ProjectID: fakeProjectID, APISecret: fakeSecret, DataDir: dir})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer a.Close()
			if _, err := createUser(context.Background(), a.db, "Jane", "jane@example.com", "correct horse", a.now()); err != nil {
				t.Fatal(err) // a write, so that the -wal and -shm files exist
			}
			files, _ := filepath.Glob(filepath.Join(dir, "exampleapp.*"))
			if len(files) < 3 {
				t.Fatalf("files %v, want at least the database, its WAL and the key", files)
			}
			for _, f := range files {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				if mode := fi.Mode().Perm(); mode&0o077 != 0 {
					t.Errorf("%s has mode %v, want 0600 (owner only)", filepath.Base(f), mode)
				}
			}
		})
	}
}
