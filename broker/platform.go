package broker

import "strings"

// The platform families Platform returns. Anything it does not recognise is "other", so
// the set of values is fixed whatever clients send.
const (
	OSWindows  = "Windows"
	OSMacOS    = "macOS"
	OSIOS      = "iOS"
	OSAndroid  = "Android"
	OSChromeOS = "ChromeOS"
	OSLinux    = "Linux"

	BrowserChrome  = "Chrome"
	BrowserEdge    = "Edge"
	BrowserSafari  = "Safari"
	BrowserFirefox = "Firefox"
	BrowserSamsung = "Samsung Internet"
	BrowserOpera   = "Opera"

	PlatformOther = "other"
)

// Platform returns the operating system and browser families of a User-Agent header, from
// the tokens the major browsers send; "other" for what it does not recognise. iPadOS
// asks for desktop sites with a macOS user agent, so an iPad mostly counts as macOS.
// Clients choose their User-Agent: this is a statistic, not proof of anything.
func Platform(ua string) (os, browser string) {
	has := func(tokens ...string) bool {
		for _, t := range tokens {
			if strings.Contains(ua, t) {
				return true
			}
		}
		return false
	}
	switch {
	case has("Windows NT", "Windows Phone"):
		os = OSWindows
	case has("iPhone", "iPad", "iPod"):
		os = OSIOS
	case has("Android"):
		os = OSAndroid
	case has("CrOS"):
		os = OSChromeOS
	case has("Macintosh", "Mac OS X"):
		os = OSMacOS
	case has("Linux", "X11"):
		os = OSLinux
	default:
		os = PlatformOther
	}
	switch {
	case has("Edg/", "EdgA/", "EdgiOS/", "Edge/"):
		browser = BrowserEdge
	case has("OPR/", "OPiOS/", "Opera"):
		browser = BrowserOpera
	case has("SamsungBrowser/"):
		browser = BrowserSamsung
	case has("Firefox/", "FxiOS/"):
		browser = BrowserFirefox
	case has("Chrome/", "CriOS/", "Chromium/"):
		browser = BrowserChrome
	case has("Safari/") && has("Version/"), has("AppleWebKit/") && os == OSIOS && has("Mobile/"):
		browser = BrowserSafari
	default:
		browser = PlatformOther
	}
	return os, browser
}
