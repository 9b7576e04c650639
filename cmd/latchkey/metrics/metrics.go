// Package metrics is `latchkey serve`'s Prometheus instrumentation: one registry of its own
// that collects what the broker (broker.Observer), the HTTP layer (web.Observer), the store
// (query latency, pool statistics) and the expiry sweep report, with the Go runtime and
// process collectors, served in the Prometheus text format by Handler. It lives beside the
// command because only the server binary needs it: broker, sqlstore and web know nothing of
// Prometheus, and report through small observer hooks instead.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/broker/webhook"
	"github.com/latchkey/latchkey/web"
)

// Metrics holds the registry and its collectors. It is a broker.Observer and a web.Observer;
// its methods are safe for concurrent use and take no lock across I/O.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	ceremoniesStarted  *prometheus.CounterVec
	ceremoniesFinished *prometheus.CounterVec
	ceremoniesFailed   *prometheus.CounterVec
	tokensMinted       *prometheus.CounterVec
	tokensConsumed     *prometheus.CounterVec
	verifications      *prometheus.CounterVec
	rateLimited        *prometheus.CounterVec

	queryDuration *prometheus.HistogramVec
	// queryOps are queryDuration's series by op, looked up once: ObserveQuery runs on every
	// query.
	queryOps map[string]prometheus.Observer

	expiredBacklog prometheus.Gauge
	expiredDeleted prometheus.Counter
	eventsDeleted  prometheus.Counter
	sweepErrors    *prometheus.CounterVec
	sweepLast      prometheus.Gauge

	webhookAttempts *prometheus.CounterVec
	webhookDuration *prometheus.HistogramVec
}

var (
	_ broker.Observer = (*Metrics)(nil)
	_ web.Observer    = (*Metrics)(nil)
)

// New returns Metrics on a registry of their own, with the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	m.httpRequests = counter("latchkey_http_requests_total", "HTTP requests answered, by method, route pattern and status.", "method", "route", "status")
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "latchkey_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by method and route pattern.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route"})
	m.ceremoniesStarted = counter("latchkey_ceremonies_started_total", "WebAuthn ceremonies started, by project and kind.", "project_id", "kind")
	m.ceremoniesFinished = counter("latchkey_ceremonies_finished_total", "WebAuthn ceremonies finished successfully, by project and kind.", "project_id", "kind")
	m.ceremoniesFailed = counter("latchkey_ceremonies_failed_total", "Failed finishes of WebAuthn ceremonies, by project, kind and reason.", "project_id", "kind", "reason")
	m.tokensMinted = counter("latchkey_connect_tokens_minted_total", "Connect tokens minted, by project and type.", "project_id", "type")
	m.tokensConsumed = counter("latchkey_connect_tokens_consumed_total", "Connect tokens consumed, by project and type.", "project_id", "type")
	m.verifications = counter("latchkey_signed_data_verifications_total", "signedPasskeyData verifications through the API, by project and result.", "project_id", "result")
	m.rateLimited = counter("latchkey_rate_limited_total", "Requests refused by a rate limit, by limiter.", "limiter")
	m.queryDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "latchkey_db_query_duration_seconds",
		Help:    "Time of database queries, by operation kind: read, write, or tx (a whole transaction).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
	}, []string{"op"})
	m.expiredBacklog = prometheus.NewGauge(prometheus.GaugeOpts{Name: "latchkey_expired_rows_backlog",
		Help: "Expired rows (ceremonies, tokens, jtis) the last sweep left behind when its time budget ran out."})
	m.expiredDeleted = prometheus.NewCounter(prometheus.CounterOpts{Name: "latchkey_expired_rows_deleted_total",
		Help: "Expired rows deleted by the sweep."})
	m.eventsDeleted = prometheus.NewCounter(prometheus.CounterOpts{Name: "latchkey_events_deleted_total",
		Help: "Audit events deleted by retention."})
	m.sweepErrors = counter("latchkey_sweep_errors_total", "Sweeps that failed, by job: expired (rows) or events (retention).", "job")
	m.sweepLast = prometheus.NewGauge(prometheus.GaugeOpts{Name: "latchkey_sweep_last_success_timestamp_seconds",
		Help: "When the expiry sweep last completed without an error (Unix time)."})
	m.webhookAttempts = counter("latchkey_webhook_attempts_total", "Webhook delivery attempts, by project and result (success, http_error, network_error, timeout, blocked).", "project_id", "result")
	m.webhookDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "latchkey_webhook_attempt_duration_seconds",
		Help:    "Time of webhook delivery attempts, by result.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"result"})
	m.reg.MustRegister(m.webhookDuration, m.httpDuration, m.queryDuration, m.expiredBacklog, m.expiredDeleted, m.eventsDeleted, m.sweepLast,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The series of fixed label sets exist from the start, at zero, so that rates and alerts
	// have them before the first event.
	for _, l := range web.Limiters {
		m.rateLimited.WithLabelValues(l)
	}
	m.queryOps = map[string]prometheus.Observer{}
	for _, op := range []string{sqlstore.OpRead, sqlstore.OpWrite, sqlstore.OpTx} {
		m.queryOps[op] = m.queryDuration.WithLabelValues(op)
	}
	for _, r := range webhook.Results {
		m.webhookDuration.WithLabelValues(r)
	}
	for _, job := range []string{"expired", "events"} {
		m.sweepErrors.WithLabelValues(job)
	}
	return m
}

