package loadgen

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", []time.Duration{ms(7)}, 50, ms(7)},
		{"one sample p99", []time.Duration{ms(7)}, 99, ms(7)},
		{"two samples p50", []time.Duration{ms(10), ms(20)}, 50, ms(10)},
		{"two samples p90", []time.Duration{ms(10), ms(20)}, 90, ms(20)},
		{"1..100 p50", hundred, 50, ms(50)},
		{"1..100 p90", hundred, 90, ms(90)},
		{"1..100 p99", hundred, 99, ms(99)},
		{"1..100 p100", hundred, 100, ms(100)},
		{"1..100 p0.1 is the first", hundred, 0.1, ms(1)},
		{"1..100 p99.5 rounds up", hundred, 99.5, ms(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%d samples, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	// Unsorted input, 1000 samples of 1..1000 ms over 2 s.
	var samples []time.Duration
	for i := 1000; i >= 1; i-- {
		samples = append(samples, ms(i))
	}
	got := summarize(samples, 2*time.Second)
	want := Latency{Count: 1000, Rate: 500, P50: 500, P90: 900, P99: 990, Max: 1000}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarize() mismatch (-want +got):\n%s", diff)
	}
	if samples[0] != ms(1000) {
		t.Errorf("summarize() reordered its input")
	}
	if got := summarize(nil, time.Second); got != (Latency{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

func TestPickFollowsTheMix(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	const draws = 200000
	counts := map[string]int{}
	for range draws {
		counts[pick(mixes["mixed"], r)]++
	}
	for _, w := range mixes["mixed"] {
		share := float64(counts[w.scenario]) / draws * 100
		if share < float64(w.weight)-0.5 || share > float64(w.weight)+0.5 {
			t.Errorf("mixed: %s drawn %.2f%% of the time, want %d%% ± 0.5", w.scenario, share, w.weight)
		}
	}
	if len(counts) != 4 {
		t.Errorf("mixed drew %v, want the four scenarios", counts)
	}
	for _, name := range []string{ScenarioAppend, ScenarioLogin, ScenarioUsernameless, ScenarioVerifyOffline} {
		for range 100 {
			if got := pick(mixes[name], r); got != name {
				t.Fatalf("pick(%s) = %s", name, got)
			}
		}
	}
}

func TestNeedsUsers(t *testing.T) {
	for name, want := range map[string]bool{"append": false, "login": true, "login-usernameless": true, "verify-offline": true, "mixed": true} {
		if got := needsUsers(mixes[name]); got != want {
			t.Errorf("needsUsers(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestSlope(t *testing.T) {
	tests := []struct {
		name   string
		xs, ys []float64
		want   float64
	}{
		{"flat", []float64{0, 1, 2, 3}, []float64{30, 30, 30, 30}, 0},
		{"growing 2 per unit", []float64{0, 1, 2, 3}, []float64{10, 12, 14, 16}, 2},
		{"noisy flat", []float64{0, 1, 2, 3}, []float64{30, 31, 30, 31}, 0.2},
		{"one point", []float64{1}, []float64{5}, 0},
		{"no spread in x", []float64{1, 1}, []float64{5, 6}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slope(tt.xs, tt.ys); got < tt.want-1e-9 || got > tt.want+1e-9 {
				t.Errorf("slope(%v, %v) = %v, want %v", tt.xs, tt.ys, got, tt.want)
			}
		})
	}
}

func TestParseProc(t *testing.T) {
	// Field 2 holds a command name with a space and a parenthesis; utime 250 and stime 50
	// ticks are fields 14 and 15.
	stat := "4242 (lat key) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 8 0 100 1000000 2000 18446744073709551615\n"
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3*time.Second {
		t.Errorf("parseStatCPU() = %v, %v, want 3s", cpu, err)
	}
	if _, err := parseStatCPU("4242 (short) S 1"); err == nil {
		t.Errorf("parseStatCPU(truncated) succeeded")
	}
	status := "Name:\tlatchkey\nVmPeak:\t  900000 kB\nVmRSS:\t   40960 kB\nThreads:\t8\n"
	rss, err := parseStatusRSS(status)
	if err != nil || rss != 40<<20 {
		t.Errorf("parseStatusRSS() = %d, %v, want %d", rss, err, 40<<20)
	}
	if _, err := parseStatusRSS("Name:\tx\n"); err == nil {
		t.Errorf("parseStatusRSS(no VmRSS) succeeded")
	}
	// And the real thing, for this process.
	s, err := readProc(os.Getpid())
	if err != nil || s.rss <= 0 {
		t.Errorf("readProc(self) = %+v, %v, want a resident size", s, err)
	}
}

func TestSeedDerivation(t *testing.T) {
	seed := &SeedFile{Version: 1, ProjectID: "prj-x", Prefix: "bench-abc-", Seed: strings.Repeat("ab", 32), Users: 3}
	key := func(u *vuser) *ecdsa.PrivateKey { return u.cred.Signer.(*ecdsa.PrivateKey) }
	a, err := seed.user(2)
	if err != nil {
		t.Fatalf("user(2) = %v", err)
	}
	b, _ := seed.user(2)
	c, _ := seed.user(1)
	if a.identifier != "bench-abc-2" || len(a.cred.ID) != 16 || len(a.cred.UserHandle) != 32 {
		t.Errorf("user(2) = %q, credential %d bytes, handle %d bytes", a.identifier, len(a.cred.ID), len(a.cred.UserHandle))
	}
	if !key(a).Equal(key(b)) || string(a.cred.ID) != string(b.cred.ID) || string(a.cred.UserHandle) != string(b.cred.UserHandle) {
		t.Errorf("user(2) derived twice differs")
	}
	if key(a).Equal(key(c)) || string(a.cred.ID) == string(c.cred.ID) || string(a.cred.UserHandle) == string(c.cred.UserHandle) {
		t.Errorf("user(2) and user(1) share key material")
	}
	if _, err := seed.user(3); err == nil {
		t.Errorf("user(3) of a seed of 3 succeeded")
	}
	// A COSE key always has 32-byte coordinates: 10 + 32 + 3 + 32 bytes.
	for i := range 3 {
		u, _ := seed.user(i)
		if k := u.cred.COSE(); len(k) != 77 {
			t.Errorf("COSE(user %d) is %d bytes, want 77", i, len(k))
		}
	}

	path := filepath.Join(t.TempDir(), "seed.json")
	if err := seed.write(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSeedFile(path)
	if err != nil {
		t.Fatalf("ReadSeedFile() = %v", err)
	}
	if diff := cmp.Diff(seed, got); diff != "" {
		t.Errorf("ReadSeedFile(write()) mismatch (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("seed file mode = %v, %v, want 0600 (it holds private keys)", fi.Mode(), err)
	}
	if err := os.WriteFile(path, []byte(`{"version":1,"seed":"00"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSeedFile(path); err == nil {
		t.Errorf("ReadSeedFile(short seed) succeeded")
	}
}

func TestSeedUsersWritesAPrefixInOrder(t *testing.T) {
	derive := func(from, to int) ([]broker.SeedUser, error) {
		out := make([]broker.SeedUser, 0, to-from)
		for i := from; i < to; i++ {
			out = append(out, broker.SeedUser{Identifier: strconv.Itoa(i)})
		}
		return out, nil
	}
	t.Run("all", func(t *testing.T) {
		var written []string
		var reported []int
		seed := &SeedFile{}
		err := seedUsers(context.Background(), 25, 10, derive, func(b []broker.SeedUser) error {
			for _, u := range b {
				written = append(written, u.Identifier)
			}
			return nil
		}, func(done int) { reported = append(reported, done) }, seed)
		if err != nil {
			t.Fatalf("seedUsers() = %v", err)
		}
		for i, id := range written {
			if id != strconv.Itoa(i) {
				t.Fatalf("seedUsers wrote %v, want 0..24 in order", written)
			}
		}
		if len(written) != 25 || seed.Users != 25 {
			t.Errorf("seedUsers wrote %d users, seed.Users = %d, want 25", len(written), seed.Users)
		}
		if diff := cmp.Diff([]int{10, 20, 25}, reported); diff != "" {
			t.Errorf("progress mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("a failed batch", func(t *testing.T) {
		seed := &SeedFile{}
		boom := errors.New("boom")
		err := seedUsers(context.Background(), 100, 10, derive, func(b []broker.SeedUser) error {
			if b[0].Identifier == "30" {
				return boom
			}
			return nil
		}, func(int) {}, seed)
		if !errors.Is(err, boom) || seed.Users != 30 {
			t.Errorf("seedUsers() = %v with seed.Users %d, want boom and 30 (the stored prefix)", err, seed.Users)
		}
	})
}

// TestUserPoolKeepsDerivedUsers: a user derived from a seed file is derived once and then
// reused, and is the seed's user i.
func TestUserPoolKeepsDerivedUsers(t *testing.T) {
	seed := &SeedFile{Version: 1, ProjectID: "p", RPID: "localhost", Prefix: "bench-", Seed: strings.Repeat("ab", 32), Users: 10}
	p := &userPool{seed: seed, n: seed.Users}
	first, err := p.get(3)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.get(3)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Error("get(3) derived user 3 again instead of reusing it")
	}
	want, err := seed.user(3)
	if err != nil {
		t.Fatal(err)
	}
	if first.identifier != want.identifier || !bytes.Equal(first.cred.ID, want.cred.ID) || !first.cred.Signer.(*ecdsa.PrivateKey).Equal(want.cred.Signer) {
		t.Errorf("get(3) = %s %x, want the seed's user 3, %s %x", first.identifier, first.cred.ID, want.identifier, want.cred.ID)
	}
	if other, _ := p.get(4); other == first || other.identifier != "bench-4" {
		t.Errorf("get(4) = %+v, want user bench-4", other)
	}
	if _, err := p.get(10); err == nil {
		t.Error("get(10) of a seed of 10 users succeeded")
	}
	if n := p.nDerived.Load(); n != 2 {
		t.Errorf("%d users kept, want 2", n)
	}
}
