package web_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
)

var update = flag.Bool("update", false, "rewrite web/testdata/openapi-ts/responses.json from the responses of TestOpenAPITypeScript")

const responsesFixture = "testdata/openapi-ts/responses.json"

// TestOpenAPITypeScript captures real responses of every kind (the main flows, their errors
// and the management API) and checks them the way a TypeScript client would:
// testdata/openapi-ts/check.mjs validates openapi.yaml strictly, generates types from it with
// openapi-typescript's defaults and type-checks each response against its operation's type.
// The committed responses.json must have the same shape as what the server sends now (-update
// rewrites it); CI also runs the check on it (npm run check).
func TestOpenAPITypeScript(t *testing.T) {
	e := newMgmtEnv(t, "sqlite")
	mainFlows(t, e.env, "sqlite")
	managementFlows(t, e)

	fresh := distinctShapes(e.api.captured)
	raw, err := json.MarshalIndent(fresh, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, '\n')
	if *update {
		if err := os.WriteFile(responsesFixture, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(responsesFixture)
	if err != nil {
		t.Fatalf("%v (run go test ./web -run TestOpenAPITypeScript -update)", err)
	}
	var old []capturedResponse
	if err := json.Unmarshal(committed, &old); err != nil {
		t.Fatalf("%s: %v", responsesFixture, err)
	}
	if diff := cmp.Diff(shapeKeys(old), shapeKeys(fresh)); diff != "" {
		t.Errorf("%s has other response shapes than the server sends (-committed +now); run go test ./web -run TestOpenAPITypeScript -update:\n%s", responsesFixture, diff)
	}

	node, err := exec.LookPath("node")
	if err != nil {
		brokertest.Require(t, "node is not installed: the OpenAPI TypeScript check needs Node.js 18+")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "openapi-ts"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openapi-typescript")); err != nil {
		brokertest.Require(t, "the OpenAPI TypeScript check is not installed: run npm ci --prefix web/testdata/openapi-ts")
	}
	freshFile := filepath.Join(t.TempDir(), "responses.json")
	if err := os.WriteFile(freshFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "check.mjs", freshFile)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node check.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

// managementFlows calls every operation of the management API that answers JSON.
func managementFlows(t *testing.T, e *mgmtEnv) {
	t.Helper()
	e.createUser(t, "bob@example.com", "Bob")
	e.backend(t, http.MethodPost, "/v2/users/bulk", map[string]any{"users": []map[string]any{
		{"identifier": "carol@example.com", "displayName": "Carol"}, {"identifier": "bob@example.com"}}}).wantStatus(t, http.StatusOK)
	_, pk := e.register(t, "dave@example.com")
	e.login(t, "dave@example.com")
	list := e.backend(t, http.MethodGet, "/v2/users?identifier=dave@example.com", nil)
	list.wantStatus(t, http.StatusOK)
	users, _ := list.get("users").([]any)
	if len(users) != 1 {
		t.Fatalf("GET /v2/users?identifier=dave@example.com = %s", list.Body)
	}
	dave := users[0].(map[string]any)["id"].(string)
	e.backend(t, http.MethodGet, "/v2/users?limit=1", nil).wantStatus(t, http.StatusOK)
	e.backend(t, http.MethodGet, "/v2/users/"+dave, nil).wantStatus(t, http.StatusOK)
	e.backend(t, http.MethodPatch, "/v2/users/"+dave, map[string]any{"displayName": "David"}).wantStatus(t, http.StatusOK)
	e.backend(t, http.MethodGet, "/v2/users/"+dave+"/passkeys", nil).wantStatus(t, http.StatusOK)
	cred := url.PathEscape(fmt.Sprint(pk["id"]))
	e.backend(t, http.MethodGet, "/v2/passkeys/"+cred, nil).wantStatus(t, http.StatusOK)
	e.backend(t, http.MethodPatch, "/v2/passkeys/"+cred, map[string]any{"label": "Work laptop"}).wantStatus(t, http.StatusOK)
	assertError(t, e.backend(t, http.MethodPost, "/v2/users", map[string]any{"identifier": "bob@example.com"}), http.StatusConflict, "already_exists")
	fp := "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"
	e.backend(t, http.MethodPost, "/v2/apps", map[string]any{"android": "com.example.shop", "sha256CertFingerprints": []string{fp}}).wantStatus(t, http.StatusCreated)
	e.backend(t, http.MethodPost, "/v2/apps", map[string]any{"ios": "ABCDE12345.com.example.shop"}).wantStatus(t, http.StatusCreated)
	e.backend(t, http.MethodGet, "/v2/apps", nil).wantStatus(t, http.StatusOK)
	e.backend(t, http.MethodPut, "/v2/passkeyEndpoints", map[string]any{"enroll": "https://shop.example/passkeys/new"}).wantStatus(t, http.StatusOK)
	e.backend(t, http.MethodGet, "/v2/passkeyEndpoints", nil).wantStatus(t, http.StatusOK)
	for _, name := range broker.WellKnownFiles {
		e.doJSON(t, http.MethodGet, "/v2/projects/"+e.f.Project.ID+"/.well-known/"+name, nil, nil).wantStatus(t, http.StatusOK)
	}
	e.offset.Add(int64(broker.EventFeedDelay + time.Second))
	e.backend(t, http.MethodGet, "/v2/events?limit=100", nil).wantStatus(t, http.StatusOK)
	e.front(t, "analytics", map[string]any{"event": "append.offer_shown"}).wantStatus(t, http.StatusNoContent)
	e.front(t, "analytics", map[string]any{"event": "login.fallback", "reason": "no_passkey"}).wantStatus(t, http.StatusNoContent)
	assertValidation(t, e.front(t, "analytics", map[string]any{"event": "login.maybe"}), "event")
	e.backend(t, http.MethodPost, "/v2/analytics/passwordLogins", map[string]any{"count": 3}).wantStatus(t, http.StatusOK)
	e.backend(t, http.MethodGet, "/v2/analytics?bucket=hour&from=2026-11-30T10:00:00Z&to=2026-11-30T12:00:00Z", nil).wantStatus(t, http.StatusOK)
	assertValidation(t, e.backend(t, http.MethodGet, "/v2/analytics?bucket=week", nil), "bucket")
	webhookFlows(t, e)
}

// webhookFlows adds, reads and removes a webhook endpoint through the management API.
func webhookFlows(t *testing.T, e *mgmtEnv) {
	t.Helper()
	created := e.backend(t, http.MethodPost, "/v2/webhooks", map[string]any{"url": "https://hooks.example.com/latchkey", "events": []string{"passkey.used", "connect_token.*"}})
	created.wantStatus(t, http.StatusCreated)
	id := created.str(t, "id")
	if !strings.HasPrefix(created.str(t, "secret"), "whsec_") || created.Header.Get("Location") != "/v2/webhooks/"+id {
		t.Errorf("POST /v2/webhooks = %s (Location %q)", created.Body, created.Header.Get("Location"))
	}
	list := e.backend(t, http.MethodGet, "/v2/webhooks", nil)
	list.wantStatus(t, http.StatusOK)
	if ws, _ := list.get("webhooks").([]any); len(ws) != 1 || ws[0].(map[string]any)["secret"] != nil {
		t.Errorf("GET /v2/webhooks = %s, want the one endpoint without its secret", list.Body)
	}
	got := e.backend(t, http.MethodGet, "/v2/webhooks/"+id, nil)
	got.wantStatus(t, http.StatusOK)
	if got.str(t, "status") != "enabled" || got.get("secret") != nil {
		t.Errorf("GET /v2/webhooks/%s = %s", id, got.Body)
	}
	e.backend(t, http.MethodGet, "/v2/webhooks/"+id+"/deliveries?limit=10", nil).wantStatus(t, http.StatusOK)
	assertValidation(t, e.backend(t, http.MethodPost, "/v2/webhooks", map[string]any{"url": "http://hooks.example.com/latchkey"}), "url")
	assertValidation(t, e.backend(t, http.MethodPost, "/v2/webhooks", map[string]any{"url": "https://169.254.169.254/latest"}), "url")
	assertValidation(t, e.backend(t, http.MethodPost, "/v2/webhooks", map[string]any{"url": "https://hooks.example.com/x", "events": []string{"ceremony.started"}}), "events")
	assertValidation(t, e.backend(t, http.MethodGet, "/v2/webhooks/"+id+"/deliveries?cursor=nope", nil), "cursor")
	e.backend(t, http.MethodDelete, "/v2/webhooks/"+id, nil).wantStatus(t, http.StatusNoContent)
	assertError(t, e.backend(t, http.MethodGet, "/v2/webhooks/"+id, nil), http.StatusNotFound, "not_found")
	assertError(t, e.backend(t, http.MethodDelete, "/v2/webhooks/"+id, nil), http.StatusNotFound, "not_found")
	assertError(t, e.backend(t, http.MethodGet, "/v2/webhooks/"+id+"/deliveries", nil), http.StatusNotFound, "not_found")
}

// distinctShapes keeps one response of each operation, status and shape, in a stable order.
func distinctShapes(in []capturedResponse) []capturedResponse {
	seen := map[string]bool{}
	var out []capturedResponse
	for _, c := range in {
		k := shapeKey(c)
		if !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return shapeKey(out[i]) < shapeKey(out[j]) })
	return out
}

func shapeKeys(in []capturedResponse) []string {
	var out []string
	for _, c := range in {
		out = append(out, shapeKey(c))
	}
	sort.Strings(out)
	return out
}

// shapeKey names a response by operation, status and the shape of its body: its keys and the
// kinds of its values, with the distinct shapes of an array's elements.
func shapeKey(c capturedResponse) string {
	var v any
	_ = json.Unmarshal(c.Value, &v)
	b, _ := json.Marshal(shape(v))
	return fmt.Sprintf("%s %d %s", c.Operation, c.Status, b)
}

func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, x := range v {
			m[k] = shape(x)
		}
		return m
	case []any:
		var kinds []string
		seen := map[string]bool{}
		for _, x := range v {
			b, _ := json.Marshal(shape(x))
			if !seen[string(b)] {
				seen[string(b)] = true
				kinds = append(kinds, string(b))
			}
		}
		sort.Strings(kinds)
		return "array of " + strings.Join(kinds, " | ")
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
