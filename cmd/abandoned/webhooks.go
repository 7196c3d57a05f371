package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/cluster"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

func init() {
	register(&command{
		name:    "webhooks",
		summary: "check a receiver of outgoing webhooks: webhooks test sends it a signed sample event",
		run:     runWebhooks,
	})
}

// webhookStateDir is where serve keeps the webhooks' delivery state in
// -data-dir.
const webhookStateDir = "webhooks"

// webhookConfig is what serve's webhook flags say.
type webhookConfig struct {
	urls         listFlag
	secrets      secretListFlag
	events       string
	allowPrivate bool
}

func (c *webhookConfig) flags(fs *flag.FlagSet) {
	fs.Var(&c.urls, "webhook", "POST every abandonment, recovery, completion of an abandoned basket and erasure to this endpoint `URL`, signed, at least once and in order (repeatable)")
	fs.Var(&c.secrets, "webhook-secret", "`secret` signing the webhooks (Abandoned-Signature), the same text the receiver verifies with: 32 random bytes or more in hex or base64, e.g. from openssl rand -hex 32 (repeatable while rotating: each signs); required with -webhook")
	fs.StringVar(&c.events, "webhook-events", "", "comma-separated event `types` the endpoints get: basket.abandoned, basket.recovered, basket.completed, basket.erased (default all)")
	fs.BoolVar(&c.allowPrivate, "webhook-allow-private", false, "let -webhook endpoints be on loopback or private networks (refused by default, names checked as they are dialled)")
}

func (c *webhookConfig) enabled() bool { return len(c.urls) > 0 }

// check validates the webhook flags, naming the flag at fault and never a
// secret or a URL's query.
func (c *webhookConfig) check(environments bool) error {
	if !c.enabled() {
		switch {
		case len(c.secrets.listFlag) > 0:
			return errors.New("-webhook-secret: given without -webhook")
		case c.events != "":
			return errors.New("-webhook-events: given without -webhook")
		case c.allowPrivate && !environments:
			return errors.New("-webhook-allow-private: given without -webhook")
		}
		return nil
	}
	if environments {
		return errors.New("-webhook: not with -environments: the flags configure the webhooks of one environment")
	}
	if len(c.secrets.listFlag) == 0 {
		return fmt.Errorf("-webhook needs -webhook-secret: generate one with openssl rand -hex %d and give it to the receiver too", minSecretBytes)
	}
	for i, s := range c.secrets.listFlag {
		if err := checkRandom(s, minSecretBytes); err != nil {
			return fmt.Errorf("-webhook-secret %d: %v: generate one with openssl rand -hex %d", i+1, err, minSecretBytes)
		}
	}
	seen := map[string]bool{}
	for i, u := range c.urls {
		if _, err := webhook.ParseURL(u, c.allowPrivate); err != nil {
			return fmt.Errorf("-webhook %d: %v", i+1, err)
		}
		if seen[u] {
			return fmt.Errorf("-webhook %d: %s given twice", i+1, webhook.Redact(u))
		}
		seen[u] = true
	}
	if _, err := webhook.ParseEvents(c.events); err != nil {
		return fmt.Errorf("-webhook-events: %v", err)
	}
	return nil
}

// endpoints returns the endpoints the flags configure. The HMAC key of
// each secret is its text, as given: what the receiver is given too.
func (c *webhookConfig) endpoints() []webhook.Endpoint {
	events, _ := webhook.ParseEvents(c.events) // checked
	var secrets [][]byte
	for _, s := range c.secrets.listFlag {
		secrets = append(secrets, []byte(s))
	}
	var eps []webhook.Endpoint
	for _, u := range c.urls {
		eps = append(eps, webhook.Endpoint{URL: u, Secrets: secrets, Events: events})
	}
	return eps
}

// engineOptions sets what the engine needs to deliver webhooks: its change
// journal, kept basket.DefaultChangeRetention (96 h), what a receiver may
// be away and miss nothing.
func (c *webhookConfig) engineOptions(o *basket.Options) {
	if c.enabled() {
		o.ChangeRetention = basket.DefaultChangeRetention
	}
}

// serveWebhooks is serve's deliverer, if -webhook is given; its methods
// work on nil, as without webhooks.
type serveWebhooks struct {
	d *webhook.Deliverer
}

