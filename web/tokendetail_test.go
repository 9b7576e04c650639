package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/web"
)

// A refused connect token tells the page only that it is not usable; its type and state,
// which would help someone probing tokens, go to the log.
func TestConnectTokenRefusalKeepsItsReasonForTheLog(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		f := brokertest.New(t, dialect)
		var log lockedBuffer
		h := web.New(f.Broker, slog.New(slog.NewTextHandler(&log, nil)))
		ctx := context.Background()
		list, err := f.Broker.MintConnectToken(ctx, f.Project.ID, broker.MintRequest{Type: "passkey-list", Data: broker.ConnectTokenData{Identifier: "alice"}})
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, op, body, logged string
		}{
			{"wrong type", "append/start", `{"connectToken":"` + list.Secret + `"}`, "have passkey-list, need passkey-append"},
			{"unknown", "manage/list", `{"connectToken":"ctk1_` + strings.Repeat("A", 43) + `"}`, "unknown token"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req := httptest.NewRequest(http.MethodPost, "/v2/projects/"+f.Project.ID+"/connect/"+tc.op, strings.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Origin", brokertest.Origin)
				r := serve(h, req)
				env := assertError(t, r, http.StatusUnauthorized, "invalid_connect_token")
				for _, leak := range []string{"passkey-list", "passkey-append", "need", "have", "unknown token"} {
					if bytes.Contains(r.Body, []byte(leak)) {
						t.Errorf("%s %s: body %s names the token's type or state (%q)", tc.op, tc.name, r.Body, leak)
					}
				}
				if env.Error.Details == "" {
					t.Errorf("%s %s: no details at all in %s", tc.op, tc.name, r.Body)
				}
				if !strings.Contains(log.String(), tc.logged) {
					t.Errorf("log = %q, want the reason %q", log.String(), tc.logged)
				}
			})
		}
	})
}
