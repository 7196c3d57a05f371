package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/campaign"
	"github.com/basketlab/abandoned/basket/store"
	"golang.org/x/term"
)

func init() {
	register(&command{
		name:    "campaign",
		summary: "send reminder campaigns over the abandonment feed (run), and report on them (report)",
		run:     runCampaign,
	})
}

const campaignUsage = `Usage: abandoned campaign <run|report> [flags]

  run     read the abandonment feed and send reminders, exactly once
  report  print a campaign's report from its state directory

Run "abandoned campaign run -h" or "abandoned campaign report -h" for flags.
`

const campaignRunUsage = `Usage: abandoned campaign run [flags]

Reads the abandonment feed from a durable checkpoint and sends each
abandoned basket's customer the campaign's reminders (default +1h, +24h,
+72h), by the campaign's rules: no message after an order, one per
customer per window, suppression list, consent, quiet hours. A campaign
started for the first time begins at the feed's newest position: it never
mails the backlog unless -since says so (of several steps already due,
only the latest goes; the others are skipped as overtaken). The first
Ctrl-C stops cleanly and prints the report; on a terminal a line of
progress shows on stderr meanwhile.

Every message carries an unsubscribe link,
https://<shop>/api/checkout/unsubscribe?token=... (an opaque token, never
the address), in its body and in the List-Unsubscribe and
List-Unsubscribe-Post headers, so that mail clients offer one-click
unsubscribe. Forward that path from the shop to the server, as for
recovery links: "abandoned serve" answers it and keeps the address on the
engine's suppression list, which every campaign asks at the moment of
sending.

-holdout 10% keeps a share of the customers (the same ones on every run)
from every message, and the report compares the share of baskets
recovered among those mailed with the share among those held out.

Every step not sent has a reason in the report: completed, ordered_since,
deduplicated, suppressed, no_consent, quiet_hours (deferred), expired,
overtaken, holdout.

The baskets come from a data directory (-data-dir, opened with the engine;
the server must not be running on it) or from a server (-url and -token,
through GET /api/checkout/abandoned/feed). The campaign's state lives in
<data-dir>/campaign, or in -state-dir.

Messages go through SMTP (-smtp-addr), a webhook (-webhook-url), a JSONL
outbox file (-outbox), or nowhere with -dry-run, which keeps no state and
prints one line per message with its key, basket and step only (add
-show-content to print whole messages, addresses and links included); its
report, on stderr, counts what would have been sent.

Secrets (-token, -smtp-password, -webhook-token) can also be given as
environment variables ABANDONED_<NAME>, e.g. ABANDONED_SMTP_PASSWORD (the
token: ABANDONED_API_TOKEN, the variable serve reads); they are never
printed.

Examples:

  abandoned campaign run -data-dir /var/lib/abandoned -shop https://shop.example.com \
    -smtp-addr mail.example.com:587 -smtp-user news -smtp-from 'Shop <news@shop.example.com>'

  abandoned campaign run -url http://127.0.0.1:8080 -shop shop.example.com \
    -state-dir /var/lib/campaign -holdout 10% -outbox /var/spool/outbox.jsonl

  abandoned campaign run -data-dir ./data -shop shop.example.com -dry-run -since 72h -once

Flags:
`

const campaignReportUsage = `Usage: abandoned campaign report [flags]

Prints the report of a campaign from its state directory: messages sent,
failed and in doubt by step, clicks and recoveries with their rates, skips
and deferrals by reason, and, with a holdout, the recovered share of the
customers mailed against that of those held out (the difference and its
standard error). The campaign must not be running on the directory (its
report is printed when it stops).

-format html writes one self-contained page, with charts, to share or
open in a browser; json writes times only when set, and durations as in
the configuration file ("120h0m0s").

Examples:

  abandoned campaign report -data-dir /var/lib/abandoned
  abandoned campaign report -state-dir /var/lib/campaign -format json
  abandoned campaign report -data-dir /var/lib/abandoned -format html > report.html

Flags:
`

