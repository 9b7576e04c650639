package exampleapp

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/broker/brokertest"
)

// axeFinding is one serious or critical violation that axe-core reports.
type axeFinding struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
	Summary string   `json:"summary"`
}

// axeCheck runs axe-core on the page (Latchkey's elements' open shadow roots included) in
// light and dark, and reports every serious or critical violation as a test error.
func (b *browser) axeCheck(t *testing.T, page, axe string) {
	t.Helper()
	// The page's Content-Security-Policy does not apply to DevTools' evaluation, which injects axe.
	if !eval[bool](b, `typeof axe !== 'undefined'`) {
		eval[bool](b, axe+"\n;true")
	}
	for _, scheme := range []string{"light", "dark"} {
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}, {Name: "prefers-reduced-motion", Value: "reduce"}}}); err != nil {
			t.Fatal(err)
		}
		// No transition under way (reduced motion turns them off), and the mouse hovers nothing.
		if _, err := chromedp.Run(b.ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 0, 0)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getAnimations().every((a) => !(a instanceof CSSTransition) || a.playState !== 'running')`))
		cancel()
		if err != nil {
			t.Fatalf("waiting for transitions to end: %v", err)
		}
		found := eval[[]axeFinding](b, `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
			.filter((v) => v.impact === 'serious' || v.impact === 'critical')
			.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
				targets: v.nodes.map((n) => JSON.stringify(n.target)),
				summary: v.nodes.map((n) => n.failureSummary).join(' | ') })))`)
		for _, f := range found {
			t.Errorf("%s (%s): axe %s %s: %s at %s: %s", page, scheme, f.Impact, f.ID, f.Help, strings.Join(f.Targets, ", "), f.Summary)
		}
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserAccessibility runs axe-core on every page of the example app, signed out and
// signed in, before and after a passkey exists, in light and dark, and checks the contrast
// the checks of axe leave out: in-text links are underlined and the focus ring stands out.
func TestBrowserAccessibility(t *testing.T) {
	axe := brokertest.AxeSource(t)
	b := newBrowser(t, "sqlite", residentKeys)
	restore := b.withoutAutofill()
	defer restore()
	visit := func(path string) {
		t.Helper()
		b.do("opening "+path, chromedp.Navigate(b.appURL+path), chromedp.WaitReady(chromedp.CSS("main")))
		b.do("waiting for Latchkey's elements", chromedp.Poll[chromedp.Void](`[...document.querySelectorAll('latchkey-login, latchkey-append, latchkey-passkeys')].every((el) => el.shadowRoot && el.shadowRoot.querySelector('.card'))`))
	}

	visit("/signin")
	b.axeCheck(t, "signin", axe)
	// In-text links are underlined: colour alone does not tell them from text.
	if got := eval[[]string](b, `[...document.querySelectorAll('main p a, main .switch a')].filter((a) => !getComputedStyle(a).textDecorationLine.includes('underline')).map((a) => a.textContent.trim())`); len(got) > 0 {
		t.Errorf("in-text links without underline: %q", got)
	}
	// The focus ring: a solid outline with 3:1 against the card, in light and dark (the
	// headless tab counts as focused, so that :focus-visible applies).
	if _, err := chromedp.Call(b.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, scheme := range []string{"light", "dark"} {
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}, {Name: "prefers-reduced-motion", Value: "reduce"}}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		got := eval[[]string](b, `(() => {
			const el = [...document.querySelectorAll('main .card button, main .card .button')].find((b) => b.checkVisibility());
			el.focus({ focusVisible: true });
			const cs = getComputedStyle(el);
			return [cs.outlineStyle, cs.outlineColor, getComputedStyle(el.closest('.card')).backgroundColor];
		})()`)
		if got[0] != "solid" {
			t.Errorf("%s: a focused button's outline is %q", scheme, got[0])
		} else if r := contrast(t, got[1], got[2]); r < 3 {
			t.Errorf("%s: the focus ring %s on %s has contrast %.2f:1, want 3:1", scheme, got[1], got[2], r)
		}
	}
	visit("/signup")
	b.axeCheck(t, "signup", axe)

	b.do("signing up", chromedp.SendKeys(chromedp.CSS("#name"), "Ada Lovelace"), chromedp.SendKeys(chromedp.CSS("#email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery staple"), chromedp.Click(chromedp.CSS("#create")))
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		path, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.readyState === 'complete' ? location.pathname : ''`))
		if err == nil && path != "" && path != "/signup" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still on the sign-up page (%q, %v)", path, err)
		}
	}
	visit("/welcome")
	b.axeCheck(t, "welcome", axe)
	visit("/profile")
	b.axeCheck(t, "profile without passkeys", axe)

	// A passkey, from the profile's own offer when it shows one, else through the SDK.
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if eval[bool](b, `!!document.querySelector('latchkey-append')?.shadowRoot.querySelector('button.primary')?.checkVisibility()`) {
		b.do("creating a passkey", chromedp.Click(appendButton), chromedp.WaitVisible(inShadow("latchkey-append", ".done")))
	} else {
		eval[bool](b, `document.querySelector('latchkey-append').create().then(() => true)`)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector('latchkey-passkeys').shadowRoot.querySelector('li.item')`)); err != nil {
		t.Fatalf("waiting for the passkey in the list: %v", err)
	}
	b.axeCheck(t, "profile with a passkey", axe)
	visit("/profile")
	b.axeCheck(t, "profile, reloaded", axe)

	// Signed in with the passkey: the profile's badge says so.
	b.do("signing out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#email")))
	b.do("signing in with the passkey", chromedp.SendKeys(chromedp.CSS("#email"), "ada@example.com"), chromedp.Click(passkeyButton))
	b.waitPath("/profile")
	visit("/profile")
	if got := eval[string](b, `document.querySelector('.badge.passkey')?.textContent.trim() ?? ''`); got == "" {
		t.Error("the profile after a passkey sign-in shows no passkey badge")
	}
	b.axeCheck(t, "profile after a passkey sign-in", axe)
}

// waitPath waits until the tab has loaded a page at path.
func (b *browser) waitPath(path string) {
	b.t.Helper()
	var got string
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got, err = chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.readyState === 'complete' ? location.pathname : ''`))
		if err == nil && got == path {
			return
		}
	}
	b.t.Fatalf("the tab is at %q (%v), want %s", got, err, path)
}

// contrast returns the WCAG contrast ratio of two CSS colours written rgb(r, g, b).
func contrast(t *testing.T, a, b string) float64 {
	t.Helper()
	lum := func(c string) float64 {
		var r, g, bl float64
		if _, err := fmt.Sscanf(c, "rgb(%g, %g, %g)", &r, &g, &bl); err != nil {
			t.Fatalf("colour %q: %v", c, err)
		}
		ch := func(v float64) float64 {
			v /= 255
			if v <= 0.04045 {
				return v / 12.92
			}
			return math.Pow((v+0.055)/1.055, 2.4)
		}
		return 0.2126*ch(r) + 0.7152*ch(g) + 0.0722*ch(bl)
	}
	la, lb := lum(a), lum(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}
