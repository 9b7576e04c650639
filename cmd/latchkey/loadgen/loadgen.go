// Package loadgen is the load generator behind `latchkey bench`: it drives a running broker
// over HTTP with concurrent virtual users, each signing with a softauthn credential, and
// reports throughput, latency percentiles per step, errors by type and the CPU and memory
// of the processes involved. Seed writes test users straight into a broker's database.
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"runtime"
	rpprof "runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The steps an iteration times: the keys of Report.Steps.
const (
	StepMint          = "mint"
	StepAppendStart   = "append/start"
	StepAppendFinish  = "append/finish"
	StepLoginStart    = "login/start"
	StepLoginFinish   = "login/finish"
	StepVerifyOnline  = "verifySignedData"
	StepVerifyOffline = "verify-offline"

	// The steps of the peer target (TargetHanko), named after its endpoints.
	StepPeerRegisterInit  = "registration/initialize"
	StepPeerRegisterFinal = "registration/finalize"
	StepPeerLoginInit     = "login/initialize"
	StepPeerLoginFinal    = "login/finalize"
	StepPeerVerifyJWT     = "verify JWT (JWKS)"
)

// stepOrder is the order reports list the steps in.
var stepOrder = []string{StepMint, StepAppendStart, StepAppendFinish, StepLoginStart, StepLoginFinish, StepVerifyOnline, StepVerifyOffline,
	StepPeerRegisterInit, StepPeerRegisterFinal, StepPeerLoginInit, StepPeerLoginFinal, StepPeerVerifyJWT}

// The systems the load generator drives: the values of Config.Target.
const (
	TargetLatchkey = "latchkey"
	// TargetHanko is Hanko's passkey server (github.com/teamhanko/passkey-server), the
	// nearest open-source peer, driven through its tenant API for comparison (hanko.go).
	TargetHanko = "hanko-passkey-server"
)

// driver is the system under load as a virtual user's iterations use it: Latchkey's API
// (client) or a peer's (hankoClient).
type driver interface {
	// appendUser gives identifier a new passkey (Latchkey's append, a peer's registration).
	appendUser(ctx context.Context, rec *recorder, identifier string) (*vuser, error)
	// login signs u in, by identifier or usernameless, verifies the token it gets as an
	// app backend would, and returns the token.
	login(ctx context.Context, rec *recorder, u *vuser, byIdentifier bool) (string, error)
}

// The scenarios, one iteration each: the keys of Report.Scenarios.
const (
	ScenarioAppend        = "append"             // mint token, append/start, append/finish
	ScenarioLogin         = "login"              // login/start by identifier, login/finish, verifySignedData
	ScenarioUsernameless  = "login-usernameless" // login/start without identifier, login/finish, verifySignedData
	ScenarioVerifyOffline = "verify-offline"     // signeddata.Verifier against the JWKS
)

var scenarioOrder = []string{ScenarioLogin, ScenarioUsernameless, ScenarioAppend, ScenarioVerifyOffline}

// weighted is one scenario of a mix and its share.
type weighted struct {
	scenario string
	weight   int
}

// mixes are the values of Config.Scenario.
var mixes = map[string][]weighted{
	ScenarioAppend:        {{ScenarioAppend, 1}},
	ScenarioLogin:         {{ScenarioLogin, 1}},
	ScenarioUsernameless:  {{ScenarioUsernameless, 1}},
	ScenarioVerifyOffline: {{ScenarioVerifyOffline, 1}},
	// A realistic blend: most sign-ins name the user, some use autofill or the account
	// picker, a few add a passkey, and some backends verify offline.
	"mixed": {{ScenarioLogin, 70}, {ScenarioUsernameless, 20}, {ScenarioAppend, 5}, {ScenarioVerifyOffline, 5}},
}

// pick draws a scenario of mix with probability proportional to its weight.
func pick(mix []weighted, r *mrand.Rand) string {
	total := 0
	for _, w := range mix {
		total += w.weight
	}
	n := r.IntN(total)
	for _, w := range mix {
		if n < w.weight {
			return w.scenario
		}
		n -= w.weight
	}
	return mix[len(mix)-1].scenario
}

