// Package exampleapp is Latchkey's example app: a small login system with its own users,
// passwords and sessions that adds passkeys through Latchkey's public HTTP API and browser
// SDK, exactly as a customer's app would. `latchkey dev` runs it next to the broker.
package exampleapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// Config is what the app needs: where to listen, the broker and the project's backend
// credentials, and a directory for its database and session key.
type Config struct {
	Listen    string // host:port
	BrokerURL string // e.g. http://localhost:8080, as the browser reaches it
	// BackendURL is the broker as the app's server reaches it (default BrokerURL), such as
	// http://latchkey:8080 inside a container network.
	BackendURL string
	ProjectID  string
	APISecret  string
	DataDir    string // holds exampleapp.db and exampleapp.key
	Logger     *slog.Logger
}

// App is the example app's HTTP handler over its own SQLite database.
type App struct {
	cfg      Config
	db       *sqlx.DB
	keys     sessionKeys
	latchkey *latchkeyClient
	log      *slog.Logger
	now      func() time.Time
	handler  http.Handler

	passwordLimit *limiter // failed sign-ins per account and client address
	mintLimit     *limiter // connect tokens per user

	reports sync.WaitGroup // password logins being reported to the broker
}

// New opens the app's database and session key in cfg.DataDir (creating them on first
// use). Close releases the database.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.BrokerURL == "" || cfg.ProjectID == "" || cfg.APISecret == "" || cfg.DataDir == "" {
		return nil, errors.New("exampleapp: BrokerURL, ProjectID, APISecret and DataDir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.BrokerURL = strings.TrimRight(cfg.BrokerURL, "/")
	if cfg.BackendURL == "" {
		cfg.BackendURL = cfg.BrokerURL
	}
	cfg.BackendURL = strings.TrimRight(cfg.BackendURL, "/")
	db, err := openDB(ctx, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	key, err := loadKey(cfg.DataDir)
	if err != nil {
		db.Close()
		return nil, err
	}
	a := &App{
		cfg:      cfg,
		db:       db,
		latchkey: &latchkeyClient{baseURL: cfg.BackendURL, projectID: cfg.ProjectID, apiSecret: cfg.APISecret, http: &http.Client{}},
		log:      cfg.Logger,
		now:      time.Now,
	}
	clock := func() time.Time { return a.now() }
	a.keys = sessionKeys{key: key, now: clock}
	a.passwordLimit = newLimiter(passwordFailures, passwordWindow, clock)
	a.mintLimit = newLimiter(connectTokens, connectTokensWindow, clock)
	a.handler = a.routes()
	return a, nil
}

// Close closes the database.
func (a *App) Close() error {
	a.reports.Wait()
	return a.db.Close()
}

// ServeHTTP serves the app's pages and API.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Run serves the app on cfg.Listen until ctx is cancelled, then shuts down gracefully.
// ready, if not nil, is called with the listening address.
func Run(ctx context.Context, cfg Config, ready func(addr string)) error {
	a, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("exampleapp: listening on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
