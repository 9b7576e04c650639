package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/cmd/latchkey/doctor"
)

const appUsage = `Usage: latchkey project app <add|list|remove> --project ID [flags]

Manages a project's native apps. The broker accepts the origins they present in ceremonies
(android:apk-key-hash:... per fingerprint, https://<RP ID> for iOS) and lists them in the
association files (latchkey project well-known).

  add     --android com.example.shop --sha256 AA:BB:... [--sha256 ...]
          --ios TEAMID.com.example.shop
  list    [--json]
  remove  --app APP-ID
`

// cmdProjectApp adds, lists and removes a project's native apps.
func cmdProjectApp(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("latchkey project app: want add, list or remove (see --help)")
	}
	if isHelp(args[0]) {
		fmt.Fprint(e.stdout, appUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	if sub != "add" && sub != "list" && sub != "remove" {
		return usagef("latchkey project app: unknown subcommand %q (see --help)", sub)
	}
	fs := newFlags("latchkey project app "+sub, map[string]string{
		"add":    "Adds an Android app (package name and SHA-256 signing-certificate fingerprints) or an iOS app (TEAMID.bundle.id).",
		"list":   "Lists a project's native apps and the origins they present.",
		"remove": "Removes a native app: its origins are refused from then on.",
	}[sub], e)
	var sf storeFlags
	sf.register(fs, e, false)
	projectID := fs.String("project", "", "project ID (required)")
	var android, ios, appID *string
	var sha256s multiFlag
	var asJSON *bool
	switch sub {
	case "add":
		android = fs.String("android", "", "Android package name, such as com.example.shop")
		fs.Var(&sha256s, "sha256", "SHA-256 fingerprint of a signing certificate in colon-hex (AA:BB:...), repeatable: debug, upload and Play app signing keys")
		ios = fs.String("ios", "", "iOS app ID: TEAMID.bundle.id, such as ABCDE12345.com.example.shop")
		asJSON = fs.Bool("json", false, "print the app as JSON")
	case "list":
		asJSON = fs.Bool("json", false, "print JSON")
	case "remove":
		appID = fs.String("app", "", "app ID (app-...), from list (required)")
	}
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if *projectID == "" {
		return usagef("%s: --project is required", fs.Name())
	}
	if sub == "remove" && *appID == "" {
		return usagef("%s: --app is required", fs.Name())
	}
	store, b, err := sf.open(ctx, fs.Name(), false)
	if err != nil {
		return err
	}
	defer store.Close()
	switch sub {
	case "add":
		a, err := b.AddApp(ctx, *projectID, broker.NewApp{Android: *android, SHA256: sha256s, IOS: *ios})
		var verr *broker.ValidationError
		if errors.As(err, &verr) {
			flag := map[string]string{"android": "android", "ios": "ios", "sha256CertFingerprints": "sha256"}[verr.Field]
			return usagef("%s: --%s %s", fs.Name(), flag, verr.Message)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(a)
		}
		fmt.Fprintf(e.stdout, "added %s (%s %s)\naccepted origins: %s\n", a.ID, a.Platform, a.Identifier, strings.Join(a.Origins, " "))
		return nil
	case "list":
		apps, err := b.Apps(ctx, *projectID)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(apps)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPLATFORM\tAPP\tSHA-256 FINGERPRINTS\tORIGINS")
		for _, a := range apps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.Platform, a.Identifier, strings.Join(a.Fingerprints, " "), strings.Join(a.Origins, " "))
		}
		return tw.Flush()
	default:
		if err := b.RemoveApp(ctx, *projectID, *appID); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed %s\n", *appID)
		return nil
	}
}

// cmdProjectWellKnown writes the project's association files into a folder, for sites that
// host static files.
func cmdProjectWellKnown(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey project well-known", "Writes the project's association files (assetlinks.json, apple-app-site-association, webauthn, passkey-endpoints) into --out, to be served at the site's /.well-known/ as application/json.", e)
	var sf storeFlags
	sf.register(fs, e, false)
	projectID := fs.String("project", "", "project ID (required)")
	out := fs.String("out", "", "folder to write the files into, created if missing (required)")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if *projectID == "" || *out == "" {
		return usagef("%s: --project and --out are required", fs.Name())
	}
	store, b, err := sf.open(ctx, fs.Name(), false)
	if err != nil {
		return err
	}
	defer store.Close()
	w, err := b.WellKnown(ctx, *projectID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, name := range broker.WellKnownFiles {
		body, ok := w.File(name)
		path := filepath.Join(*out, name)
		if !ok {
			fmt.Fprintf(e.stdout, "skipped %s (nothing to say: %s)\n", name, wellKnownNeeds[name])
			continue
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", path)
	}
	fmt.Fprintln(e.stdout, "Serve them at https://<RP ID>/.well-known/<name> with Content-Type: application/json, without redirects.")
	return nil
}

// wellKnownNeeds says what makes the broker generate each association file.
var wellKnownNeeds = map[string]string{
	broker.AssetLinksFile:       "add an Android app",
	broker.AppleAssociationFile: "add an iOS app",
	broker.RelatedOriginsFile:   "the project has no web origin",
	broker.PasskeyEndpointsFile: "set --passkey-enroll-url or --passkey-manage-url",
}

// errProblems makes doctor exit non-zero when it found problems.
var errProblems = errors.New("problems found")

// cmdDoctor checks a project's settings and, with --site, the association files its site
// serves, printing each problem with its fix.
func cmdDoctor(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey doctor", "Checks a project's RP ID, origins and native apps, and with --site the association files the site serves at /.well-known/; prints each problem with its fix and exits 1 if there are any.", e)
	var sf storeFlags
	sf.register(fs, e, false)
	projectID := fs.String("project", "", "project ID (required)")
	site := fs.String("site", "", "the site at the RP ID, such as https://shop.example: fetch and check its /.well-known/ files")
	brokerURL := fs.String("broker-url", e.getenv("LATCHKEY_PUBLIC_URL"), "the broker's public URL, for the proxy rules in fixes (env LATCHKEY_PUBLIC_URL)")
	allowHTTP := fs.Bool("allow-http-loopback", false, "allow an http:// --site on localhost or a loopback address (for testing; real sites need https)")
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
	apps, err := b.Apps(ctx, *projectID)
	if err != nil {
		return err
	}
	w, err := b.WellKnown(ctx, *projectID)
	if err != nil {
		return err
	}
	dp := doctor.Project{Project: p, Apps: apps, WellKnown: w, BrokerURL: *brokerURL}
	problems := doctor.CheckProject(dp)
	if *site != "" {
		more, err := doctor.CheckSite(ctx, dp, *site, doctor.Options{AllowHTTP: *allowHTTP})
		if err != nil {
			return usagef("%s: %v", fs.Name(), err)
		}
		problems = append(problems, more...)
	}
	for _, pr := range problems {
		fmt.Fprintf(e.stdout, "PROBLEM: %s\n    fix: %s\n", pr.What, pr.Fix)
	}
	if len(problems) > 0 {
		fmt.Fprintf(e.stdout, "%d problem(s) found.\n", len(problems))
		return errProblems
	}
	if *site == "" {
		fmt.Fprintln(e.stdout, "No problems found in the RP ID, origins and apps. Add --site https://"+p.RPID+" to check the association files the site serves.")
		return nil
	}
	fmt.Fprintf(e.stdout, "No problems found (RP ID, origins and apps, and the association files at %s).\n", *site)
	return nil
}
