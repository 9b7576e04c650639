package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/cmd/latchkey/metrics"
	"github.com/latchkey/latchkey/exampleapp"
	"github.com/latchkey/latchkey/web"
)

// errUsage marks a command-line mistake; main exits with status 2 for it.
var errUsage = errors.New("usage error")

type usageError struct{ msg string }

func (e *usageError) Error() string   { return e.msg }
func (e *usageError) Is(t error) bool { return t == errUsage }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const topUsage = `Latchkey is a self-hosted passkey broker.

Usage: latchkey <command> [flags]

Commands:
  dev                     run the broker for development on http://localhost:8080 (SQLite in ./.latchkey)
  serve                   run the production server
  migrate                 apply pending database migrations
  project create|list|update|add-secret|revoke-secret|app|well-known
                          manage projects, their security policy, API secrets, native apps and
                          association files
  doctor                  check a project's RP ID, origins, apps and its site's /.well-known/ files
  keys rotate|list        manage a project's signedPasskeyData signing keys
  example-app             run the example app alone (as in compose.yaml), with a project of its own
  healthcheck             exit 0 when a running broker answers /readyz (for container health checks)
  bench [seed]            load-test a running broker (seed: write test users straight into its database)
  aaguids update          replace the passkey provider names (AAGUID data) that brokers read at start
  analytics               print a project's adoption figures with a sparkline per series

Run 'latchkey <command> --help' for a command's flags.
`

// env bundles what commands read from outside.
type env struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// run is the whole program: it parses args and runs one command until ctx is cancelled.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{withSecretKeyFile(getenv), stdin, stdout, stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return usagef("latchkey: no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, topUsage)
		return nil
	case "dev":
		return cmdDev(ctx, e, rest)
	case "serve":
		return cmdServe(ctx, e, rest)
	case "migrate":
		return cmdMigrate(ctx, e, rest)
	case "project":
		return cmdProject(ctx, e, rest)
	case "keys":
		return cmdKeys(ctx, e, rest)
	case "doctor":
		return cmdDoctor(ctx, e, rest)
	case "healthcheck":
		return cmdHealthcheck(ctx, e, rest)
	case "example-app":
		return cmdExampleApp(ctx, e, rest)
	case "bench":
		return cmdBench(ctx, e, rest)
	case "aaguids":
		return cmdAAGUIDs(ctx, e, rest)
	case "analytics":
		return cmdAnalytics(ctx, e, rest)
	}
	return usagef("latchkey: unknown command %q (see latchkey --help)", cmd)
}

// newFlags returns a FlagSet that reports its errors as one line and prints usage on --help.
func newFlags(name, summary string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses args; --help prints usage once and returns errHelpShown. Any other error is
// one line: the flag package would print the whole usage on every error, so it prints nothing.
func parse(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return errHelpShown
	case err != nil:
		return usagef("%s: %v (see --help)", fs.Name(), err)
	case fs.NArg() > 0:
		return usagef("%s: unexpected argument %q (see --help)", fs.Name(), fs.Arg(0))
	}
	return nil
}

var errHelpShown = errors.New("help shown")