func runCampaign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, campaignUsage)
		if len(args) == 0 {
			return errUsage
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "run":
		return campaignRun(ctx, args[1:], stdout, stderr)
	case "report":
		return campaignReport(ctx, args[1:], stdout, stderr)
	}
	return usagef("campaign", "unknown subcommand %q: want run or report", args[0])
}

// campaignConfig is what the flags of campaign run say.
type campaignConfig struct {
	dataDir, stateDir string
	url               string
	host              string
	token             secretFlag
	config            string
	name, shop        string
	since             string
	quietHours        string
	consentedOnly     bool
	promo             string
	holdout           string
	suppress          string
	ttl, abandonAfter time.Duration

	dryRun, showContent, once bool
	every                     time.Duration
	checkEvery                time.Duration
	format                    string

	smtpAddr, smtpUser, smtpFrom, smtpTLS string
	smtpPassword                          secretFlag
	webhookURL                            string
	webhookToken                          secretFlag
	outbox                                string
}

func (c *campaignConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", "", "the engine's data `DIR` (the campaign's state goes in its campaign/ folder)")
	fs.StringVar(&c.stateDir, "state-dir", "", "the campaign's state `DIR` (required with -url)")
	fs.StringVar(&c.url, "url", "", "base `URL` of a server whose feed to read, instead of -data-dir; the nodes of a cluster: several, comma-separated (a failing node is left for the next)")
	fs.StringVar(&c.host, "host", "", hostHelp)
	fs.Var(&c.token, "token", "bearer `TOKEN` for -url (scope checkout); default $ABANDONED_API_TOKEN")
	fs.StringVar(&c.config, "config", "", "campaign configuration `FILE` (JSON; its keys: the campaign package's Config, or docs/operator.md)")
	fs.StringVar(&c.name, "name", "", "campaign `NAME` (utm_campaign); overrides the configuration file")
	fs.StringVar(&c.shop, "shop", "", "shop base `URL` or domain for absolute links; overrides the configuration file")
	fs.StringVar(&c.since, "since", "", "first run only: also mail baskets abandoned since `TIME`: a duration ago (72h) or an RFC 3339 time")
	fs.StringVar(&c.quietHours, "quiet-hours", "", "quiet hours in the recipient's time zone, `HH:MM-HH:MM`, e.g. 21:00-08:00")
	fs.BoolVar(&c.consentedOnly, "consented-only", false, "write only to baskets with marketing consent")
	fs.StringVar(&c.promo, "promo", "", "promo `CODE` for the purchase link of later steps")
	fs.StringVar(&c.holdout, "holdout", "", "`SHARE` of the customers sent nothing, to measure the campaign's effect, e.g. 10%; overrides the configuration's holdout")
	fs.StringVar(&c.suppress, "suppress", "", "suppression list `FILE` to add before running (one address per line, optional ,reason)")
	fs.DurationVar(&c.ttl, "ttl", 336*time.Hour, "the baskets' time to live (`DURATION`), as the server's -ttl (0 keeps baskets forever): the campaign remembers a basket it forgot until then")
	fs.DurationVar(&c.abandonAfter, "abandon-after", 0, "with -data-dir: the engine's idle time (`DURATION`) before abandonment, used only if the directory does not record the server's")
	fs.BoolVar(&c.dryRun, "dry-run", false, "send nothing and keep no state: print what would be sent")
	fs.BoolVar(&c.showContent, "show-content", false, "with -dry-run: print whole messages, addresses and links included")
	fs.BoolVar(&c.once, "once", false, "one turn, then the report")
	fs.DurationVar(&c.every, "every", time.Minute, "time between turns (`DURATION`)")
	fs.DurationVar(&c.checkEvery, "check-every", 0, "how often (`DURATION`) the baskets taken in are looked at again for clicks and orders (attribution); default: the configuration's checkEvery, or 1h")
	fs.StringVar(&c.format, "format", "text", "report `FORMAT`: text, json or html")
	fs.StringVar(&c.smtpAddr, "smtp-addr", "", "SMTP server `HOST:PORT`")
	fs.StringVar(&c.smtpUser, "smtp-user", "", "SMTP user `NAME` (AUTH PLAIN, over TLS only)")
	fs.Var(&c.smtpPassword, "smtp-password", "SMTP `PASSWORD`")
	fs.StringVar(&c.smtpFrom, "smtp-from", "", "From `ADDRESS`, e.g. 'Shop <news@shop.example.com>'")
	fs.StringVar(&c.smtpTLS, "smtp-tls", "starttls", "SMTP TLS, `starttls|tls|none`: tls for port 465, none for a local relay only")
	fs.StringVar(&c.webhookURL, "webhook-url", "", "POST each message as JSON to this `URL`")
	fs.Var(&c.webhookToken, "webhook-token", "bearer `TOKEN` for -webhook-url")
	fs.StringVar(&c.outbox, "outbox", "", "append each message as a JSON line to this `FILE`")
}

func campaignRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("campaign run", campaignRunUsage, stderr)
	var cfg campaignConfig
	cfg.flags(fs)
	if err := parseFlags("campaign run", fs, args, 0); err != nil {
		return err
	}
	tokenFromEnv(fs)
	if err := applyEnv(fs); err != nil {
		return usagef("campaign run", "%v", err)
	}
	return cfg.run(ctx, stdout, stderr)
}

// options reads the configuration file and the flags over it.
func (c *campaignConfig) options(now time.Time) (campaign.Options, error) {
	var o campaign.Options
	if c.config != "" {
		data, err := os.ReadFile(c.config)
		if err != nil {
			return o, fmt.Errorf("-config: %w", err)
		}
		if o, err = campaign.ParseConfig(data); err != nil && c.shop == "" {
			return o, fmt.Errorf("-config %s: %w", c.config, err)
		} else if err != nil {
			// The file may lack only the shop the flag gives.
			var e error
			if o, e = campaign.ParseConfig(withShop(data, c.shop)); e != nil {
				return o, fmt.Errorf("-config %s: %w", c.config, e)
			}
		}
	}
	if c.name != "" {
		o.Name = c.name
	}
	if c.shop != "" {
		o.ShopURL = c.shop
	}
	if c.quietHours != "" {
		q, err := campaign.ParseQuietHours(c.quietHours)
		if err != nil {
			return o, fmt.Errorf("-quiet-hours: %w", err)
		}
		o.QuietHours = q
	}
	if c.consentedOnly {
		o.ConsentedOnly = true
	}
	switch {
	case c.checkEvery < 0:
		return o, errors.New("-check-every: must not be negative")
	case c.checkEvery > 0:
		o.CheckEvery = c.checkEvery
	}
	if c.promo != "" {
		o.PromoCode = c.promo
	}
	if c.holdout != "" {
		h, err := campaign.ParseHoldout(c.holdout)
		if err != nil {
			return o, fmt.Errorf("-holdout: %w", err)
		}
		o.Holdout = h
	}
	switch {
	case c.ttl == 0:
		o.BasketTTL = basket.NoExpiry
	case c.ttl < 0:
		return o, errors.New("-ttl: must not be negative")
	default:
		o.BasketTTL = c.ttl
	}
	if c.since != "" {
		if d, err := time.ParseDuration(c.since); err == nil && d > 0 {
			o.Since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339, c.since); err == nil {
			o.Since = t
		} else {
			return o, errors.New("-since: want a duration such as 72h or an RFC 3339 time")
		}
	}
	return o, nil
}

// withShop adds a "shop" member to a JSON object that lacks one.
func withShop(data []byte, shop string) []byte {
	s := strings.TrimSpace(string(data))
	if !strings.HasPrefix(s, "{") {
		return data
	}
	q := fmt.Sprintf("%q", shop)
	if strings.TrimSpace(s[1:]) == "}" {
		return []byte(`{"shop":` + q + `}`)
	}
	return []byte(`{"shop":` + q + `,` + s[1:])
}

