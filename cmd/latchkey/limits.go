package main

import (
	"flag"
	"strconv"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/web"
)

// limitFlags are the abuse-resistance flags of `latchkey serve`.
type limitFlags struct {
	perIP, perIdentifier, failedAuth, unknownProjects, trustedProxies, maxPending string
}

func (f *limitFlags) register(fs *flag.FlagSet, e env) {
	def := web.DefaultLimits()
	fs.StringVar(&f.perIP, "rate-limit-ip", envOr(e.getenv, "LATCHKEY_RATE_LIMIT_IP", def.FrontendPerIP.String()),
		"frontend API requests per client IP (IPv6: per /64), N/DURATION or off (env LATCHKEY_RATE_LIMIT_IP)")
	fs.StringVar(&f.perIdentifier, "rate-limit-identifier", envOr(e.getenv, "LATCHKEY_RATE_LIMIT_IDENTIFIER", def.LoginPerIdentifier.String()),
		"login/start requests per project and identifier, N/DURATION or off (env LATCHKEY_RATE_LIMIT_IDENTIFIER)")
	fs.StringVar(&f.failedAuth, "rate-limit-auth-failures", envOr(e.getenv, "LATCHKEY_RATE_LIMIT_AUTH_FAILURES", def.FailedAuthPerIP.String()),
		"failed Basic authentications per project and client IP, N/DURATION or off (env LATCHKEY_RATE_LIMIT_AUTH_FAILURES)")
	fs.StringVar(&f.unknownProjects, "rate-limit-unknown-projects", envOr(e.getenv, "LATCHKEY_RATE_LIMIT_UNKNOWN_PROJECTS", def.UnknownProjectsPerIP.String()),
		"lookups of project IDs this server does not know, per client IP (JWKS, Basic auth, frontend API), N/DURATION or off (env LATCHKEY_RATE_LIMIT_UNKNOWN_PROJECTS)")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", e.getenv("LATCHKEY_TRUSTED_PROXIES"),
		"comma-separated CIDRs of proxies whose X-Forwarded-For is believed; none: the peer address is the client (env LATCHKEY_TRUSTED_PROXIES)")
	fs.StringVar(&f.maxPending, "max-pending-ceremonies", envOr(e.getenv, "LATCHKEY_MAX_PENDING_CEREMONIES", strconv.Itoa(broker.DefaultMaxPendingCeremonies)),
		"most unfinished, unexpired ceremonies per project, counted in the database; 0: no cap (env LATCHKEY_MAX_PENDING_CEREMONIES)")
}

// parse returns the web options and the cap on pending ceremonies the flags ask for.
func (f *limitFlags) parse(name string) ([]web.Option, int, error) {
	var (
		l   web.Limits
		err error
	)
	for _, r := range []struct {
		flag, value string
		dst         *web.Rate
	}{{"rate-limit-ip", f.perIP, &l.FrontendPerIP}, {"rate-limit-identifier", f.perIdentifier, &l.LoginPerIdentifier},
		{"rate-limit-auth-failures", f.failedAuth, &l.FailedAuthPerIP},
		{"rate-limit-unknown-projects", f.unknownProjects, &l.UnknownProjectsPerIP}} {
		if *r.dst, err = web.ParseRate(r.value); err != nil {
			return nil, 0, usagef("%s: --%s: %v", name, r.flag, err)
		}
	}
	if l.TrustedProxies, err = web.ParseTrustedProxies(f.trustedProxies); err != nil {
		return nil, 0, usagef("%s: --trusted-proxies: %v", name, err)
	}
	maxPending, err := strconv.Atoi(f.maxPending)
	if err != nil || maxPending < 0 {
		return nil, 0, usagef("%s: --max-pending-ceremonies %q: want a number, 0 for no cap", name, f.maxPending)
	}
	return []web.Option{web.WithLimits(l)}, maxPending, nil
}