func helpOK(err error) error {
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

// storeFlags are the flags of every command that opens the database.
type storeFlags struct {
	databaseURL string
	secretKey   string
	pool        sqlstore.Config
	poolErr     error
	// maxPending is broker.Config.MaxPendingCeremonies (0: the default, negative: no cap).
	maxPending int
	// aaguidsFile is LATCHKEY_AAGUIDS_FILE: provider names that replace the embedded ones.
	aaguidsFile string
	// observer is broker.Config.Observer (nil: none).
	observer broker.Observer
	// webhookAllowPrivate is LATCHKEY_WEBHOOK_ALLOW_PRIVATE (broker.Config.WebhookAllowPrivate).
	webhookAllowPrivate bool
}

func (f *storeFlags) register(fs *flag.FlagSet, e env, withKey bool) {
	fs.StringVar(&f.databaseURL, "database-url", e.getenv("LATCHKEY_DATABASE_URL"), "database, sqlite:PATH or postgres://... (env LATCHKEY_DATABASE_URL)")
	f.aaguidsFile = e.getenv("LATCHKEY_AAGUIDS_FILE")
	f.webhookAllowPrivate = webhookAllowPrivate(e.getenv)
	if v := e.getenv("LATCHKEY_DB_MAX_CONNS"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
			f.poolErr = usagef("LATCHKEY_DB_MAX_CONNS=%q: want a number from 1 to 1000", v)
		} else {
			f.pool.MaxConns = n
		}
	}
	if v := e.getenv("LATCHKEY_DB_STATEMENT_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err != nil || d < time.Millisecond {
			f.poolErr = usagef("LATCHKEY_DB_STATEMENT_TIMEOUT=%q: want a duration such as 5s", v)
		} else {
			f.pool.StatementTimeout = d
		}
	}
	fs.IntVar(&f.pool.MaxConns, "db-max-conns", f.pool.MaxConns, "most open database connections; 0: 10 on PostgreSQL, 4 on SQLite, where the writer's and the checkpointer's come on top (env LATCHKEY_DB_MAX_CONNS)")
	fs.DurationVar(&f.pool.StatementTimeout, "db-statement-timeout", f.pool.StatementTimeout, "PostgreSQL statement timeout; 0: 5s (env LATCHKEY_DB_STATEMENT_TIMEOUT)")
	fs.StringVar(&f.pool.Prepare, "db-prepare", envOr(e.getenv, "LATCHKEY_DB_PREPARE", sqlstore.PrepareAuto), "PostgreSQL prepared statements: on, off (behind a transaction pooler such as PgBouncer), or auto: off when a transaction pooler is found (env LATCHKEY_DB_PREPARE)")
	if withKey {
		fs.StringVar(&f.secretKey, "secret-key", e.getenv("LATCHKEY_SECRET_KEY"), "32 random bytes in base64 that encrypt signing keys at rest (env LATCHKEY_SECRET_KEY)")
	}
}

// check returns a usage error for a missing database URL or a bad pool setting.
func (f *storeFlags) check(name string) error {
	if f.databaseURL == "" {
		return usagef("%s: --database-url or LATCHKEY_DATABASE_URL is required", name)
	}
	if f.poolErr != nil {
		return usagef("%s: %v", name, f.poolErr)
	}
	if f.pool.MaxConns < 0 || f.pool.StatementTimeout < 0 {
		return usagef("%s: --db-max-conns and --db-statement-timeout must not be negative", name)
	}
	switch f.pool.Prepare {
	case sqlstore.PrepareAuto, sqlstore.PrepareOn, sqlstore.PrepareOff, "":
	default:
		return usagef("%s: --db-prepare (LATCHKEY_DB_PREPARE) = %q: want auto, on or off", name, f.pool.Prepare)
	}
	return nil
}

// open opens and migrates the store, and builds a broker over it: with the secret key when
// withKey is set (checked against the signing keys in the store), without one otherwise, for
// commands that only read or change settings.
func (f *storeFlags) open(ctx context.Context, name string, withKey bool) (*sqlstore.Store, *broker.Broker, error) {
	if err := f.check(name); err != nil {
		return nil, nil, err
	}
	var key []byte
	if withKey {
		if f.secretKey == "" {
			return nil, nil, usagef("%s: --secret-key or LATCHKEY_SECRET_KEY is required (generate one with: openssl rand -base64 32)", name)
		}
		var err error
		if key, err = broker.ParseSecretKey(f.secretKey); err != nil {
			return nil, nil, usagef("%s: LATCHKEY_SECRET_KEY: %v", name, err)
		}
	}
	if !strings.HasPrefix(f.databaseURL, "sqlite:") && !strings.HasPrefix(f.databaseURL, "postgres://") && !strings.HasPrefix(f.databaseURL, "postgresql://") {
		return nil, nil, usagef("%s: database URL must start with sqlite: or postgres://", name)
	}
	providers, err := providerNames(f.aaguidsFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	store, err := sqlstore.Open(ctx, f.databaseURL, f.pool)
	if err != nil {
		return nil, nil, err
	}
	if _, err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("migrating: %w", err)
	}
	b, err := broker.New(store, broker.Config{SecretKey: key, MaxPendingCeremonies: f.maxPending, Providers: providers, Observer: f.observer,
		WebhookAllowPrivate: f.webhookAllowPrivate})
	if err == nil && withKey {
		err = b.CheckSecretKey(ctx)
	}
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, b, nil
}

