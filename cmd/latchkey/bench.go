package main

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/cmd/latchkey/loadgen"
)

const benchSummary = `Drives a running broker over HTTP with --workers concurrent virtual users, each with a
software authenticator (P-256), and reports throughput, latency percentiles per step and
errors by type. It exits non-zero if any iteration failed.

Scenarios: append (mint a connect token, append/start, append/finish), login (login/start
by identifier, login/finish, verifySignedData), login-usernameless, verify-offline
(signeddata.Verifier against the JWKS), mixed (70% login, 20% usernameless, 5% append,
5% verify-offline).

Users: --users N seeds N users over HTTP first (parallel appends). For large N, seed the
database directly with 'latchkey bench seed' and pass its --seed-file here.

With --pid, it also samples that process's CPU time and resident memory (Linux /proc); with
--pg-database, the CPU time of the PostgreSQL backends serving that database, and of all
postgres processes. --warmup runs the scenario unmeasured first.

--target hanko-passkey-server drives Hanko's passkey server (teamhanko/passkey-server), to
compare with a peer on the same machine: --url is its public API, --tenant and --api-key
its tenant's; scenarios login (login/initialize with the user ID, login/finalize, the JWT
verified against the tenant's JWKS), login-usernameless and append (registration).`

// cmdBench parses the flags of `latchkey bench` and runs the load generator.
func cmdBench(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && args[0] == "seed" {
		return cmdBenchSeed(ctx, e, args[1:])
	}
	fs := newFlags("latchkey bench", benchSummary, e)
	var cfg loadgen.Config
	fs.StringVar(&cfg.Target, "target", loadgen.TargetLatchkey, "the system to drive: latchkey, or hanko-passkey-server (a peer, for comparison)")
	fs.StringVar(&cfg.Tenant, "tenant", "", "--target hanko-passkey-server: the tenant ID")
	fs.StringVar(&cfg.APIKey, "api-key", e.getenv("LATCHKEY_BENCH_API_KEY"), "--target hanko-passkey-server: the tenant's API key (env LATCHKEY_BENCH_API_KEY)")
	fs.StringVar(&cfg.URL, "url", envOr(e.getenv, "LATCHKEY_BENCH_URL", "http://127.0.0.1:8080"), "the broker's base URL (env LATCHKEY_BENCH_URL)")
	fs.StringVar(&cfg.Project, "project", e.getenv("LATCHKEY_BENCH_PROJECT"), "project ID (default: the seed file's; env LATCHKEY_BENCH_PROJECT)")
	fs.StringVar(&cfg.Secret, "secret", e.getenv("LATCHKEY_BENCH_SECRET"), "the project's API secret (env LATCHKEY_BENCH_SECRET)")
	fs.StringVar(&cfg.Origin, "origin", envOr(e.getenv, "LATCHKEY_BENCH_ORIGIN", "http://localhost:8080"), "a web origin of the project, sent as Origin and in clientDataJSON (env LATCHKEY_BENCH_ORIGIN)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to run (default 30s unless --count is given)")
	fs.Int64Var(&cfg.Count, "count", 0, "how many iterations to run, instead of --duration")
	fs.IntVar(&cfg.Workers, "workers", 16, "concurrent virtual users")
	fs.IntVar(&cfg.Users, "users", 0, "users with a passkey to log in as: seeded over HTTP first (default 1000), or the first N of --seed-file (default all)")
	fs.StringVar(&cfg.Scenario, "scenario", loadgen.ScenarioLogin, "append, login, login-usernameless, verify-offline or mixed")
	fs.StringVar(&cfg.SeedFile, "seed-file", "", "use the users written by 'latchkey bench seed' instead of seeding over HTTP")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	fs.IntVar(&cfg.PID, "pid", 0, "the broker's process ID: report its CPU time per iteration and its resident memory")
	fs.DurationVar(&cfg.Progress, "progress", 2*time.Second, "how often to print a progress line to stderr (0: never)")
	fs.DurationVar(&cfg.Sample, "sample", 5*time.Second, "how often to sample --pid's resident memory")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write the load generator's own CPU profile to this file")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "run the scenario this long, unmeasured, before the measured run")
	fs.StringVar(&cfg.PGDatabase, "pg-database", "", "report the CPU time of the PostgreSQL backends serving this database, and of all postgres processes (Linux /proc, same machine)")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	return loadgenErr(loadgen.Run(ctx, cfg, e.stdout, e.stderr))
}

const benchSeedSummary = `Writes --users users, each with one passkey, straight into the database of a project,
in batched INSERTs, and the seed file from which 'latchkey bench --seed-file' derives their
private keys. Run it against the broker's database (the broker may be running). For load
tests only: it bypasses ceremonies and connect tokens.`

// cmdBenchSeed parses the flags of `latchkey bench seed`, opens the database and seeds it.
func cmdBenchSeed(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey bench seed", benchSeedSummary, e)
	var sf storeFlags
	sf.register(fs, e, false)
	var cfg loadgen.SeedConfig
	fs.StringVar(&cfg.ProjectID, "project", "", "project ID (required)")
	fs.IntVar(&cfg.Users, "users", 0, "how many users to create (required)")
	fs.StringVar(&cfg.SeedFile, "seed-file", "latchkey-bench-seed.json", "where to write the seed file")
	fs.IntVar(&cfg.Batch, "batch", 25000, "users per transaction")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if err := cfg.Check(); err != nil {
		return loadgenErr(err)
	}
	store, b, err := sf.open(ctx, fs.Name(), false)
	if err != nil {
		return err
	}
	defer store.Close()
	return loadgenErr(loadgen.Seed(ctx, b, cfg, e.stdout, e.stderr))
}

// loadgenErr turns the load generator's usage errors into the command's.
func loadgenErr(err error) error {
	if errors.Is(err, loadgen.ErrUsage) {
		return usagef("%s", err)
	}
	return err
}