// start starts delivering eng's changes to the -webhook endpoints: the
// delivery state in -data-dir (under webhooks/), or in the cluster's
// key-value store with its lease for a node of a cluster (o.Log), or in
// memory. Without -webhook it returns nil.
func (c *webhookConfig) start(ctx context.Context, eng *basket.Engine, o *basket.Options, dataDir string, logger *slog.Logger) (*serveWebhooks, error) {
	if !c.enabled() {
		return nil, nil
	}
	return startWebhooks(ctx, c.endpoints(), c.allowPrivate, eng, o, dataDir, logger)
}

// startWebhooks starts delivering eng's changes to endpoints, keeping the
// delivery state as webhookConfig.start says.
func startWebhooks(ctx context.Context, endpoints []webhook.Endpoint, allowPrivate bool, eng *basket.Engine, o *basket.Options, dataDir string, logger *slog.Logger) (*serveWebhooks, error) {
	wo := &webhook.Options{Endpoints: endpoints, Alias: o.Alias, AllowPrivate: allowPrivate, Logger: logger}
	switch l, ok := o.Log.(*cluster.Log); {
	case ok:
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		store, lease, err := l.Webhooks(sctx, o.Alias, nil)
		cancel()
		if err != nil {
			return nil, err
		}
		wo.Store, wo.Lease = store, lease
	case dataDir != "":
		store, err := webhook.NewDirStore(filepath.Join(dataDir, webhookStateDir))
		if err != nil {
			return nil, err
		}
		wo.Store = store
	default:
		logger.Warn("webhooks: without -data-dir what was delivered is kept in memory: a restart forgets it (and the baskets)")
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	d, err := webhook.Start(sctx, eng, wo)
	if err != nil {
		return nil, err
	}
	for _, ep := range wo.Endpoints {
		logger.Info("webhooks: endpoint", "id", ep.ID(), "url", webhook.Redact(ep.URL), "events", eventsText(ep.Events))
	}
	return &serveWebhooks{d: d}, nil
}

// eventsText names the change types an endpoint gets.
func eventsText(events []basket.ChangeType) string {
	if len(events) == 0 {
		return "all"
	}
	var names []string
	for _, e := range events {
		names = append(names, string(e))
	}
	return strings.Join(names, ",")
}

// routes returns the webhooks' endpoints of the HTTP API.
func (w *serveWebhooks) routes() []httpapi.Route {
	if w == nil {
		return nil
	}
	return w.d.Routes()
}

// collectors returns the webhooks' metrics.
func (w *serveWebhooks) collectors() []prometheus.Collector {
	if w == nil {
		return nil
	}
	return w.d.Collectors()
}

// Close stops delivering.
func (w *serveWebhooks) Close() error {
	if w == nil {
		return nil
	}
	return w.d.Close()
}

const webhooksUsage = `Usage: abandoned webhooks test -url ENDPOINT -secret SECRET [flags]

Sends one signed basket.abandoned event of a made-up basket to a receiver
of outgoing webhooks, as abandoned serve -webhook would, and prints the
status, latency and body that came back. It exits 1 unless the receiver
answers 2xx, so that a deploy can check its receiver before it goes live.

The request carries Content-Type: application/json, Abandoned-Event-Id (a
random evt_sample_… id) and Abandoned-Signature: t=<unix seconds>,v1=<hex
HMAC-SHA256 of "<t>.<body>">, a v1 for each -secret. The secret is the
text given to serve's -webhook-secret; it is also read from
ABANDONED_WEBHOOK_SECRET (a comma-separated list), the variable serve reads.

Examples:

  export ABANDONED_WEBHOOK_SECRET=$(openssl rand -hex 32)
  abandoned webhooks test -url https://hooks.example.com/abandoned

  # A receiver on this machine, during development:
  abandoned webhooks test -url http://127.0.0.1:9000/hooks -allow-private -format json

Flags:
`

func runWebhooks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "test" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(stderr, webhooksUsage)
			newWebhooksTestFlags(&webhooksTestConfig{}, stderr).PrintDefaults()
			return flag.ErrHelp
		}
		if len(args) == 0 {
			return usagef("webhooks", "want a subcommand: test")
		}
		return usagef("webhooks", "unknown subcommand %q: want test", args[0])
	}
	return runWebhooksTest(ctx, args[1:], stdout, stderr)
}