func cmdMigrate(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey migrate", "Applies pending database migrations.", e)
	var sf storeFlags
	sf.register(fs, e, false)
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if err := sf.check("latchkey migrate"); err != nil {
		return err
	}
	store, err := sqlstore.Open(ctx, sf.databaseURL, sf.pool)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := store.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "applied %d migration(s)\n", n)
	return nil
}

// serverConfig is what serveHTTP needs.
type serverConfig struct {
	listen    string
	publicURL string
	logger    *slog.Logger
	ready     func(addr string) // called once listening
	// webOptions are the rate limits of the handler.
	webOptions []web.Option
	// eventRetention is how long audit events are kept (0: for ever).
	eventRetention time.Duration
	// metrics, when set, is told of requests and sweeps.
	metrics *metrics.Metrics
	// webhookTimeout bounds each webhook delivery attempt (0: 10 s).
	webhookTimeout time.Duration
}

// serveHTTP serves the broker until ctx is cancelled, then shuts down gracefully.
func serveHTTP(ctx context.Context, b *broker.Broker, cfg serverConfig) error {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.listen, err)
	}
	webOptions := cfg.webOptions
	if cfg.metrics != nil {
		webOptions = append(webOptions[:len(webOptions):len(webOptions)], web.WithObserver(cfg.metrics))
	}
	srv := &http.Server{
		Handler:           web.New(b, cfg.logger, webOptions...),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.logger.Handler(), slog.LevelWarn),
	}
	addr := ln.Addr().String()
	cfg.logger.Info("listening", slog.String("addr", addr), slog.String("public_url", cfg.publicURL))
	if cfg.ready != nil {
		cfg.ready(addr)
	}
	go sweepExpired(ctx, b, cfg.logger, cfg.eventRetention, cfg.metrics)
	go runWebhooks(ctx, b, cfg.logger, cfg.webhookTimeout, cfg.metrics)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cfg.logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	return nil
}

// The sweep's batch size and time budget.
const (
	sweepBatch  = 1000
	sweepBudget = 20 * time.Second
)

// sweepExpired runs sweepOnce every minute until ctx ends.
func sweepExpired(ctx context.Context, b *broker.Broker, log *slog.Logger, eventRetention time.Duration, m *metrics.Metrics) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sweepOnce(ctx, b, log, eventRetention, m)
		}
	}
}

// sweepOnce deletes expired ceremonies, tokens and jtis, then audit events older than
// eventRetention (none when it is 0), in batches of sweepBatch rows repeated until none is
// left or sweepBudget has passed in all, and logs (and tells m, when set) what it deleted and
// what is left.
func sweepOnce(ctx context.Context, b *broker.Broker, log *slog.Logger, eventRetention time.Duration, m *metrics.Metrics) {
	start := b.Now()
	r, err := b.SweepExpired(ctx, sweepBatch, sweepBudget)
	if m != nil {
		m.Swept(r, err)
	}
	switch {
	case err != nil:
		log.Warn("deleting expired rows", slog.String("error", err.Error()), slog.Int64("rows", r.Deleted))
	case r.Backlog > 0:
		log.Warn("deleted expired rows, backlog left", slog.Int64("rows", r.Deleted), slog.Int("batches", r.Batches),
			slog.Int64("backlog", r.Backlog))
	case r.Deleted > 0:
		log.Info("deleted expired rows", slog.Int64("rows", r.Deleted), slog.Int("batches", r.Batches), slog.Int64("backlog", 0))
	}
	if eventRetention <= 0 {
		return
	}
	// The events get what the expired rows left of the budget, and one round of batches.
	er, err := b.DeleteOldEvents(ctx, b.Now().Add(-eventRetention), sweepBatch, sweepBudget-b.Now().Sub(start))
	if m != nil {
		m.EventsSwept(er, err)
	}
	attrs := []any{slog.Int64("events", er.Deleted), slog.Int("batches", er.Batches), slog.String("retention", eventRetention.String())}
	switch {
	case err != nil:
		log.Warn("deleting old events", append(attrs, slog.String("error", err.Error()))...)
	case !er.Done:
		log.Warn("deleted old events, more left", attrs...)
	case er.Deleted > 0:
		log.Info("deleted old events", attrs...)
	}
}

// parseRetention reads --event-retention: a duration of at least an hour, or 0 or "forever"
// (returned as 0) to keep events.
func parseRetention(s string) (time.Duration, error) {
	if s == "forever" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err == nil && d == 0:
		return 0, nil
	case err != nil || d < time.Hour:
		return 0, errors.New("want a duration of at least 1h, such as 2160h (90 days), or 0 or forever to keep events")
	}
	return d, nil
}

