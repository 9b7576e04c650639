package main

import (
	"runtime/debug"
	"testing"
)

// TestServerGC: serve and dev set the GC target to 200 % unless GOGC is set, which is then
// left as the runtime read it.
func TestServerGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	serverGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("GC target without GOGC = %d %%, want 200 %%", got)
	}
	serverGC(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC target with GOGC=100 = %d %%, want 100 %% (the operator's)", got)
	}
}
