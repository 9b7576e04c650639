package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/broker"
)

// cmdProjectRollout shows or changes a project's rollout: only the flags given change.
func cmdProjectRollout(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey project rollout", "Shows or changes which passkey components are on, for whom (gradual rollout and kill switch); flags not given keep their value. In effect on every replica within 5 seconds; each change is a project.rollout_changed audit event.", e)
	var sf storeFlags
	sf.register(fs, e, false)
	projectID := fs.String("project", "", "project ID (required)")
	fs.String("login", "", "passkey login: off (refused by the broker too), on, or a share of identifiers such as 25%")
	fs.String("append", "", "adding passkeys: off, on, or a share such as 25%")
	fs.String("manage", "", "the passkey list: off, on, or a share such as 25% (shown or hidden; not enforced)")
	fs.String("allow", "", `identifiers for which every component not off is on, comma-separated; "" for none`)
	fs.String("deny", "", `identifiers for which every component is off (wins over --allow), comma-separated; "" for none`)
	fs.String("require", "", `what the browser must report for the components to show, comma-separated: platformAuthenticator, conditionalMediation, os:<android|chromeos|ios|linux|macos|windows|other>; "" for nothing`)
	fs.Duration("decline-period", 0, `how long "Not now" to the passkey offer holds, 1h to 8760h (default 720h)`)
	asJSON := fs.Bool("json", false, "print the rollout as JSON")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if *projectID == "" {
		return usagef("%s: --project is required", fs.Name())
	}
	var change broker.RolloutChange
	changed := false
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		if ferr != nil {
			return
		}
		v := f.Value.String()
		switch f.Name {
		case "login", "append", "manage":
			s, err := broker.ParseShare(v)
			if err != nil {
				ferr = fmt.Errorf("--%s: %v", f.Name, err)
				return
			}
			*map[string]**broker.Share{"login": &change.Login, "append": &change.Append, "manage": &change.Manage}[f.Name] = &s
		case "allow", "deny", "require":
			l := commaList(v)
			*map[string]**[]string{"allow": &change.Allow, "deny": &change.Deny, "require": &change.Require}[f.Name] = &l
		case "decline-period":
			d := int64(f.Value.(flag.Getter).Get().(time.Duration) / time.Second)
			change.DeclinePeriodInSeconds = &d
		default:
			return
		}
		changed = true
	})
	if ferr != nil {
		return usagef("%s: %v", fs.Name(), ferr)
	}
	store, b, err := sf.open(ctx, fs.Name(), false)
	if err != nil {
		return err
	}
	defer store.Close()
	var r broker.Rollout
	if changed {
		r, err = b.UpdateRollout(ctx, *projectID, change)
	} else {
		r, err = b.Rollout(ctx, *projectID)
	}
	var verr *broker.ValidationError
	if errors.As(err, &verr) {
		return usagef("%s: --%s %s", fs.Name(), rolloutFlagNames[verr.Field], verr.Message)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(r)
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", *projectID, r)
	if len(r.Allow) > 0 {
		fmt.Fprintf(e.stdout, "allow: %s\n", strings.Join(r.Allow, ","))
	}
	if len(r.Deny) > 0 {
		fmt.Fprintf(e.stdout, "deny: %s\n", strings.Join(r.Deny, ","))
	}
	return nil
}

// rolloutFlagNames names the flag of each rollout field, for validation errors.
var rolloutFlagNames = map[string]string{
	"login": "login", "append": "append", "manage": "manage", "allow": "allow", "deny": "deny", "require": "require",
	"declinePeriodInSeconds": "decline-period (seconds)",
}

// commaList splits a comma-separated flag value, dropping empty entries.
func commaList(v string) []string {
	out := []string{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