// serverGC sets the garbage collector's target of a long-running server to 200 % instead of
// Go's 100 %, unless the operator set GOGC: the broker's live heap is small and almost all it
// allocates lives for one request, so collections are mostly overhead. At 200 % the broker
// spent 3–9 % less CPU per login under load, for 3–4 MiB more RSS (BENCHMARKS.md).
func serverGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}

func cmdServe(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey serve", "Runs the production server; migrates the database first.", e)
	var sf storeFlags
	sf.register(fs, e, true)
	var kf secretKeyFlags // secretkey.go
	kf.register(fs, e, true)
	listen := fs.String("listen", envOr(e.getenv, "LATCHKEY_LISTEN", ":8080"), "address to listen on, host:port (env LATCHKEY_LISTEN)")
	publicURL := fs.String("public-url", e.getenv("LATCHKEY_PUBLIC_URL"), "the URL clients reach the broker at (env LATCHKEY_PUBLIC_URL)")
	metricsAddr := fs.String("metrics-listen", e.getenv("LATCHKEY_METRICS_LISTEN"), "serve Prometheus metrics at /metrics on this host:port, e.g. 127.0.0.1:9090 (off when empty) (env LATCHKEY_METRICS_LISTEN)")
	pprofAddr := fs.String("pprof", e.getenv("LATCHKEY_PPROF"), "serve net/http/pprof on this host:port, e.g. 127.0.0.1:6060 (off when empty; keep it on loopback) (env LATCHKEY_PPROF)")
	retention := fs.String("event-retention", envOr(e.getenv, "LATCHKEY_EVENT_RETENTION", fmt.Sprintf("%.0fh", broker.DefaultEventRetention.Hours())),
		"how long audit events are kept (2160h: 90 days); older ones are deleted every minute with the expired rows; 0 or forever keeps them (env LATCHKEY_EVENT_RETENTION)")
	webhookTimeout := fs.Duration("webhook-timeout", 10*time.Second, "how long a webhook delivery attempt may take (env LATCHKEY_WEBHOOK_TIMEOUT)")
	var lf limitFlags
	lf.register(fs, e)
	if v := e.getenv("LATCHKEY_WEBHOOK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return usagef("latchkey serve: LATCHKEY_WEBHOOK_TIMEOUT=%q: want a duration such as 10s", v)
		}
		*webhookTimeout = d
	}
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	serverGC(e.getenv)
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return usagef("latchkey serve: --listen %q is not host:port", *listen)
	}
	if *webhookTimeout < time.Second || *webhookTimeout > 5*time.Minute {
		return usagef("latchkey serve: --webhook-timeout %s: want 1s to 5m", *webhookTimeout)
	}
	webOptions, maxPending, err := lf.parse("latchkey serve")
	if err != nil {
		return err
	}
	eventRetention, err := parseRetention(*retention)
	if err != nil {
		return usagef("latchkey serve: --event-retention %q: %v", *retention, err)
	}
	if err := kf.use("latchkey serve", e, &sf.secretKey, true); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	sf.maxPending = maxPending
	if maxPending == 0 { // --max-pending-ceremonies 0: no cap
		sf.maxPending = -1
	}
	var m *metrics.Metrics
	if *metricsAddr != "" {
		if _, _, err := net.SplitHostPort(*metricsAddr); err != nil {
			return usagef("latchkey serve: --metrics-listen %q is not host:port", *metricsAddr)
		}
		m = metrics.New()
		sf.observer = m
		sf.pool.ObserveQuery = m.ObserveQuery
	}
	store, b, err := sf.open(ctx, "latchkey serve", true)
	if err != nil {
		return err
	}
	defer store.Close()
	logger.Info("database", slog.String("dialect", store.Dialect()), slog.Bool("prepared_statements", store.Prepared()))
	if m != nil {
		m.WatchStore(store)
		if err := startMetrics(ctx, *metricsAddr, m, logger); err != nil {
			return err
		}
	}
	if *pprofAddr != "" {
		if err := startPprof(ctx, *pprofAddr, logger); err != nil {
			return err
		}
	}
	return serveHTTP(ctx, b, serverConfig{listen: *listen, publicURL: *publicURL, logger: logger, webOptions: webOptions,
		eventRetention: eventRetention, metrics: m, webhookTimeout: *webhookTimeout})
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// devState is what `latchkey dev` keeps in its directory for tools and the example app.
type devState struct {
	ProjectID string `json:"projectID"`
	APISecret string `json:"apiSecret"`
	BrokerURL string `json:"brokerURL"`
}

