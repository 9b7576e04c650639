package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/broker"
)

// cmdProjectUpdate changes a project's origins, RP name and security policy: only the flags
// given change.
func cmdProjectUpdate(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey project update", "Changes a project's origins, RP name and security policy; flags not given keep their value. `project list` shows them.", e)
	var sf storeFlags
	sf.register(fs, e, false)
	projectID := fs.String("project", "", "project ID (required)")
	var addOrigins, removeOrigins multiFlag
	fs.Var(&addOrigins, "add-origin", "allow this origin, repeatable: https://app.example.com, http://localhost:3001 or android:apk-key-hash:...")
	fs.Var(&removeOrigins, "remove-origin", "no longer allow this origin, repeatable (at least one origin must remain)")
	rpName := fs.String("rp-name", "", "the RP name that authenticators show when creating a passkey")
	fs.String("passkey-enroll-url", "", `where users create a passkey, for /.well-known/passkey-endpoints (https URL; "" unsets it)`)
	fs.String("passkey-manage-url", "", `where users manage their passkeys, for /.well-known/passkey-endpoints (https URL; "" unsets it)`)
	fs.String("user-verification", "", "preferred or required: with required, a response without the UV flag is refused")
	fs.String("resident-key", "", "preferred or required (a discoverable credential)")
	fs.String("algorithms", "", "allowed COSE algorithms, comma-separated, most preferred first: ES256, ES384, ES512, EdDSA, RS256, PS256")
	fs.String("attestation", "", "none, or direct: require attestation by an attestation certificate")
	fs.String("aaguid-allow", "", `authenticator models (AAGUIDs) allowed, comma-separated; "" for any`)
	fs.String("aaguid-deny", "", `authenticator models (AAGUIDs) refused, comma-separated; "" for none`)
	fs.String("usernameless", "", "true or false: allow usernameless and conditional UI (autofill) login")
	fs.Duration("connect-token-max-lifetime", 0, "longest connect token lifetime, 1s to 1h (the default lifetime of 10m is lowered to it)")
	fs.Duration("ceremony-lifetime", 0, "how long a started ceremony can be finished, 30s to 5m")
	asJSON := fs.Bool("json", false, "print the project as JSON")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if *projectID == "" {
		return usagef("%s: --project is required", fs.Name())
	}
	store, b, err := sf.open(ctx, fs.Name(), false)
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := b.Project(ctx, *projectID)
	if err != nil {
		return err
	}
	var verr *broker.ValidationError
	endpoints, endpointsChanged, err := endpointFlags(ctx, b, fs, *projectID)
	if err != nil {
		return err
	}
	if endpointsChanged {
		if cerr := broker.CheckPasskeyEndpoints(endpoints); cerr != nil {
			return usagef("%s: --passkey-%s-url %s", fs.Name(), cerr.Field, cerr.Message)
		}
	}
	if len(addOrigins) > 0 || len(removeOrigins) > 0 || *rpName != "" {
		p, err = b.UpdateProject(ctx, *projectID, broker.ProjectUpdate{AddOrigins: addOrigins, RemoveOrigins: removeOrigins, RPName: *rpName})
		if errors.As(err, &verr) {
			return usagef("%s: --%s %s", fs.Name(), projectFlagNames[verr.Field], verr.Message)
		}
		if err != nil {
			return err
		}
	}
	policy := p.Policy
	var ferr error
	policyChanged := false
	fs.Visit(func(f *flag.Flag) {
		if policyFlags[f.Name] && ferr == nil {
			policyChanged = true
			ferr = applyPolicyFlag(&policy, f)
		}
	})
	if ferr != nil {
		return usagef("%s: %v", fs.Name(), ferr)
	}
	if endpointsChanged {
		if err := b.SetPasskeyEndpoints(ctx, *projectID, endpoints); err != nil {
			return err
		}
	}
	if policyChanged || len(addOrigins)+len(removeOrigins) == 0 && *rpName == "" && !endpointsChanged {
		p, err = b.SetPolicy(ctx, *projectID, policy)
		if errors.As(err, &verr) {
			return usagef("%s: --%s %s", fs.Name(), policyFlagNames[verr.Field], verr.Message)
		}
		if err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(p)
	}
	fmt.Fprintf(e.stdout, "updated %s: %s\n", p.ID, p.Policy)
	if len(addOrigins) > 0 || len(removeOrigins) > 0 || *rpName != "" {
		fmt.Fprintf(e.stdout, "origins: %s\nRP name: %s\n", strings.Join(p.Origins, " "), p.RPName)
	}
	if endpointsChanged {
		fmt.Fprintf(e.stdout, "passkey endpoints: enroll %q, manage %q\n", endpoints.Enroll, endpoints.Manage)
	}
	return nil
}

