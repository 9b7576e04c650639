package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
)

// TestExpressBackend runs an Express app backend written as Corbado Connect's backend guide
// shows (testdata/express/server.js), pointed at Latchkey by its base URL and credentials
// only, and signs a user in through it.
func TestExpressBackend(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		brokertest.Require(t, "node is not installed: the Express compatibility test needs Node.js 18+")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "express"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "express")); err != nil {
		brokertest.Require(t, "express is not installed: run npm ci --prefix cmd/latchkey/testdata/express")
	}
	const origin = "http://localhost:3000"
	s := startServe(t, "sqlite", origin)

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "server.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BACKEND_API_URL="+s.URL, "PROJECT_ID="+s.ProjectID, "API_SECRET="+s.Secret, fmt.Sprintf("PORT=%d", port))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening") {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the Express app did not start within 20 s")
	}
	app := fmt.Sprintf("http://127.0.0.1:%d", port)

	// The app mints a connect token for its signed-in user; the page adds a passkey with it.
	var ct struct {
		ConnectToken string `json:"connectToken"`
	}
	if code := call(t, "POST", app+"/auth/createConnectToken", map[string]string{"type": "passkey-append"}, &ct, "X-Session-User", "user-42"); code != 200 || !strings.HasPrefix(ct.ConnectToken, "ctk1_") {
		t.Fatalf("createConnectToken = %d, %+v", code, ct)
	}
	auth := softauthn.NewAuthenticator("localhost", origin)
	var start struct {
		CeremonyID string         `json:"ceremonyID"`
		PublicKey  map[string]any `json:"publicKey"`
	}
	if code := call(t, "POST", s.frontend("append/start"), map[string]string{"connectToken": ct.ConnectToken}, &start, "Origin", origin); code != 200 {
		t.Fatalf("append/start = %d", code)
	}
	if user := start.PublicKey["user"].(map[string]any); user["displayName"] != "Display user-42" {
		t.Fatalf("append/start user = %v, want the display name the app sent", user)
	}
	s.appendWithStart(t, auth, origin, start.CeremonyID, start.PublicKey)

	// The user signs in with the passkey; the app exchanges signedPasskeyData for a session.
	token := s.login(t, auth, origin, "user-42")
	var sess struct {
		Session string `json:"session"`
		UserID  string `json:"userID"`
		Result  string `json:"result"`
	}
	if code := call(t, "POST", app+"/auth/verifySignedData", map[string]string{"signedPasskeyData": token}, &sess); code != 200 || sess.Session != "session-for-user-42" || !strings.HasPrefix(sess.UserID, "usr-") {
		t.Fatalf("app verifySignedData = %d, %+v, want a session for user-42", code, sess)
	}
	sess.Result = ""
	if code := call(t, "POST", app+"/auth/verifySignedData", map[string]string{"signedPasskeyData": token}, &sess); code != 401 || sess.Result != "invalid_challenge" {
		t.Fatalf("replayed app verifySignedData = %d, %+v, want 401 invalid_challenge", code, sess)
	}
}