func cmdDev(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey dev", "Runs the broker for development with SQLite in --dir and a development project (RP ID localhost).", e)
	dir := fs.String("dir", ".latchkey", "directory for the database, secret key and dev credentials")
	listen := fs.String("listen", "localhost:8080", "address to listen on")
	appListen := fs.String("app-listen", "localhost:3000", "address of the example app, which uses the dev project (empty: do not start it)")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	serverGC(e.getenv)
	_, port, err := net.SplitHostPort(*listen)
	if err != nil {
		return usagef("latchkey dev: --listen %q is not host:port", *listen)
	}
	_, appPort, err := net.SplitHostPort(*appListen)
	if *appListen != "" && err != nil {
		return usagef("latchkey dev: --app-listen %q is not host:port", *appListen)
	}
	if err := portFree(*listen, "--listen"); err != nil {
		return err
	}
	if err := portFree(*appListen, "--app-listen"); *appListen != "" && err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, nil))
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	key, err := readOrCreate(filepath.Join(*dir, "secret.key"), broker.NewSecretKey)
	if err != nil {
		return err
	}
	sf := storeFlags{databaseURL: "sqlite:" + filepath.Join(*dir, "latchkey.db"), secretKey: key, aaguidsFile: e.getenv("LATCHKEY_AAGUIDS_FILE"),
		webhookAllowPrivate: webhookAllowPrivate(e.getenv)}
	store, b, err := sf.open(ctx, "latchkey dev", true)
	if err != nil {
		return err
	}
	defer store.Close()

	brokerURL := "http://localhost:" + port
	// Pages on the broker and on the example app call the frontend API: the dev project allows
	// both origins, also when a later run moves them to other ports.
	origins := []string{brokerURL}
	appURL := ""
	if *appListen != "" {
		appURL = "http://localhost:" + appPort
		origins = append(origins, appURL)
	}
	statePath := filepath.Join(*dir, "dev.json")
	st, first, err := ensureProject(ctx, b, statePath, broker.NewProject{Name: "Latchkey development", RPID: "localhost", RPName: "Latchkey Dev",
		Origins: origins})
	if err != nil {
		return err
	}
	project, err := b.UpdateProject(ctx, st.ProjectID, broker.ProjectUpdate{AddOrigins: origins})
	if err != nil {
		return fmt.Errorf("allowing the origins %s in the dev project: %w", strings.Join(origins, " "), err)
	}
	st.BrokerURL = brokerURL
	raw, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(statePath, raw, 0o600); err != nil {
		return err
	}
	// The example app starts once the broker listens and stops with it; if it cannot start
	// (say, its port is taken), the broker keeps running.
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	var appDone chan struct{}
	startApp := func() {
		if *appListen == "" {
			return
		}
		appDone = make(chan struct{})
		go func() {
			defer close(appDone)
			err := exampleapp.Run(appCtx, exampleapp.Config{Listen: *appListen, BrokerURL: brokerURL, ProjectID: st.ProjectID,
				APISecret: st.APISecret, DataDir: *dir, Logger: logger.With(slog.String("app", "example"))}, func(string) {
				fmt.Fprintf(e.stdout, "Example app: %s\n", appURL)
			})
			if errors.Is(err, syscall.EADDRINUSE) {
				err = busyPort(*appListen, "--app-listen")
			}
			if err != nil {
				logger.Error("example app stopped", slog.String("error", err.Error()))
			}
		}()
	}
	var webOptions []web.Option
	if appURL != "" {
		webOptions = append(webOptions, web.WithExampleApp(appURL))
	}
	err = serveHTTP(ctx, b, serverConfig{listen: *listen, publicURL: brokerURL, logger: logger, webOptions: webOptions,
		eventRetention: broker.DefaultEventRetention, ready: func(string) {
			fmt.Fprintf(e.stdout, "Latchkey dev broker: %s\nProject ID:  %s\nOrigins:     %s\n", brokerURL, st.ProjectID, strings.Join(project.Origins, " "))
			if first {
				fmt.Fprintf(e.stdout, "API secret:  %s  (shown once; also kept in %s)\n", st.APISecret, statePath)
			} else {
				fmt.Fprintf(e.stdout, "API secret:  kept in %s\n", statePath)
			}
			startApp()
		}})
	stopApp()
	if appDone != nil {
		<-appDone
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return busyPort(*listen, "--listen")
	}
	return err
}

