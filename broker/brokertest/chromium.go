package brokertest

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium starts headless Chromium ($LATCHKEY_CHROMIUM, else /usr/bin/chromium) with a fresh
// profile and the flags this sandbox needs (no sandbox as root, no background networking),
// and returns its allocator context, stopped when the test ends. Without Chromium it skips
// the test (fails under LATCHKEY_TEST_REQUIRE=1).
func Chromium(t testing.TB, ctx context.Context, width, height int) context.Context {
	t.Helper()
	exe := os.Getenv("LATCHKEY_CHROMIUM")
	if exe == "" {
		exe = "/usr/bin/chromium"
	}
	if _, err := os.Stat(exe); err != nil {
		Require(t, "chromium not found at "+exe+": install Debian's chromium or set LATCHKEY_CHROMIUM")
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("password-store", "basic"), chromedp.Flag("use-mock-keychain", true),
	)
	allocCtx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	return allocCtx
}
