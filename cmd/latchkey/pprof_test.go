package main

import (
	"fmt"
	"testing"

	"github.com/latchkey/latchkey/broker/brokertest"
)

func TestPprofFlag(t *testing.T) {
	port := freePort(t)
	env := map[string]string{
		"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"),
		"LATCHKEY_SECRET_KEY":   brokertest.SecretKey,
		"LATCHKEY_PPROF":        fmt.Sprintf("127.0.0.1:%d", port),
	}
	var created struct{ ProjectID, APISecret string }
	created.ProjectID, created.APISecret = createProject(t, env, "Pprof", "localhost", "http://localhost:8080")
	serveOn(t, env, created.ProjectID, created.APISecret)
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", port)
	if code := call(t, "GET", url+"goroutine?debug=1", nil, nil); code != 200 {
		t.Errorf("GET %sgoroutine = %d, want 200", url, code)
	}
	if code := call(t, "GET", url+"cmdline", nil, nil); code == 200 {
		t.Errorf("GET %scmdline = 200, want it not served (the command line may hold the secret key)", url)
	}
}