// portFree returns an error naming flag when addr cannot be listened on because it is taken.
func portFree(addr, flag string) error {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return busyPort(addr, flag)
	}
	if err != nil {
		return fmt.Errorf("listening on %s (%s): %w", addr, flag, err)
	}
	return ln.Close()
}

// busyPort says that addr is taken and which flag moves it.
func busyPort(addr, flag string) error {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" {
		host = "localhost"
	}
	return fmt.Errorf("port %s is already in use (another latchkey dev?): stop what uses it, or choose another port with %s %s:PORT", port, flag, host)
}

// ensureProject returns the project whose credentials are kept in statePath, creating the
// project (and the file) when the file is missing or names a project the store lacks; first
// reports whether it did.
func ensureProject(ctx context.Context, b *broker.Broker, statePath string, p broker.NewProject) (st devState, first bool, err error) {
	if raw, err := os.ReadFile(statePath); err == nil && json.Unmarshal(raw, &st) == nil {
		if _, err := b.Project(ctx, st.ProjectID); err == nil {
			return st, false, nil
		}
	}
	created, secret, err := b.CreateProject(ctx, p)
	if err != nil {
		return devState{}, false, err
	}
	st = devState{ProjectID: created.ID, APISecret: secret}
	raw, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(statePath, raw, 0o600); err != nil {
		return devState{}, false, err
	}
	return st, true, nil
}