// needsUsers reports whether a mix logs in, and so needs seeded users.
func needsUsers(mix []weighted) bool {
	for _, w := range mix {
		if w.scenario != ScenarioAppend {
			return true
		}
	}
	return false
}

// ErrUsage is wrapped by the errors of a Config or SeedConfig that cannot run, which are
// worded for the flags of `latchkey bench` and `latchkey bench seed`.
var ErrUsage = errors.New("loadgen: usage error")

type usageError struct{ msg string }

func (e *usageError) Error() string   { return e.msg }
func (e *usageError) Is(t error) bool { return t == ErrUsage }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// Config is what one run is asked to do; each field is the flag of `latchkey bench` it is
// named after.
type Config struct {
	Target     string // TargetLatchkey (also when empty) or TargetHanko
	URL        string // the broker's base URL, http(s)://host:port
	Tenant     string // TargetHanko: the tenant ID
	APIKey     string // TargetHanko: the tenant's API key
	Project    string // project ID; empty: the seed file's
	Secret     string // the project's API secret
	Origin     string // a web origin of the project, sent as Origin and in clientDataJSON
	Duration   time.Duration
	Count      int64 // iterations to run instead of Duration; 0 and Duration 0: 30s
	Workers    int   // concurrent virtual users, 1 to 10000
	Users      int   // users to seed over HTTP (0: 1000), or the first N of SeedFile (0: all)
	Scenario   string
	SeedFile   string // written by Seed; empty: seed users over HTTP
	JSON       bool   // print the Report as JSON
	PID        int    // the broker's process ID, to sample its CPU time and memory
	Progress   time.Duration
	Sample     time.Duration
	CPUProfile string        // where to write the load generator's own CPU profile
	Warmup     time.Duration // run the scenario this long, unmeasured, before the measured run
	PGDatabase string        // sum the CPU of the PostgreSQL processes serving this database
}

// check validates cfg, returns its mix, and fills in defaults.
func (cfg *Config) check() ([]weighted, error) {
	const name = "latchkey bench"
	mix, ok := mixes[cfg.Scenario]
	if !ok {
		return nil, usagef("%s: --scenario %q: want append, login, login-usernameless, verify-offline or mixed", name, cfg.Scenario)
	}
	switch {
	case cfg.Duration < 0 || cfg.Count < 0:
		return nil, usagef("%s: --duration and --count must not be negative", name)
	case cfg.Duration > 0 && cfg.Count > 0:
		return nil, usagef("%s: give --duration or --count, not both", name)
	case cfg.Duration == 0 && cfg.Count == 0:
		cfg.Duration = 30 * time.Second
	}
	if cfg.Warmup < 0 {
		return nil, usagef("%s: --warmup must not be negative", name)
	}
	if cfg.Workers < 1 || cfg.Workers > 10000 {
		return nil, usagef("%s: --workers must be from 1 to 10000", name)
	}
	if cfg.Users < 0 {
		return nil, usagef("%s: --users must not be negative", name)
	}
	if cfg.Progress < 0 || cfg.Sample <= 0 {
		return nil, usagef("%s: --progress must not be negative and --sample must be positive", name)
	}
	u, err := urlParse(cfg.URL)
	if err != nil {
		return nil, usagef("%s: --url %q: %v", name, cfg.URL, err)
	}
	cfg.URL = u
	if cfg.Origin == "" {
		return nil, usagef("%s: --origin is required", name)
	}
	switch cfg.Target {
	case "", TargetLatchkey:
		cfg.Target = TargetLatchkey
	case TargetHanko:
		return mix, cfg.checkHanko(name)
	default:
		return nil, usagef("%s: --target %q: want %s or %s", name, cfg.Target, TargetLatchkey, TargetHanko)
	}
	if cfg.SeedFile == "" && cfg.Project == "" {
		return nil, usagef("%s: --project (or --seed-file) is required", name)
	}
	if cfg.Secret == "" {
		return nil, usagef("%s: --secret or LATCHKEY_BENCH_SECRET is required", name)
	}
	return mix, nil
}

