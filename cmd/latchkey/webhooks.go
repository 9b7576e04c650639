package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/cmd/latchkey/metrics"
)

const webhookUsage = `Usage: latchkey project webhook <subcommand> [flags]

Manages a project's webhook endpoints. Each receives the project's events of the types it
asks for, signed as the Standard Webhooks specification describes, from every replica of
'latchkey serve'.

Subcommands:
  add          add an endpoint; prints its ID and its secret whsec_... (shown once)
  list         list the endpoints and their state
  remove       remove an endpoint
  deliveries   show an endpoint's latest delivery attempts

Run 'latchkey project webhook <subcommand> --help' for its flags.
`

// cmdProjectWebhook runs `latchkey project webhook ...`.
func cmdProjectWebhook(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("latchkey project webhook: want add, list, remove or deliveries (see --help)")
	}
	if isHelp(args[0]) {
		fmt.Fprint(e.stdout, webhookUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	summaries := map[string]string{
		"add":        "Adds a webhook endpoint to a project and prints its ID and secret (shown once). The URL must be https to a public address unless LATCHKEY_WEBHOOK_ALLOW_PRIVATE=1.",
		"list":       "Lists a project's webhook endpoints.",
		"remove":     "Removes a webhook endpoint.",
		"deliveries": "Shows a webhook endpoint's latest delivery attempts, newest first.",
	}
	if summaries[sub] == "" {
		return usagef("latchkey project webhook: unknown subcommand %q (see --help)", sub)
	}
	var sf storeFlags
	fs := newFlags("latchkey project webhook "+sub, summaries[sub], e)
	sf.register(fs, e, sub == "add")
	projectID := fs.String("project", "", "project ID (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	var url, events, id *string
	limit := new(int)
	switch sub {
	case "add":
		url = fs.String("url", "", "the endpoint's URL, https://... (required)")
		events = fs.String("events", "", "event types, comma-separated (default: "+strings.Join(broker.DefaultWebhookEventTypes, ",")+"); also connect_token.*")
	case "remove", "deliveries":
		id = fs.String("id", "", "webhook ID, whk-... (required)")
		if sub == "deliveries" {
			fs.IntVar(limit, "limit", 20, "how many attempts, 1 to 100")
		}
	}
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if *projectID == "" {
		return usagef("%s: --project is required", fs.Name())
	}
	if id != nil && *id == "" {
		return usagef("%s: --id is required", fs.Name())
	}
	if url != nil && *url == "" {
		return usagef("%s: --url is required", fs.Name())
	}
	store, b, err := sf.open(ctx, fs.Name(), sub == "add")
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := b.Project(ctx, *projectID); err != nil {
		if errors.Is(err, broker.ErrNotFound) {
			return usagef("%s: no project %s", fs.Name(), *projectID)
		}
		return err
	}
	switch sub {
	case "add":
		var types []string
		if *events != "" {
			types = strings.Split(*events, ",")
		}
		w, secret, err := b.AddWebhook(ctx, *projectID, broker.NewWebhook{URL: *url, Events: types})
		var verr *broker.ValidationError
		if errors.As(err, &verr) {
			return usagef("%s: --%s", fs.Name(), verr.Error())
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(struct {
				broker.Webhook
				Secret string `json:"secret"`
			}{w, secret})
		}
		fmt.Fprintf(e.stdout, "Webhook ID: %s\nURL:        %s\nEvents:     %s\nSecret:     %s\n(The secret is shown once; verify deliveries with it.)\n",
			w.ID, w.URL, strings.Join(w.Events, ","), secret)
		return nil
	case "list":
		ws, err := b.Webhooks(ctx, *projectID)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(ws)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tSTATUS\tFAILURES\tNEXT ATTEMPT")
		for _, w := range ws {
			next := "-"
			if w.NextAttemptAt != nil {
				next = w.NextAttemptAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", w.ID, w.URL, strings.Join(w.Events, ","), w.Status, w.Failures, next)
		}
		return tw.Flush()
	case "remove":
		if err := b.RemoveWebhook(ctx, *projectID, *id); err != nil {
			if errors.Is(err, broker.ErrNotFound) {
				return usagef("%s: project %s has no webhook %s", fs.Name(), *projectID, *id)
			}
			return err
		}
		fmt.Fprintf(e.stdout, "removed %s\n", *id)
		return nil
	}
	page, err := b.WebhookAttempts(ctx, *projectID, *id, broker.Page{Limit: *limit})
	var verr *broker.ValidationError
	switch {
	case errors.As(err, &verr):
		return usagef("%s: --%s", fs.Name(), verr.Error())
	case errors.Is(err, broker.ErrNotFound):
		return usagef("%s: project %s has no webhook %s", fs.Name(), *projectID, *id)
	case err != nil:
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(page.Deliveries)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tTYPE\tATTEMPT\tRESULT\tSTATUS\tMS\tNEXT ATTEMPT\tERROR")
	for _, a := range page.Deliveries {
		next := "-"
		if a.NextAttemptAt != nil {
			next = a.NextAttemptAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\n", a.AttemptedAt.Format(time.RFC3339), a.EventID, a.EventType, a.Attempt,
			a.Result, a.StatusCode, a.DurationMS, next, a.Error)
	}
	return tw.Flush()
}

// webhookAllowPrivate reads LATCHKEY_WEBHOOK_ALLOW_PRIVATE: "1" or "true" allows webhook
// URLs with http and private addresses.
func webhookAllowPrivate(getenv func(string) string) bool {
	v := strings.ToLower(getenv("LATCHKEY_WEBHOOK_ALLOW_PRIVATE"))
	return v == "1" || v == "true"
}

// runWebhooks runs b's webhook worker every second until ctx ends, telling m (when set) of
// every attempt.
func runWebhooks(ctx context.Context, b *broker.Broker, log *slog.Logger, timeout time.Duration, m *metrics.Metrics) {
	cfg := broker.WebhookWorkerConfig{Timeout: timeout, Logger: log}
	if m != nil {
		cfg.Observe = m.WebhookAttempted
	}
	w, err := b.NewWebhookWorker(cfg)
	if err != nil {
		log.Error("webhooks: not started", slog.String("error", err.Error()))
		return
	}
	w.Run(ctx, time.Second)
}