func (c *campaignConfig) run(ctx context.Context, stdout, stderr io.Writer) error {
	switch {
	case !reportFormat(c.format):
		return usagef("campaign run", "-format: want text, json or html")
	case c.dataDir == "" && c.url == "":
		return usagef("campaign run", "give -data-dir or -url")
	case c.dataDir != "" && c.url != "":
		return usagef("campaign run", "give -data-dir or -url, not both")
	case c.url != "" && c.token.v == "":
		return missingToken("campaign run", "-url")
	case c.url != "" && c.stateDir == "" && !c.dryRun:
		return usagef("campaign run", "-url needs -state-dir (or -dry-run)")
	case c.every <= 0:
		return usagef("campaign run", "-every: must be positive")
	case c.showContent && !c.dryRun:
		return usagef("campaign run", "-show-content goes with -dry-run")
	}
	opts, err := c.options(time.Now())
	if err != nil {
		return usagef("campaign run", "%v", err)
	}
	var suppressions []campaign.Suppression
	if c.suppress != "" {
		f, err := os.Open(c.suppress)
		if err != nil {
			return fmt.Errorf("campaign run: -suppress: %w", err)
		}
		suppressions, err = campaign.ParseSuppressions(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("campaign run: -suppress %s: %w", c.suppress, err)
		}
	}
	snd, closeSender, err := c.sender(stdout)
	if errors.Is(err, errUsage) {
		return err
	} else if err != nil {
		return fmt.Errorf("campaign run: %w", err)
	}
	defer closeSender()

	var src campaign.Source
	stateDir := c.stateDir
	if c.dataDir != "" {
		// The directory keeps the settings the server wrote it with; they
		// win over this command's -ttl and -abandon-after.
		eng, err := basket.Open(c.dataDir, &basket.Options{TTL: opts.BasketTTL, AbandonAfter: c.abandonAfter, KeepStoredSettings: true})
		if err != nil {
			if errors.Is(err, store.ErrLocked) {
				return fmt.Errorf("campaign run: %s is in use (is the server running on it? use -url): %w", c.dataDir, err)
			}
			return fmt.Errorf("campaign run: %w", err)
		}
		defer eng.Close()
		src = campaign.EngineSource{Engine: eng}
		if stateDir == "" {
			stateDir = filepath.Join(c.dataDir, "campaign")
		}
	} else {
		// The server keeps the suppression list and gives the tokens of
		// the unsubscribe links.
		src = &campaign.HTTPSource{BaseURL: c.url, Host: c.host, Token: c.token.v}
	}
	if c.dryRun {
		stateDir = "" // a dry run keeps no state
	}
	r, err := campaign.Open(stateDir, src, snd, &opts)
	if err != nil {
		return fmt.Errorf("campaign run: %w", err)
	}
	defer r.Close()
	for _, s := range suppressions {
		if err := r.Suppress(ctx, s.Email, s.Reason); err != nil {
			return fmt.Errorf("campaign run: -suppress: %w", err)
		}
	}
	stopProgress := c.progress(r, stdout, stderr)
	if c.once {
		_, err = r.Tick(ctx, time.Now())
	} else {
		err = r.Run(ctx, c.every)
	}
	stopProgress()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("campaign run: %w", err)
	}
	rep := r.Report()
	if c.dryRun {
		// Dry-run lines are on stdout: the report goes to stderr.
		return writeCampaignReport(stderr, &rep, c.format)
	}
	return writeCampaignReport(stdout, &rep, c.format)
}

// sender builds the sender the flags name.
func (c *campaignConfig) sender(stdout io.Writer) (campaign.Sender, func(), error) {
	n := 0
	for _, s := range []string{c.smtpAddr, c.webhookURL, c.outbox} {
		if s != "" {
			n++
		}
	}
	switch {
	case c.dryRun:
		return &campaign.DryRun{W: stdout, ShowContent: c.showContent}, func() {}, nil
	case n == 0:
		return nil, nil, usagef("campaign run", "give a sender: -smtp-addr, -webhook-url or -outbox (or -dry-run)")
	case n > 1:
		return nil, nil, usagef("campaign run", "give one sender: -smtp-addr, -webhook-url or -outbox")
	case c.outbox != "":
		ob, err := campaign.OpenOutbox(c.outbox)
		if err != nil {
			return nil, nil, err
		}
		return ob, func() { ob.Close() }, nil
	case c.webhookURL != "":
		if !strings.HasPrefix(c.webhookURL, "http://") && !strings.HasPrefix(c.webhookURL, "https://") {
			return nil, nil, usagef("campaign run", "-webhook-url: want an http(s) URL")
		}
		return &campaign.Webhook{URL: c.webhookURL, Token: c.webhookToken.v}, func() {}, nil
	}
	mode := map[string]campaign.TLSMode{"starttls": campaign.StartTLS, "tls": campaign.ImplicitTLS, "none": campaign.NoTLS}
	tm, ok := mode[c.smtpTLS]
	switch {
	case !ok:
		return nil, nil, usagef("campaign run", "-smtp-tls: want starttls, tls or none")
	case c.smtpFrom == "":
		return nil, nil, usagef("campaign run", "-smtp-addr needs -smtp-from")
	case c.smtpUser != "" && tm == campaign.NoTLS:
		return nil, nil, usagef("campaign run", "-smtp-user needs TLS: -smtp-tls starttls or tls")
	}
	return &campaign.SMTP{Addr: c.smtpAddr, TLS: tm, Username: c.smtpUser, Password: c.smtpPassword.v, From: c.smtpFrom}, func() {}, nil
}