// readOrCreate returns the trimmed content of path, creating it with make() if absent.
func readOrCreate(path string, make func() (string, error)) (string, error) {
	if raw, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(raw)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	v, err := make()
	if err != nil {
		return "", err
	}
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

const projectUsage = `Usage: latchkey project <subcommand> [flags]

Manages projects: each is one relying party (RP ID, RP name, origins), its security policy
and its API secrets.

Subcommands:
  create          create a project; prints its ID and first API secret (shown once)
  list            list projects with their origins and policy
  update          change a project's origins, RP name or security policy
  rollout         show or change which passkey components are on, for whom (kill switch)
  add-secret      add an API secret (shown once)
  revoke-secret   revoke an API secret
  webhook         add, list or remove webhook endpoints (see 'latchkey project webhook --help')
  app             add, list or remove native apps (Android package + SHA-256, iOS TEAMID.bundle.id)
  well-known      write the association files (assetlinks.json, apple-app-site-association, ...)

Run 'latchkey project <subcommand> --help' for its flags.
`

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

func cmdProject(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("latchkey project: want create, list, update, rollout, add-secret, revoke-secret, webhook, app or well-known (see --help)")
	}
	if isHelp(args[0]) {
		fmt.Fprint(e.stdout, projectUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	var sf storeFlags
	switch sub {
	case "update":
		return cmdProjectUpdate(ctx, e, args)
	case "webhook":
		return cmdProjectWebhook(ctx, e, args)
	case "app":
		return cmdProjectApp(ctx, e, args)
	case "well-known":
		return cmdProjectWellKnown(ctx, e, args)
	case "rollout":
		return cmdProjectRollout(ctx, e, args)
	case "create":
		fs := newFlags("latchkey project create", "Creates a project and prints its ID and first API secret (shown once).", e)
		sf.register(fs, e, true)
		name := fs.String("name", "", "project name (required)")
		rpID := fs.String("rp-id", "", "WebAuthn RP ID, a domain such as example.com (required)")
		rpName := fs.String("rp-name", "", "RP name shown by authenticators (default: --name)")
		var origins multiFlag
		fs.Var(&origins, "origin", "allowed origin, repeatable: https://example.com or android:apk-key-hash:...")
		enroll := fs.String("passkey-enroll-url", "", "where users create a passkey, for /.well-known/passkey-endpoints (https URL)")
		manage := fs.String("passkey-manage-url", "", "where users manage their passkeys, for /.well-known/passkey-endpoints (https URL)")
		asJSON := fs.Bool("json", false, `print {"projectID": ..., "apiSecret": ...}`)
		if err := parse(fs, args); err != nil {
			return helpOK(err)
		}
		store, b, err := sf.open(ctx, fs.Name(), true)
		if err != nil {
			return err
		}
		defer store.Close()
		endpoints := broker.PasskeyEndpoints{Enroll: *enroll, Manage: *manage}
		if err := broker.CheckPasskeyEndpoints(endpoints); err != nil {
			return usagef("%s: --passkey-%s-url %s", fs.Name(), err.Field, err.Message)
		}
		p, secret, err := b.CreateProject(ctx, broker.NewProject{Name: *name, RPID: *rpID, RPName: *rpName, Origins: origins})
		var verr *broker.ValidationError
		if errors.As(err, &verr) {
			return usagef("%s: --%s", fs.Name(), strings.ReplaceAll(strings.ToLower(verr.Error()), "rpid", "rp-id"))
		}
		if err != nil {
			return err
		}
		if endpoints != (broker.PasskeyEndpoints{}) {
			if err := b.SetPasskeyEndpoints(ctx, p.ID, endpoints); err != nil {
				return err
			}
		}
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(map[string]string{"projectID": p.ID, "apiSecret": secret})
		}
		fmt.Fprintf(e.stdout, "Project ID: %s\nAPI secret: %s\n(The secret is shown once; only its hash is stored.)\n", p.ID, secret)
		return nil
	case "list":
		fs := newFlags("latchkey project list", "Lists projects.", e)
		sf.register(fs, e, false)
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parse(fs, args); err != nil {
			return helpOK(err)
		}
		store, b, err := sf.open(ctx, fs.Name(), false)
		if err != nil {
			return err
		}
		defer store.Close()
		ps, err := b.Projects(ctx)
		if err != nil {
			return err
		}
		rollouts, err := b.Rollouts(ctx)
		if err != nil {
			return err
		}
		rolloutOf := func(id string) broker.Rollout {
			if r, ok := rollouts[id]; ok {
				return r
			}
			return broker.DefaultRollout()
		}
		if *asJSON {
			type listed struct {
				broker.Project
				Rollout broker.Rollout `json:"rollout"`
			}
			out := []listed{}
			for _, p := range ps {
				out = append(out, listed{p, rolloutOf(p.ID)})
			}
			return json.NewEncoder(e.stdout).Encode(out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tRP ID\tORIGINS\tPOLICY\tROLLOUT")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.RPID, strings.Join(p.Origins, " "), p.Policy, rolloutOf(p.ID))
		}
		return tw.Flush()
	case "add-secret", "revoke-secret":
		fs := newFlags("latchkey project "+sub, "Adds an API secret to a project (printed once), or revokes one.", e)
		sf.register(fs, e, false)
		projectID := fs.String("project", "", "project ID (required)")
		secretID := fs.String("secret", "", "secret ID to revoke (revoke-secret)")
		if err := parse(fs, args); err != nil {
			return helpOK(err)
		}
		if *projectID == "" {
			return usagef("%s: --project is required", fs.Name())
		}
		if sub == "revoke-secret" && *secretID == "" {
			return usagef("%s: --secret is required", fs.Name())
		}
		store, b, err := sf.open(ctx, fs.Name(), false)
		if err != nil {
			return err
		}
		defer store.Close()
		if sub == "add-secret" {
			id, secret, err := b.AddSecret(ctx, *projectID)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Secret ID:  %s\nAPI secret: %s\n(The secret is shown once; only its hash is stored.)\n", id, secret)
			return nil
		}
		if err := b.RevokeSecret(ctx, *projectID, *secretID); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked %s\n", *secretID)
		return nil
	}
	return usagef("latchkey project: unknown subcommand %q (see --help)", sub)
}

const keysUsage = `Usage: latchkey keys <subcommand> [flags]

Manages a project's signedPasskeyData signing keys.

Subcommands:
  rotate   publish a new key now; it signs after --activate-in (default 10m)
  list     list the keys, which signs and which are published

Run 'latchkey keys <subcommand> --help' for its flags.
`

func cmdKeys(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(e.stdout, keysUsage)
		return nil
	}
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		return usagef("latchkey keys: want rotate or list (see --help)")
	}
	sub, args := args[0], args[1:]
	fs := newFlags("latchkey keys "+sub, "Rotates or lists a project's signing keys. A rotated-in key is published at once and signs after --activate-in.", e)
	var sf storeFlags
	sf.register(fs, e, true)
	projectID := fs.String("project", "", "project ID (required)")
	activateIn := fs.Duration("activate-in", broker.KeyActivationDelay, "rotate: how long the new key is published before it signs; after a key leak 30s (verifiers such as jose's refetch the JWKS at most every 30 s)")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if *projectID == "" {
		return usagef("%s: --project is required", fs.Name())
	}
	if *activateIn < 0 {
		return usagef("%s: --activate-in must not be negative", fs.Name())
	}
	store, b, err := sf.open(ctx, fs.Name(), true)
	if err != nil {
		return err
	}
	defer store.Close()
	if sub == "rotate" {
		k, err := b.RotateKeyIn(ctx, *projectID, *activateIn)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "new key %s published now, signs from %s\n", k.ID, k.ActiveFrom.Format(time.RFC3339))
		return nil
	}
	keys, err := b.Keys(ctx, *projectID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tACTIVE FROM\tSIGNING\tPUBLISHED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\n", k.ID, k.ActiveFrom.Format(time.RFC3339), k.Signing, k.Published)
	}
	return tw.Flush()
}

