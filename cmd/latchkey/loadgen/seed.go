package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/softauthn"
)

// SeedFile is the seed file of `latchkey bench seed`: every user's identifier (Prefix and
// its index) and passkey (softauthn.DeriveCredential of Seed and its index) derive from it,
// so that a million users fit in a few hundred bytes. Keep it private: it holds the
// passkeys' private keys.
type SeedFile struct {
	Version   int    `json:"version"`
	ProjectID string `json:"projectID"`
	RPID      string `json:"rpID"`
	Prefix    string `json:"prefix"`
	Seed      string `json:"seed"` // hex, 32 bytes
	Users     int    `json:"users"`
}

// user returns the i-th user of the seed.
func (s *SeedFile) user(i int) (*vuser, error) {
	if i < 0 || i >= s.Users {
		return nil, fmt.Errorf("user %d of a seed of %d", i, s.Users)
	}
	seed, err := hex.DecodeString(s.Seed)
	if err != nil {
		return nil, err
	}
	cred, err := softauthn.DeriveCredential(seed, i)
	if err != nil {
		return nil, err
	}
	return &vuser{identifier: s.Prefix + strconv.Itoa(i), cred: cred}, nil
}

// ReadSeedFile reads the seed file at path, refusing one that Seed did not write.
func ReadSeedFile(path string) (*SeedFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s SeedFile
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if k, err := hex.DecodeString(s.Seed); s.Version != 1 || err != nil || len(k) != 32 || s.Users < 0 || s.ProjectID == "" {
		return nil, fmt.Errorf("%s: not a seed file of latchkey bench seed", path)
	}
	return &s, nil
}

// write writes s to path, readable by its owner only.
func (s *SeedFile) write(path string) error {
	raw, _ := json.MarshalIndent(s, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// SeedConfig is what `latchkey bench seed` is asked to do; each field is the flag it is
// named after.
type SeedConfig struct {
	ProjectID string // the project to add users to
	Users     int    // how many users to create
	Batch     int    // users per transaction
	SeedFile  string // where to write the seed file
}

// Check returns an error wrapping ErrUsage when cfg cannot run.
func (cfg SeedConfig) Check() error {
	const name = "latchkey bench seed"
	if cfg.ProjectID == "" || cfg.Users <= 0 {
		return usagef("%s: --project and --users (positive) are required", name)
	}
	if cfg.Batch < 1 {
		return usagef("%s: --batch must be positive", name)
	}
	return nil
}

// Seed writes cfg.Users users, each with one passkey, straight into project cfg.ProjectID
// through b.SeedPasskeys, in batches of cfg.Batch, and writes the seed file from which Run
// derives their private keys; it prints progress to stderr and a summary to stdout. What it
// stores is always a prefix of the seed, and the seed file says how many users that is, also
// when it fails. It returns broker.ErrNotFound for an unknown project, and an error wrapping
// ErrUsage when cfg cannot run. Only b's store is used: b needs no secret key.
func Seed(ctx context.Context, b *broker.Broker, cfg SeedConfig, stdout, stderr io.Writer) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	p, err := b.Project(ctx, cfg.ProjectID)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	prefix := make([]byte, 3)
	_, _ = rand.Read(prefix)
	seed := &SeedFile{Version: 1, ProjectID: p.ID, RPID: p.RPID, Prefix: "bench-" + hex.EncodeToString(prefix) + "-", Seed: hex.EncodeToString(key)}
	start := time.Now()
	err = seedUsers(ctx, cfg.Users, cfg.Batch, func(from, to int) ([]broker.SeedUser, error) {
		batch := make([]broker.SeedUser, 0, to-from)
		for i := from; i < to; i++ {
			u, err := seed.user(i)
			if err != nil {
				return nil, err
			}
			batch = append(batch, broker.SeedUser{Identifier: u.identifier, WebAuthnID: u.cred.UserHandle, CredentialID: u.cred.ID, PublicKey: u.cred.COSE()})
		}
		return batch, nil
	}, func(batch []broker.SeedUser) error {
		return b.SeedPasskeys(ctx, p.ID, batch)
	}, func(done int) {
		fmt.Fprintf(stderr, "seeded %d/%d users (%.0f/s)\n", done, cfg.Users, float64(done)/time.Since(start).Seconds())
	}, seed)
	if werr := seed.write(cfg.SeedFile); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("seeding (%d users stored, seed file %s): %w", seed.Users, cfg.SeedFile, err)
	}
	fmt.Fprintf(stdout, "seeded %d users into project %s in %.1fs; seed file %s\n", seed.Users, p.ID, time.Since(start).Seconds(), cfg.SeedFile)
	return nil
}

// seedUsers stores users [0, n) of seed in batches of size: derive makes a batch (on every
// core at once), write stores it (one batch at a time, in index order, so that what is
// stored is always a prefix of the seed). It reports each stored total, and leaves
// seed.Users at the number of users stored.
func seedUsers(ctx context.Context, n, size int, derive func(from, to int) ([]broker.SeedUser, error),
	write func([]broker.SeedUser) error, progress func(done int), seed *SeedFile) error {
	seed.Users = n // so that every index derives
	var (
		mu       sync.Mutex
		cond     = sync.NewCond(&mu)
		next     int // the batch to write next starts here
		firstErr error
		wg       sync.WaitGroup
		batches  = make(chan int)
	)
	go func() {
		defer close(batches)
		for from := 0; from < n; from += size {
			select {
			case batches <- from:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for from := range batches {
				to := min(from+size, n)
				users, err := derive(from, to)
				mu.Lock()
				for next != from && firstErr == nil {
					cond.Wait()
				}
				if err == nil && firstErr == nil {
					mu.Unlock()
					err = write(users)
					mu.Lock()
				}
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if firstErr == nil {
					next = to
					progress(next)
				}
				cond.Broadcast()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	seed.Users = next
	return firstErr
}
