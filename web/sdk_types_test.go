package web_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/broker/brokertest"
)

// TestSDKTypes type-checks web/testdata/components/types-check.ts, which uses the SDK's and
// the components' declarations (typed add/removeEventListener, LatchkeyError's options,
// messages), with TypeScript in strict mode.
func TestSDKTypes(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		brokertest.Require(t, "node is not installed: the .d.ts check needs Node.js 18+")
	}
	dir := brokertest.ComponentsTools(t)
	cmd := exec.Command(node, filepath.Join("node_modules", "typescript", "bin", "tsc"), "-p", ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc -p %s: %v\n%s", dir, err, out)
	}
}
