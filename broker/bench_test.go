package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/cmd/latchkey/metrics"
	"github.com/latchkey/latchkey/connecttoken"
)

// The benchmarks run the hot paths in process, on SQLite (and on PostgreSQL when
// LATCHKEY_TEST_DATABASE_URL is set), without HTTP. Compare with the floor, one P-256 verify
// plus one ES256 sign: go test -run='^$' -bench=Floor ./signeddata/.

// benchUsers is how many users with a passkey each benchmark's store holds.
const benchUsers = 50

// benchFixture is a store with benchUsers users, each with one passkey of the authenticator.
type benchFixture struct {
	*brokertest.Fixture
	ctx   context.Context
	auth  *softauthn.Authenticator
	users []string
}

func newBenchFixture(b *testing.B, dialect string) *benchFixture {
	b.Helper()
	f := &benchFixture{Fixture: brokertest.New(b, dialect), ctx: context.Background(), auth: softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)}
	// A counter that stays 0, as synced passkeys keep it, so that logins may repeat in any order.
	f.auth.CountStep = 0
	// BenchmarkStartLogin leaves its ceremonies pending, more of them than the default cap.
	f.Broker = f.NewBroker(b, broker.Config{MaxPendingCeremonies: -1})
	for i := range benchUsers {
		id := fmt.Sprintf("bench-user-%d", i)
		tok, err := f.Broker.MintConnectToken(f.ctx, f.Project.ID, broker.MintRequest{Type: string(connecttoken.TypeAppend), Data: broker.ConnectTokenData{Identifier: id, DisplayName: id}})
		if err != nil {
			b.Fatalf("MintConnectToken() = %v", err)
		}
		start, err := f.Broker.StartAppend(f.ctx, f.Project.ID, tok.Secret, false)
		if err != nil {
			b.Fatalf("StartAppend() = %v", err)
		}
		cred, err := f.auth.Create(benchJSON(b, start.PublicKey))
		if err != nil {
			b.Fatalf("Authenticator.Create() = %v", err)
		}
		if _, err := f.Broker.FinishAppend(f.ctx, f.Project.ID, start.CeremonyID, cred); err != nil {
			b.Fatalf("FinishAppend() = %v", err)
		}
		f.users = append(f.users, id)
	}
	return f
}

func benchJSON(b *testing.B, v any) []byte {
	b.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// started is a login ceremony started by identifier and answered by the authenticator.
type started struct {
	user, ceremonyID string
	credential       []byte
}

// startLogin starts a login of user i and has the authenticator answer it.
func (f *benchFixture) startLogin(b *testing.B, i int) started {
	user := f.users[i%len(f.users)]
	start, err := f.Broker.StartLogin(f.ctx, f.Project.ID, broker.LoginRequest{Identifier: user})
	if err != nil || start.PublicKey == nil {
		b.Fatalf("StartLogin(%s) = %+v, %v", user, start, err)
	}
	cred, err := f.auth.Get(benchJSON(b, start.PublicKey))
	if err != nil {
		b.Fatalf("Authenticator.Get() = %v", err)
	}
	return started{user, start.CeremonyID, cred}
}

func forBenchDialects(b *testing.B, bench func(b *testing.B, f *benchFixture)) {
	for _, d := range brokertest.Dialects(b) {
		b.Run(d, func(b *testing.B) { bench(b, newBenchFixture(b, d)) })
	}
}

// BenchmarkLogin is a whole login as the load generator drives it, in process: StartLogin by
// identifier, the authenticator's signature, FinishLogin and VerifySignedDataWithSecret (the
// backend's API secret checked, as the backend API does). server-ns/op
// leaves out the authenticator, which is the client's work.
func BenchmarkLogin(b *testing.B) {
	forBenchDialects(b, benchLogin)
}

// BenchmarkLoginMetrics is BenchmarkLogin with serve's Prometheus metrics wired in: the
// broker's observer and the store's query timing (cmd/latchkey/metrics).
func BenchmarkLoginMetrics(b *testing.B) {
	forBenchDialects(b, func(b *testing.B, f *benchFixture) {
		m := metrics.New()
		store, err := sqlstore.Open(f.ctx, f.URL, sqlstore.Config{ObserveQuery: m.ObserveQuery})
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		m.WatchStore(store)
		key, _ := broker.ParseSecretKey(brokertest.SecretKey)
		if f.Broker, err = broker.New(store, broker.Config{SecretKey: key, MaxPendingCeremonies: -1, Observer: m}); err != nil {
			b.Fatal(err)
		}
		benchLogin(b, f)
	})
}

func benchLogin(b *testing.B, f *benchFixture) {
	var client time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	for i := 0; i < b.N; i++ {
		user := f.users[i%len(f.users)]
		start, err := f.Broker.StartLogin(f.ctx, f.Project.ID, broker.LoginRequest{Identifier: user})
		if err != nil {
			b.Fatalf("StartLogin() = %v", err)
		}
		t := time.Now()
		cred, err := f.auth.Get(benchJSON(b, start.PublicKey))
		client += time.Since(t)
		if err != nil {
			b.Fatalf("Authenticator.Get() = %v", err)
		}
		res, err := f.Broker.FinishLogin(f.ctx, f.Project.ID, start.CeremonyID, cred)
		if err != nil {
			b.Fatalf("FinishLogin() = %v", err)
		}
		v, err := f.Broker.VerifySignedDataWithSecret(f.ctx, f.Project.ID, f.APISecret, res.SignedPasskeyData, user)
		if err != nil || v.Result != broker.ResultSuccess {
			b.Fatalf("VerifySignedData() = %+v, %v", v, err)
		}
	}
	cpu := processCPU(b) - cpu0
	b.ReportMetric(float64(b.Elapsed()-client)/float64(b.N), "server-ns/op")
	// The process's CPU time (every goroutine's, the runtime's included), less the
	// authenticator's: what a login costs the machine, which server-ns/op (wall time) does not
	// show when work runs on two cores at once or waits for a wake-up.
	b.ReportMetric(float64(cpu-client)/float64(b.N), "server-cpu-ns/op")
}

// processCPU returns the CPU time, user and system, the process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStartLogin is login/start by identifier.
func BenchmarkStartLogin(b *testing.B) {
	forBenchDialects(b, func(b *testing.B, f *benchFixture) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := f.Broker.StartLogin(f.ctx, f.Project.ID, broker.LoginRequest{Identifier: f.users[i%len(f.users)]}); err != nil {
				b.Fatalf("StartLogin() = %v", err)
			}
		}
	})
}

