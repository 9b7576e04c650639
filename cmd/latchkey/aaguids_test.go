package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker/aaguids"
	"github.com/latchkey/latchkey/broker/brokertest"
)

const gpmAAGUID = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAAGUIDsUpdate checks that aaguids update writes a valid file, normalised, where brokers
// read it, and leaves the current file alone when the new one is malformed or of another shape.
func TestAAGUIDsUpdate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "aaguids.json")
	env := map[string]string{"LATCHKEY_AAGUIDS_FILE": out}

	good := writeTemp(t, "good.json", `{"EA9B8D66-4D01-1D21-3CE4-B6B48CB575D4": "Renamed Password Manager", "bada5566-a7aa-401f-bd96-45619a55120d": "1Password"}`)
	stdout, _, err := runCmd(t, env, "aaguids", "update", "--file", good)
	if err != nil || !strings.Contains(stdout, "wrote 2 provider names to "+out) {
		t.Fatalf("aaguids update --file good.json = %v, %q; want 2 names written to %s", err, stdout, out)
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"bada5566-a7aa-401f-bd96-45619a55120d\": \"1Password\",\n  \"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4\": \"Renamed Password Manager\"\n}\n"
	if string(written) != want {
		t.Errorf("written file = %q, want %q", written, want)
	}
	names, err := providerNames(out)
	if err != nil || names.Name(gpmAAGUID) != "Renamed Password Manager" {
		t.Errorf("providerNames(written file) = %v, Name(GPM) = %q; want the new name", err, names.Name(gpmAAGUID))
	}

	tests := []struct {
		name    string
		content string
		wantErr error
	}{
		{"malformed file", `{"` + gpmAAGUID + `": "Google Password Manager"`, aaguids.ErrMalformed},
		{"unknown shape: names with icons", `{"` + gpmAAGUID + `": {"name": "Google Password Manager", "icon_dark": "data:image/svg+xml;base64,"}}`, aaguids.ErrShape},
		{"unknown shape: a list", `["Google Password Manager"]`, aaguids.ErrShape},
		{"unknown shape: keys not AAGUIDs", `{"google": "Google Password Manager"}`, aaguids.ErrShape},
		{"missing file", "", os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing.json")
			if tc.content != "" {
				path = writeTemp(t, "new.json", tc.content)
			}
			_, _, err := runCmd(t, env, "aaguids", "update", "--file", path)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("aaguids update --file %s = %v, want %v", tc.name, err, tc.wantErr)
			}
			if got, _ := os.ReadFile(out); string(got) != want {
				t.Errorf("after a refused update the file is %q, want it unchanged", got)
			}
		})
	}

	if _, _, err := runCmd(t, nil, "aaguids", "update", "--file", good); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "LATCHKEY_AAGUIDS_FILE") {
		t.Errorf("aaguids update without --out or LATCHKEY_AAGUIDS_FILE = %v, want a usage error naming LATCHKEY_AAGUIDS_FILE", err)
	}
	if _, _, err := runCmd(t, env, "aaguids", "update"); !errors.Is(err, errUsage) {
		t.Errorf("aaguids update without --file = %v, want a usage error", err)
	}
}

// TestAAGUIDsFileAtStart checks what a broker does with LATCHKEY_AAGUIDS_FILE when it starts:
// no file yet means the embedded names, an invalid file stops the command.
func TestAAGUIDsFileAtStart(t *testing.T) {
	names, err := providerNames(filepath.Join(t.TempDir(), "not-yet.json"))
	if err != nil || names != aaguids.Embedded() {
		t.Errorf("providerNames(missing file) = %v, %v; want the embedded names", names, err)
	}
	if names, err := providerNames(""); err != nil || names != aaguids.Embedded() {
		t.Errorf("providerNames(\"\") = %v, %v; want the embedded names", names, err)
	}
	env := map[string]string{"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"), "LATCHKEY_AAGUIDS_FILE": writeTemp(t, "bad.json", `{"x": 1}`)}
	if _, _, err := runCmd(t, env, "project", "list"); !errors.Is(err, aaguids.ErrShape) || !strings.Contains(err.Error(), "LATCHKEY_AAGUIDS_FILE") {
		t.Errorf("project list with an invalid LATCHKEY_AAGUIDS_FILE = %v, want aaguids.ErrShape naming the variable", err)
	}
	env["LATCHKEY_AAGUIDS_FILE"] = writeTemp(t, "good.json", `{"`+gpmAAGUID+`": "Renamed"}`)
	if _, _, err := runCmd(t, env, "project", "list"); err != nil {
		t.Errorf("project list with a valid LATCHKEY_AAGUIDS_FILE = %v, want nil", err)
	}
}