// endpointFlags returns the project's passkey endpoints changed by the --passkey-*-url flags
// given, and whether any was given.
func endpointFlags(ctx context.Context, b *broker.Broker, fs *flag.FlagSet, projectID string) (broker.PasskeyEndpoints, bool, error) {
	var enroll, manage *string
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "passkey-enroll-url":
			enroll = &v
		case "passkey-manage-url":
			manage = &v
		}
	})
	if enroll == nil && manage == nil {
		return broker.PasskeyEndpoints{}, false, nil
	}
	e, err := b.PasskeyEndpoints(ctx, projectID)
	if err != nil {
		return e, false, err
	}
	if enroll != nil {
		e.Enroll = *enroll
	}
	if manage != nil {
		e.Manage = *manage
	}
	return e, true, nil
}

// projectFlagNames names the flag of each field of broker.ProjectUpdate, for validation errors.
var projectFlagNames = map[string]string{
	"addOrigins": "add-origin", "removeOrigins": "remove-origin", "origins": "remove-origin would leave no origin: a project", "rpName": "rp-name",
}

// policyFlags are the flags that change the security policy.
var policyFlags = map[string]bool{
	"user-verification": true, "resident-key": true, "algorithms": true, "attestation": true, "aaguid-allow": true,
	"aaguid-deny": true, "usernameless": true, "connect-token-max-lifetime": true, "ceremony-lifetime": true,
}

// policyFlagNames names the flag of each policy field, for validation errors.
var policyFlagNames = map[string]string{
	"userVerification": "user-verification", "residentKey": "resident-key", "algorithms": "algorithms",
	"attestation": "attestation", "aaguidAllow": "aaguid-allow", "aaguidDeny": "aaguid-deny",
	"connectTokenMaxLifetimeInSeconds": "connect-token-max-lifetime (seconds)", "ceremonyLifetimeInSeconds": "ceremony-lifetime (seconds)",
}

// applyPolicyFlag sets the policy field of one given flag.
func applyPolicyFlag(p *broker.Policy, f *flag.Flag) error {
	v := f.Value.String()
	list := func() []string {
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		if out == nil {
			out = []string{}
		}
		return out
	}
	switch f.Name {
	case "user-verification":
		p.UserVerification = v
	case "resident-key":
		p.ResidentKey = v
	case "attestation":
		p.Attestation = v
	case "algorithms":
		p.Algorithms = nil
		for _, s := range list() {
			a, err := broker.ParseAlgorithm(s)
			if err != nil {
				return fmt.Errorf("--algorithms: %v", err)
			}
			p.Algorithms = append(p.Algorithms, a)
		}
	case "aaguid-allow":
		p.AAGUIDAllow = list()
	case "aaguid-deny":
		p.AAGUIDDeny = list()
	case "usernameless":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("--usernameless %q: want true or false", v)
		}
		p.Usernameless = b
	case "connect-token-max-lifetime":
		d := f.Value.(flag.Getter).Get().(time.Duration)
		if d%time.Second != 0 {
			return fmt.Errorf("--connect-token-max-lifetime %v: want whole seconds", d)
		}
		p.ConnectTokenMaxLifetimeInSeconds = int64(d / time.Second)
	case "ceremony-lifetime":
		d := f.Value.(flag.Getter).Get().(time.Duration)
		if d%time.Second != 0 {
			return fmt.Errorf("--ceremony-lifetime %v: want whole seconds", d)
		}
		p.CeremonyLifetimeInSeconds = int64(d / time.Second)
	}
	return nil
}
