package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
)

func TestParseRetention(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2160h", 90 * 24 * time.Hour, true},
		{"1h", time.Hour, true},
		{"0", 0, true},
		{"0s", 0, true},
		{"forever", 0, true},
		{"59m", 0, false},
		{"-1h", 0, false},
		{"90d", 0, false},
		{"", 0, false},
		{"Forever", 0, false},
	} {
		got, err := parseRetention(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseRetention(%q) = %v, %v; want %v and ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestSweepOnceDeletesOldEvents: the sweep deletes events older than the retention and logs
// how many; with retention 0 it keeps them.
func TestSweepOnceDeletesOldEvents(t *testing.T) {
	f := brokertest.New(t, "sqlite")
	ctx := t.Context()
	for i := range 3 {
		if _, err := f.Broker.CreateUser(ctx, f.Project.ID, broker.NewUser{Identifier: fmt.Sprintf("user-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(91 * 24 * time.Hour)
	f.Broker.Now = func() time.Time { return later }
	if _, err := f.Broker.CreateUser(ctx, f.Project.ID, broker.NewUser{Identifier: "recent"}); err != nil {
		t.Fatal(err)
	}
	events := func() int {
		t.Helper()
		n, err := f.Store.CountRows(ctx, "events")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	sweepOnce(ctx, f.Broker, log, 0, nil)
	if n := events(); n != 5 {
		t.Fatalf("events after a sweep with retention 0 = %d, want all 5", n)
	}
	if strings.Contains(logs.String(), "old events") {
		t.Errorf("a sweep with retention 0 logged %s", logs.String())
	}

	sweepOnce(ctx, f.Broker, log, broker.DefaultEventRetention, nil)
	if n := events(); n != 1 {
		t.Errorf("events after a sweep with retention 90 days = %d, want the recent one", n)
	}
	var line struct {
		Msg    string `json:"msg"`
		Events int64  `json:"events"`
	}
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "old events") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	// api_secret.added and three user.created.
	if line.Msg != "deleted old events" || line.Events != 4 {
		t.Errorf("log of the sweep = %+v (%s), want deleted old events, 4", line, logs.String())
	}
}