// BenchmarkFinishLogin is login/finish alone: the ceremonies and the authenticator's answers
// are made before the timer starts.
func BenchmarkFinishLogin(b *testing.B) {
	forBenchDialects(b, func(b *testing.B, f *benchFixture) {
		logins := make([]started, b.N)
		for i := range logins {
			logins[i] = f.startLogin(b, i)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for _, l := range logins {
			if _, err := f.Broker.FinishLogin(f.ctx, f.Project.ID, l.ceremonyID, l.credential); err != nil {
				b.Fatalf("FinishLogin() = %v", err)
			}
		}
	})
}

// BenchmarkVerifySignedData is the online verification as the backend API runs it, API secret
// included, single use included: the tokens are made before the timer starts.
// secret-in-write is VerifySignedDataWithSecret with a secret the broker knows, which the
// store confirms where it records the token; read-secret-first is Authenticate, then
// VerifySignedData, as every verification ran before it.
func BenchmarkVerifySignedData(b *testing.B) {
	for _, way := range []struct {
		name   string
		verify func(f *benchFixture, t broker.LoginResult) (broker.Verification, error)
	}{
		{"secret-in-write", func(f *benchFixture, t broker.LoginResult) (broker.Verification, error) {
			return f.Broker.VerifySignedDataWithSecret(f.ctx, f.Project.ID, f.APISecret, t.SignedPasskeyData, t.Username)
		}},
		{"read-secret-first", func(f *benchFixture, t broker.LoginResult) (broker.Verification, error) {
			if _, err := f.Broker.Authenticate(f.ctx, f.Project.ID, f.APISecret); err != nil {
				return broker.Verification{}, err
			}
			return f.Broker.VerifySignedData(f.ctx, f.Project.ID, t.SignedPasskeyData, t.Username)
		}},
	} {
		b.Run(way.name, func(b *testing.B) {
			forBenchDialects(b, func(b *testing.B, f *benchFixture) {
				tokens := make([]broker.LoginResult, b.N)
				for i := range tokens {
					l := f.startLogin(b, i)
					res, err := f.Broker.FinishLogin(f.ctx, f.Project.ID, l.ceremonyID, l.credential)
					if err != nil {
						b.Fatalf("FinishLogin() = %v", err)
					}
					tokens[i] = res
				}
				if _, err := f.Broker.Authenticate(f.ctx, f.Project.ID, f.APISecret); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := processCPU(b)
				for _, t := range tokens {
					if v, err := way.verify(f, t); err != nil || v.Result != broker.ResultSuccess {
						b.Fatalf("verification = %+v, %v", v, err)
					}
				}
				b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			})
		})
	}
}

// BenchmarkAuthenticatorGet is the client's part of a login (the software authenticator's
// assertion), to subtract from BenchmarkLogin's ns/op.
func BenchmarkAuthenticatorGet(b *testing.B) {
	f := newBenchFixture(b, "sqlite")
	start, err := f.Broker.StartLogin(f.ctx, f.Project.ID, broker.LoginRequest{Identifier: f.users[0]})
	if err != nil {
		b.Fatal(err)
	}
	options := benchJSON(b, start.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.auth.Get(options); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMintConnectToken is an app backend minting a passkey-login token.
func BenchmarkMintConnectToken(b *testing.B) {
	forBenchDialects(b, func(b *testing.B, f *benchFixture) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			req := broker.MintRequest{Type: string(connecttoken.TypeLogin), Data: broker.ConnectTokenData{Identifier: f.users[i%len(f.users)]}}
			if _, err := f.Broker.MintConnectToken(f.ctx, f.Project.ID, req); err != nil {
				b.Fatalf("MintConnectToken() = %v", err)
			}
		}
	})
}

// BenchmarkAuthenticate is the backend API's check of the project's API secret.
func BenchmarkAuthenticate(b *testing.B) {
	forBenchDialects(b, func(b *testing.B, f *benchFixture) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.Broker.Authenticate(f.ctx, f.Project.ID, f.APISecret); err != nil {
				b.Fatalf("Authenticate() = %v", err)
			}
		}
	})
}