// urlParse checks an http(s) base URL and drops a trailing slash.
func urlParse(s string) (string, error) {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return "", errors.New("want http://host:port or https://...")
	}
	if _, err := http.NewRequest(http.MethodGet, s, nil); err != nil {
		return "", err
	}
	return strings.TrimSuffix(s, "/"), nil
}

// userPool holds the users that logins pick from: seeded over HTTP, or derived from a seed file.
type userPool struct {
	users []*vuser
	seed  *SeedFile
	n     int
	// derived keeps the first maxDerivedUsers users derived from the seed file, index ->
	// *vuser: deriving one (an HMAC per label and a P-256 scalar multiplication) cost about
	// a tenth of the load generator's CPU, and a key used again signs without its first
	// use's conversion to crypto's internal form.
	derived  sync.Map
	nDerived atomic.Int64
}

// maxDerivedUsers bounds userPool.derived: a million derived users would hold about 400 MB.
const maxDerivedUsers = 100_000

func (p *userPool) get(i int) (*vuser, error) {
	if p.seed == nil {
		return p.users[i], nil
	}
	if u, ok := p.derived.Load(i); ok {
		return u.(*vuser), nil
	}
	u, err := p.seed.user(i)
	if err != nil {
		return nil, err
	}
	if p.nDerived.Load() < maxDerivedUsers {
		if _, loaded := p.derived.LoadOrStore(i, u); !loaded {
			p.nDerived.Add(1)
		}
	}
	return u, nil
}

// Run seeds users if cfg needs them, runs the workers until cfg's duration or count is
// reached or ctx ends, and prints the report (JSON with cfg.JSON) to stdout and progress
// lines to stderr. It returns an error wrapping ErrUsage when cfg cannot run, and an error
// when any iteration failed or none completed.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	mix, err := cfg.check()
	if err != nil {
		return err
	}
	pool := &userPool{}
	project := cfg.Project
	if cfg.SeedFile != "" {
		seed, err := ReadSeedFile(cfg.SeedFile)
		if err != nil {
			return err
		}
		if project == "" {
			project = seed.ProjectID
		} else if project != seed.ProjectID {
			return usagef("latchkey bench: --project %s, but the seed file is for %s", project, seed.ProjectID)
		}
		if cfg.Users > seed.Users {
			return usagef("latchkey bench: --users %d, but the seed file has %d", cfg.Users, seed.Users)
		}
		pool.seed, pool.n = seed, seed.Users
		if cfg.Users > 0 {
			pool.n = cfg.Users
		}
	}
	var (
		c *client // Latchkey's, also for verify-offline; nil for a peer
		d driver
	)
	if cfg.Target == TargetHanko {
		d = newHankoClient(cfg)
	} else {
		c = newClient(cfg, project)
		d = c
	}
	runID := make([]byte, 3)
	_, _ = rand.Read(runID)
	prefix := "bench-" + hex.EncodeToString(runID) + "-"
	if pool.seed == nil && needsUsers(mix) {
		n := cfg.Users
		if n == 0 {
			n = 1000
		}
		if err := seedOverHTTP(ctx, stderr, d, cfg.Workers, n, prefix, pool); err != nil {
			return err
		}
	}
	if pool.n == 0 && needsUsers(mix) {
		return usagef("latchkey bench: no users to log in as")
	}

	if cfg.Warmup > 0 {
		if err := warmUp(ctx, stderr, cfg, mix, c, d, pool, prefix+"warm-"); err != nil {
			return err
		}
	}

	var mon *monitor
	if cfg.PID > 0 {
		mon = &monitor{pid: cfg.PID}
		if mon.sample(); mon.err != nil {
			return fmt.Errorf("--pid %d: %w", cfg.PID, mon.err)
		}
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := rpprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer rpprof.StopCPUProfile()
	}
	self := &monitor{pid: os.Getpid()}
	self.sample()
	busyStart, busyErr := machineBusy()
	loadBefore := loadAverage()
	var pg *pgMonitor
	if cfg.PGDatabase != "" {
		pg = &pgMonitor{database: cfg.PGDatabase}
		if err := pg.sample(); err != nil {
			return fmt.Errorf("--pg-database: %w", err)
		}
	}

	var (
		started, finished, failed atomic.Int64
		stop                      = make(chan struct{})
		stopOnce                  sync.Once
		recs                      = make([]*recorder, cfg.Workers)
		wg                        sync.WaitGroup
	)
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	begin := time.Now()
	for w := range cfg.Workers {
		recs[w] = newRecorder()
		wg.Go(func() {
			wk := &worker{id: w, c: c, d: d, pool: pool, rec: recs[w], prefix: prefix,
				rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))}
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				if cfg.Count > 0 && started.Add(1) > cfg.Count {
					halt()
					return
				}
				err := wk.iteration(ctx, pick(mix, wk.rng))
				switch {
				case ctx.Err() != nil:
					return // interrupted: the run's end is no error of the broker's
				case err != nil:
					wk.rec.errors[errorKind(err)]++
					failed.Add(1)
				default:
					finished.Add(1)
				}
			}
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	var deadline <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		deadline = t.C
	}
	var progress <-chan time.Time
	if cfg.Progress > 0 {
		t := time.NewTicker(cfg.Progress)
		defer t.Stop()
		progress = t.C
	}
	sampler := time.NewTicker(cfg.Sample)
	defer sampler.Stop()
	var pgTick <-chan time.Time
	if pg != nil {
		// Often, so that a backend that exits mid-run is counted up to its last sample.
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		pgTick = t.C
	}
	lastN, lastAt := int64(0), begin