// Registry returns the registry, for tests and further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// WatchStore adds the connection pool statistics of s.
func (m *Metrics) WatchStore(s *sqlstore.Store) {
	m.reg.MustRegister(poolCollector{s})
}

// ObserveQuery is sqlstore.Config.ObserveQuery.
func (m *Metrics) ObserveQuery(op string, elapsed time.Duration) {
	if o, ok := m.queryOps[op]; ok {
		o.Observe(elapsed.Seconds())
	}
}

// Swept records the result of broker.SweepExpired.
func (m *Metrics) Swept(r broker.SweepResult, err error) {
	m.expiredDeleted.Add(float64(r.Deleted))
	if err != nil {
		m.sweepErrors.WithLabelValues("expired").Inc()
		return
	}
	m.expiredBacklog.Set(float64(r.Backlog))
	m.sweepLast.SetToCurrentTime()
}

// EventsSwept records the result of broker.DeleteOldEvents.
func (m *Metrics) EventsSwept(r broker.EventSweep, err error) {
	m.eventsDeleted.Add(float64(r.Deleted))
	if err != nil {
		m.sweepErrors.WithLabelValues("events").Inc()
	}
}

// Request implements web.Observer.
func (m *Metrics) Request(method, route string, status int, elapsed time.Duration) {
	m.httpRequests.WithLabelValues(method, route, statusLabel(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// RateLimited implements web.Observer.
func (m *Metrics) RateLimited(limiter string) { m.rateLimited.WithLabelValues(limiter).Inc() }

// CeremonyStarted implements broker.Observer.
func (m *Metrics) CeremonyStarted(projectID, kind string) {
	m.ceremoniesStarted.WithLabelValues(projectID, kind).Inc()
}

// CeremonyFinished implements broker.Observer.
func (m *Metrics) CeremonyFinished(projectID, kind string) {
	m.ceremoniesFinished.WithLabelValues(projectID, kind).Inc()
}

// CeremonyFailed implements broker.Observer.
func (m *Metrics) CeremonyFailed(projectID, kind, reason string) {
	m.ceremoniesFailed.WithLabelValues(projectID, kind, reason).Inc()
}

// ConnectTokenMinted implements broker.Observer.
func (m *Metrics) ConnectTokenMinted(projectID, tokenType string) {
	m.tokensMinted.WithLabelValues(projectID, tokenType).Inc()
}

// ConnectTokenConsumed implements broker.Observer.
func (m *Metrics) ConnectTokenConsumed(projectID, tokenType string) {
	m.tokensConsumed.WithLabelValues(projectID, tokenType).Inc()
}

// SignedDataVerified implements broker.Observer.
func (m *Metrics) SignedDataVerified(projectID, result string) {
	m.verifications.WithLabelValues(projectID, result).Inc()
}

// statusLabel is strconv.Itoa for HTTP statuses, without allocating for the common ones.
func statusLabel(status int) string {
	if status >= 100 && status < 600 {
		return statusLabels[status-100]
	}
	return "other"
}

var statusLabels = func() (s [500]string) {
	for i := range s {
		s[i] = strconv.Itoa(i + 100)
	}
	return s
}()

// poolCollector reports a store's connection pool statistics (database/sql DBStats), read
// once per scrape.
type poolCollector struct{ s *sqlstore.Store }

var (
	poolOpen         = prometheus.NewDesc("latchkey_db_open_connections", "Open database connections, in use and idle.", nil, nil)
	poolInUse        = prometheus.NewDesc("latchkey_db_in_use_connections", "Database connections in use.", nil, nil)
	poolIdle         = prometheus.NewDesc("latchkey_db_idle_connections", "Idle database connections.", nil, nil)
	poolMaxOpen      = prometheus.NewDesc("latchkey_db_max_open_connections", "The cap on open database connections.", nil, nil)
	poolWaits        = prometheus.NewDesc("latchkey_db_wait_count_total", "Times a query waited for a free database connection.", nil, nil)
	poolWaitDuration = prometheus.NewDesc("latchkey_db_wait_duration_seconds_total", "Time spent waiting for a free database connection.", nil, nil)
	poolIdleClosed   = prometheus.NewDesc("latchkey_db_idle_closed_total", "Connections closed as idle (max idle connections or idle time).", nil, nil)
)

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolOpen, poolInUse, poolIdle, poolMaxOpen, poolWaits, poolWaitDuration, poolIdleClosed} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(poolOpen, prometheus.GaugeValue, float64(st.OpenConnections))
	ch <- prometheus.MustNewConstMetric(poolInUse, prometheus.GaugeValue, float64(st.InUse))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(st.Idle))
	ch <- prometheus.MustNewConstMetric(poolMaxOpen, prometheus.GaugeValue, float64(st.MaxOpenConnections))
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(st.WaitCount))
	ch <- prometheus.MustNewConstMetric(poolWaitDuration, prometheus.CounterValue, st.WaitDuration.Seconds())
	ch <- prometheus.MustNewConstMetric(poolIdleClosed, prometheus.CounterValue, float64(st.MaxIdleClosed+st.MaxIdleTimeClosed))
}

// WebhookAttempted counts a webhook delivery attempt of the project with result (one of
// webhook.Results) that took elapsed; it is broker.WebhookWorkerConfig.Observe.
func (m *Metrics) WebhookAttempted(projectID, result string, elapsed time.Duration) {
	m.webhookAttempts.WithLabelValues(projectID, result).Inc()
	m.webhookDuration.WithLabelValues(result).Observe(elapsed.Seconds())
}