// progress shows the runner's counts on stderr while it runs, if stderr
// is a terminal (and, in a dry run, stdout, where the lines go, is not);
// the function it returns stops it and clears the line.
func (c *campaignConfig) progress(r *campaign.Runner, stdout, stderr io.Writer) func() {
	p := newProgress(stderr)
	if f, ok := stdout.(*os.File); !p.on || (c.dryRun && ok && term.IsTerminal(int(f.Fd()))) {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s := r.Progress()
				p.draw(func() string { return campaignProgressLine(s, c.dryRun) })
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		p.done()
	}
}

// campaignProgressLine renders a runner's counts.
func campaignProgressLine(s campaign.TickStats, dryRun bool) string {
	sent := "sent"
	if dryRun {
		sent = "would send"
	}
	return fmt.Sprintf("%d taken in  %d %s  %d skipped  %d deferred  %d failed  %d in doubt ",
		s.TookIn, s.Sent, sent, s.Skipped, s.Deferred, s.Failed, s.InDoubt)
}

func reportFormat(f string) bool { return f == "text" || f == "json" || f == "html" }

func writeCampaignReport(w io.Writer, rep *campaign.Report, format string) error {
	switch format {
	case "json":
		return rep.WriteJSON(w)
	case "html":
		return rep.WriteHTML(w)
	}
	return rep.WriteText(w)
}

func campaignReport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("campaign report", campaignReportUsage, stderr)
	var dataDir, stateDir, config, format string
	fs.StringVar(&dataDir, "data-dir", "", "the engine's data `DIR` (the state is in its campaign/ folder)")
	fs.StringVar(&stateDir, "state-dir", "", "the campaign's state `DIR`")
	fs.StringVar(&config, "config", "", "the campaign's configuration `FILE`, for its steps and attribution window")
	fs.StringVar(&format, "format", "text", "report `FORMAT`: text, json or html (one self-contained page with charts)")
	if err := parseFlags("campaign report", fs, args, 0); err != nil {
		return err
	}
	if err := applyEnv(fs); err != nil {
		return usagef("campaign report", "%v", err)
	}
	switch {
	case !reportFormat(format):
		return usagef("campaign report", "-format: want text, json or html")
	case stateDir == "" && dataDir == "":
		return usagef("campaign report", "give -data-dir or -state-dir")
	case stateDir == "":
		stateDir = filepath.Join(dataDir, "campaign")
	}
	if _, err := os.Stat(stateDir); err != nil {
		return fmt.Errorf("campaign report: no campaign state in %s", stateDir)
	}
	var opts campaign.Options
	if config != "" {
		data, err := os.ReadFile(config)
		if err != nil {
			return fmt.Errorf("campaign report: -config: %w", err)
		}
		if opts, err = campaign.ParseConfig(withShop(data, "report.invalid")); err != nil {
			return fmt.Errorf("campaign report: -config %s: %w", config, err)
		}
	}
	rep, err := campaign.ReadReport(stateDir, &opts)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("campaign report: the campaign is running on %s; it prints its report when it stops", stateDir)
		}
		return fmt.Errorf("campaign report: %w", err)
	}
	return writeCampaignReport(stdout, &rep, format)
}