wait:
	for {
		select {
		case <-allDone:
			break wait
		case <-deadline:
			halt()
		case <-ctx.Done():
			halt()
		case <-sampler.C:
			if mon != nil {
				mon.sample()
			}
		case <-pgTick:
			_ = pg.sample()
		case now := <-progress:
			n := finished.Load()
			line := fmt.Sprintf("%7.1fs  %d iterations  %.0f/s  errors %d", now.Sub(begin).Seconds(), n,
				float64(n-lastN)/now.Sub(lastAt).Seconds(), failed.Load())
			if mon != nil && len(mon.samples) > 0 {
				line += fmt.Sprintf("  broker RSS %.1f MiB", float64(mon.samples[len(mon.samples)-1].rss)/(1<<20))
			}
			fmt.Fprintln(stderr, line)
			lastN, lastAt = n, now
		}
	}
	elapsed := time.Since(begin)
	if mon != nil {
		mon.sample()
	}
	if pg != nil {
		_ = pg.sample()
	}
	self.sample()

	all := newRecorder()
	for _, r := range recs {
		all.merge(r)
	}
	rep := Report{
		Scenario:       cfg.Scenario,
		Workers:        cfg.Workers,
		Users:          pool.n,
		ElapsedSeconds: math.Round(elapsed.Seconds()*100) / 100,
		Iterations:     finished.Load(),
		Errors:         failed.Load(),
		Scenarios:      map[string]Latency{},
		Steps:          map[string]Latency{},
		ErrorsByType:   all.errors,
	}
	rep.Throughput = math.Round(float64(rep.Iterations)/elapsed.Seconds()*10) / 10
	for k, v := range all.scenarios {
		rep.Scenarios[k] = summarize(v, elapsed)
	}
	for k, v := range all.steps {
		rep.Steps[k] = summarize(v, elapsed)
	}
	rep.Client = self.report(rep.Iterations)
	rep.Client.RSSSamples, rep.Client.RSSSlope = nil, 0
	if busyEnd, err := machineBusy(); err == nil && busyErr == nil {
		busy := busyEnd - busyStart
		rep.Machine = &MachineReport{BusySeconds: math.Round(busy.Seconds()*100) / 100, Cores: runtime.NumCPU(),
			LoadBefore: loadBefore, LoadAfter: loadAverage()}
		if rep.Iterations > 0 {
			rep.Machine.BusyPerIterMs = math.Round(float64(busy)/float64(rep.Iterations)/1e3) / 1e3
		}
	}
	if mon != nil {
		r := mon.report(rep.Iterations)
		rep.Broker = &r
	}
	if pg != nil {
		r := pg.report(rep.Iterations)
		rep.Database = &r
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(stdout, rep)
	}
	if rep.Errors > 0 {
		return fmt.Errorf("bench: %d of %d iterations failed", rep.Errors, rep.Errors+rep.Iterations)
	}
	if rep.Iterations == 0 {
		return errors.New("bench: no iteration completed")
	}
	return nil
}