func cmdHealthcheck(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey healthcheck", "Exits 0 when the broker at --url is ready (GET /readyz answers 200), 1 otherwise.", e)
	listen := envOr(e.getenv, "LATCHKEY_LISTEN", ":8080")
	if strings.HasPrefix(listen, ":") {
		listen = "127.0.0.1" + listen
	}
	target := fs.String("url", "http://"+listen+"/readyz", "URL to probe")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		return usagef("latchkey healthcheck: --url: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %d", *target, resp.StatusCode)
	}
	fmt.Fprintln(e.stdout, "ready")
	return nil
}

func cmdExampleApp(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey example-app", "Runs the example app alone. On first run it creates a project for it in the broker's database and keeps its credentials in --dir.", e)
	var sf storeFlags
	sf.register(fs, e, true)
	var kf secretKeyFlags // secretkey.go
	kf.register(fs, e, false)
	listen := fs.String("listen", envOr(e.getenv, "LATCHKEY_APP_LISTEN", ":3000"), "address to listen on (env LATCHKEY_APP_LISTEN)")
	brokerURL := fs.String("broker-url", envOr(e.getenv, "LATCHKEY_PUBLIC_URL", "http://localhost:8080"), "the broker as browsers reach it (env LATCHKEY_PUBLIC_URL)")
	backendURL := fs.String("backend-url", e.getenv("LATCHKEY_BACKEND_URL"), "the broker as this server reaches it (default --broker-url; env LATCHKEY_BACKEND_URL)")
	origin := fs.String("origin", envOr(e.getenv, "LATCHKEY_APP_ORIGIN", "http://localhost:3000"), "the app's own origin, as browsers reach it (env LATCHKEY_APP_ORIGIN)")
	dir := fs.String("dir", envOr(e.getenv, "LATCHKEY_APP_DIR", ".latchkey-example"), "directory for the app's database, keys and project credentials (env LATCHKEY_APP_DIR)")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return usagef("latchkey example-app: --listen %q is not host:port", *listen)
	}
	if err := kf.use("latchkey example-app", e, &sf.secretKey, false); err != nil {
		return err
	}
	u, err := url.Parse(*origin)
	if err != nil || u.Hostname() == "" {
		return usagef("latchkey example-app: --origin %q is not an origin", *origin)
	}
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	store, b, err := sf.open(ctx, "latchkey example-app", true)
	if err != nil {
		return err
	}
	st, _, err := ensureProject(ctx, b, filepath.Join(*dir, "project.json"), broker.NewProject{Name: "Acme (example app)",
		RPID: u.Hostname(), RPName: "Acme", Origins: []string{*origin}})
	store.Close()
	if err != nil {
		return err
	}
	return exampleapp.Run(ctx, exampleapp.Config{Listen: *listen, BrokerURL: *brokerURL, BackendURL: *backendURL, ProjectID: st.ProjectID,
		APISecret: st.APISecret, DataDir: *dir, Logger: logger}, func(addr string) {
		fmt.Fprintf(e.stdout, "Example app: %s (project %s)\n", *origin, st.ProjectID)
	})
}
