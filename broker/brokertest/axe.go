package brokertest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// ComponentsTools returns the absolute path of web/testdata/components, where `npm ci
// --prefix web/testdata/components` installs axe-core and TypeScript for the components'
// tests; without them the test skips, or fails under LATCHKEY_TEST_REQUIRE=1.
func ComponentsTools(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "web", "testdata", "components")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")); err != nil {
		Require(t, "axe-core and TypeScript are not installed: run npm ci --prefix web/testdata/components")
	}
	return dir
}

// AxeSource returns the source of axe-core (axe.min.js), to evaluate in a browser page.
func AxeSource(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ComponentsTools(t), "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