// worker is one virtual user's loop.
type worker struct {
	id      int
	c       *client // Latchkey's API, for verify-offline (nil for a peer)
	d       driver
	pool    *userPool
	rec     *recorder
	rng     *mrand.Rand
	prefix  string
	appends int
	token   string // the last signedPasskeyData, for verify-offline
	tokenOf string
	tokenAt time.Time
}

// iteration runs one scenario and records its latency when it succeeds.
func (w *worker) iteration(ctx context.Context, scenario string) error {
	start := time.Now()
	var err error
	switch scenario {
	case ScenarioAppend:
		w.appends++
		_, err = w.d.appendUser(ctx, w.rec, fmt.Sprintf("%sw%d-%d", w.prefix, w.id, w.appends))
	case ScenarioLogin, ScenarioUsernameless:
		err = w.login(ctx, scenario == ScenarioLogin)
	case ScenarioVerifyOffline:
		// A token lives 5 minutes: log in again (timed as a login) for a fresh one.
		if w.token == "" || time.Since(w.tokenAt) > 4*time.Minute {
			loginStart := time.Now()
			if err := w.login(ctx, true); err != nil {
				return err
			}
			w.rec.scenarios[ScenarioLogin] = append(w.rec.scenarios[ScenarioLogin], time.Since(loginStart))
			start = time.Now()
		}
		err = w.c.verifyOffline(ctx, w.rec, w.token, w.tokenOf)
	}
	if err == nil {
		w.rec.scenarios[scenario] = append(w.rec.scenarios[scenario], time.Since(start))
	}
	return err
}

func (w *worker) login(ctx context.Context, byIdentifier bool) error {
	u, err := w.pool.get(w.rng.IntN(w.pool.n))
	if err != nil {
		return &stepError{StepLoginStart, "client: " + err.Error()}
	}
	tok, err := w.d.login(ctx, w.rec, u, byIdentifier)
	if err == nil {
		w.token, w.tokenOf, w.tokenAt = tok, u.identifier, time.Now()
	}
	return err
}

// warmUp runs the scenario for cfg.Warmup with cfg.Workers, unmeasured, letting the
// iterations under way finish; it fails if any iteration failed.
func warmUp(ctx context.Context, stderr io.Writer, cfg Config, mix []weighted, c *client, d driver, pool *userPool, prefix string) error {
	var (
		done, failed atomic.Int64
		stop         atomic.Bool
		wg           sync.WaitGroup
		mu           sync.Mutex
		firstErr     error
	)
	t := time.AfterFunc(cfg.Warmup, func() { stop.Store(true) })
	defer t.Stop()
	for w := range cfg.Workers {
		wg.Go(func() {
			wk := &worker{id: w, c: c, d: d, pool: pool, rec: newRecorder(), prefix: prefix,
				rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))}
			for !stop.Load() && ctx.Err() == nil {
				if err := wk.iteration(ctx, pick(mix, wk.rng)); err != nil && ctx.Err() == nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				} else if err == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "warm-up: %d iterations in %s, %d errors\n", done.Load(), cfg.Warmup, failed.Load())
	if firstErr != nil {
		return fmt.Errorf("warm-up: %d iterations failed, the first with %s", failed.Load(), errorKind(firstErr))
	}
	return nil
}