// webhooksTestConfig is what the flags of webhooks test say.
type webhooksTestConfig struct {
	url          string
	secrets      secretListFlag
	allowPrivate bool
	timeout      time.Duration
	format       string
}

func newWebhooksTestFlags(c *webhooksTestConfig, stderr io.Writer) *flag.FlagSet {
	fs := newFlagSet("webhooks test", webhooksUsage, stderr)
	fs.StringVar(&c.url, "url", "", "the receiver's endpoint `URL` (required)")
	fs.Var(&c.secrets, "secret", "`secret` to sign with, as serve's -webhook-secret (repeatable; default: ABANDONED_WEBHOOK_SECRET)")
	fs.BoolVar(&c.allowPrivate, "allow-private", false, "let the endpoint be on a loopback or private network")
	fs.DurationVar(&c.timeout, "timeout", webhook.DefaultTimeout, "how long the receiver has to answer (`DURATION`)")
	fs.StringVar(&c.format, "format", "text", "output `format`: text or json")
	return fs
}

// webhookTestFailed is a receiver that did not answer 2xx: the outcome is
// printed, and the process exits 1.
type webhookTestFailed struct{ status int }

func (e webhookTestFailed) Error() string {
	return fmt.Sprintf("the receiver answered %d", e.status)
}
func (e webhookTestFailed) ExitCode() int { return 1 }

func runWebhooksTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c webhooksTestConfig
	fs := newWebhooksTestFlags(&c, stderr)
	if err := parseFlags("webhooks test", fs, args, 0); err != nil {
		return err
	}
	if len(c.secrets.listFlag) == 0 {
		if v, ok := lookupEnv("ABANDONED_WEBHOOK_SECRET"); ok {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					c.secrets.Set(s) //nolint:errcheck // a listFlag takes any value
				}
			}
		}
	}
	switch {
	case c.url == "":
		return usagef("webhooks test", "-url: missing; give the receiver's endpoint URL")
	case len(c.secrets.listFlag) == 0:
		return usagef("webhooks test", "-secret: missing; give the endpoint's secret (serve's -webhook-secret) or set ABANDONED_WEBHOOK_SECRET")
	case c.format != "text" && c.format != "json":
		return usagef("webhooks test", "-format %q: want text or json", c.format)
	case c.timeout <= 0:
		return usagef("webhooks test", "-timeout: want a positive duration such as 10s")
	}
	if _, err := webhook.ParseURL(c.url, c.allowPrivate); err != nil {
		return usagef("webhooks test", "-url: %v", err)
	}
	var secrets [][]byte
	for i, s := range c.secrets.listFlag {
		if err := checkRandom(s, minSecretBytes); err != nil {
			return usagef("webhooks test", "-secret %d: %v: generate one with openssl rand -hex %d", i+1, err, minSecretBytes)
		}
		secrets = append(secrets, []byte(s))
	}
	res, err := webhook.SendSample(ctx, webhook.Endpoint{URL: c.url, Secrets: secrets},
		&webhook.SampleOptions{AllowPrivate: c.allowPrivate, Timeout: c.timeout})
	if err != nil {
		return fmt.Errorf("webhooks test: %w", err)
	}
	ok := res.Status >= 200 && res.Status <= 299
	if c.format == "json" {
		out := struct {
			URL       string  `json:"url"`
			EventID   string  `json:"eventId"`
			Status    int     `json:"status"`
			OK        bool    `json:"ok"`
			LatencyMs float64 `json:"latencyMs"`
			Body      string  `json:"body"`
		}{webhook.Redact(c.url), res.EventID, res.Status, ok, float64(res.Latency.Microseconds()) / 1000, string(res.Answer)}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%s answered %d in %v to event %s\n", webhook.Redact(c.url), res.Status, res.Latency.Round(time.Microsecond*100), res.EventID)
		if len(res.Answer) > 0 {
			fmt.Fprintf(stdout, "%s\n", res.Answer)
		}
	}
	if !ok {
		fmt.Fprintf(stderr, "abandoned webhooks test: the receiver answered %d, not 2xx\n", res.Status)
		return webhookTestFailed{res.Status}
	}
	return nil
}
