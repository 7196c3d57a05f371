package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/store"
	"github.com/basketlab/abandoned/simulator"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "run the HTTP API: query, feed, recovery links, ingest, OAuth2, metrics",
		run:     runServe,
	})
}

const serveUsage = `Usage: abandoned serve [flags]

Runs the HTTP API over an engine. It logs one line, "ready", when it
serves, and shuts down cleanly on SIGINT or SIGTERM, finishing requests in
flight. Its endpoints (GET /openapi.json describes each, with its
parameters, answers and errors):

  GET  /api/checkout/abandoned       abandoned baskets, paged by cursor (scope checkout)
  GET  /api/checkout/abandoned/feed  baskets in the order they became abandoned (scope checkout)
  GET  /api/checkout/customer        every live basket of one customer, ?email= (scope checkout)
  GET  /api/checkout/recover         a recovery link: a redirect into the checkout (public)
  GET  /api/checkout/unsubscribe     an unsubscribe link's confirmation page (public)
  POST /api/checkout/unsubscribe     unsubscribe, RFC 8058 one-click (public)
  POST /api/checkout/suppression     whether an address is suppressed, and its unsubscribe token (scope checkout)
  POST /api/baskets/events           a batch of events, JSON array or NDJSON (scope ingest)
  POST /oauth2/token                 OAuth2 client credentials (public)
  GET  /healthz                      health (public)
  GET  /metrics                      Prometheus metrics (public)
  GET  /api/webhooks/deliveries      recent attempts of the -webhook endpoints, ?endpoint= (scope checkout)
  POST /api/webhooks/resume          a failing or disabled endpoint delivers again, ?endpoint= (scope checkout)
  GET  /openapi.json                 the OpenAPI 3.1 document of these endpoints (public)
  GET  /console/                     the web console: baskets, follow-ups, feed, dashboard (-console)

A request over -max-body bytes or -max-batch events gets 413, an event
dated more than -max-future ahead of the server's clock 400; each answer
names the limit and the flag.

Every flag can also be given as an environment variable ABANDONED_<NAME>
(dashes as underscores, e.g. ABANDONED_API_TOKEN); a repeatable flag's
variable takes a comma-separated list. The command line wins. Prefer the
environment for tokens and secrets: command lines are visible to every user
of the machine.

Examples:

  # In memory, a generated API token printed at start:
  abandoned serve

  # Durable, with a fixed token and an OAuth2 client, behind a proxy (the
  # recovery and access-token secrets generated and kept in -data-dir):
  export ABANDONED_API_TOKEN=$(openssl rand -hex 16)
  ABANDONED_OAUTH_CLIENT=esp:$(openssl rand -hex 16) \
    abandoned serve -addr :8080 -data-dir /var/lib/abandoned -alias shop.prod \
      -checkout-url https://shop.example.com/checkout

  # Then:
  curl -H "Authorization: Bearer $ABANDONED_API_TOKEN" 'localhost:8080/api/checkout/abandoned?limit=10'

Tokens and secrets are random: API tokens and client secrets at least 16
bytes, the recovery and access-token secrets at least 32, given in hex or
base64 (openssl rand -hex 32). The recovery secret signs what customers
receive (recovery links) and cursors; the access-token secret signs OAuth2
access tokens, so that no link a customer holds helps forge one.
` + clusterUsage + `
Flags:
`

// serveConfig is what the flags of serve say.
type serveConfig struct {
	addr            string
	apiTokens       secretListFlag
	recoverySecrets secretListFlag
	accessSecrets   secretListFlag
	alias           string
	abandonAfter    time.Duration
	ttl             time.Duration
	dataDir         string
	fsync           string
	checkoutURL     string
	oauthClients    secretListFlag
	purchasedURL    string
	maxBody         byteSize
	maxBatch        int
	maxFuture       time.Duration
	simulate        bool
	console         consoleConfig
	environments    string
	webhooks        webhookConfig
	nats            natsConfig
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`HOST:PORT` to listen on")
	fs.Var(&c.apiTokens, "api-token", "static bearer `TOKEN` holding every scope (repeatable); if none is given, one is generated and printed once at start")
	fs.Var(&c.recoverySecrets, "recovery-secret", "`SECRET` signing recovery links and cursors: 32 random bytes or more in hex or base64, e.g. from openssl rand -hex 32 (repeatable: the first signs, all verify); default: generated and kept in -data-dir, or random per run in memory")
	fs.Var(&c.accessSecrets, "access-secret", "`SECRET` signing OAuth2 access tokens, like -recovery-secret and not one of them (repeatable: the first signs, all verify); default: generated and kept in -data-dir, or random per run in memory")
	fs.StringVar(&c.alias, "alias", "", "environment `NAME` reported in queryMore.alias")
	fs.DurationVar(&c.abandonAfter, "abandon-after", 0, "idle `DURATION` after which a contactable basket is abandoned (0s: at once)")
	fs.DurationVar(&c.ttl, "ttl", basket.DefaultTTL, "a basket's time to live from creation (`DURATION`); 0 keeps baskets forever")
	fs.StringVar(&c.dataDir, "data-dir", "", "`DIR` of the write-ahead log and snapshots; default: in memory")
	fs.StringVar(&c.fsync, "fsync", "always", "fsync policy of the log with -data-dir: `always|interval|never`")
	fs.StringVar(&c.checkoutURL, "checkout-url", httpapi.DefaultCheckoutURL, "checkout `URL` recovery links lead to (?basket=<id>) and purchase links use (?purchase=<offer>)")
	fs.Var(&c.oauthClients, "oauth-client", "OAuth2 client `ID:SECRET` allowed the client-credentials grant at POST /oauth2/token (repeatable)")
	fs.StringVar(&c.purchasedURL, "purchased-url", httpapi.DefaultPurchasedURL, "`URL` of the \"already purchased\" page for links of completed baskets")
	c.maxBody = httpapi.DefaultMaxBody
	fs.Var(&c.maxBody, "max-body", "largest request `SIZE` accepted (B, KiB, MiB, GiB); larger bodies get 413 (abandoned ingest loads a file of any size in batches)")
	fs.IntVar(&c.maxBatch, "max-batch", httpapi.MaxBatch, "at most `N` events in one ingest request; larger batches get 413")
	fs.DurationVar(&c.maxFuture, "max-future", httpapi.DefaultMaxFuture, "how far ahead of this server's clock (`DURATION`) an event's at may lie; events further ahead get 400; 0 accepts any time")
	fs.BoolVar(&c.simulate, "simulate", false, "feed the server live simulated checkout traffic (the default scenario, in real time)")
	c.console.flags(fs)
	c.environmentFlags(fs)
	c.webhooks.flags(fs)
	c.nats.flags(fs)
}

// check validates the configuration, naming the flag at fault and never a
// secret's value.
func (c *serveConfig) check() error {
	if c.abandonAfter < 0 {
		return errors.New("-abandon-after: must not be negative")
	}
	if c.ttl < 0 {
		return errors.New("-ttl: must not be negative (0 keeps baskets forever)")
	}
	if c.maxBatch < 1 {
		return fmt.Errorf("-max-batch %d: want 1 or more events", c.maxBatch)
	}
	if c.maxFuture < 0 {
		return errors.New("-max-future: must not be negative (0 accepts any time)")
	}
	if _, err := store.ParseSync(c.fsync); err != nil {
		return fmt.Errorf("-fsync: %q: want always, interval or never", c.fsync)
	}
	for _, f := range []struct {
		name string
		l    *secretListFlag
		min  int
		hint string
	}{
		{"-recovery-secret", &c.recoverySecrets, minSecretBytes, "or give none: serve generates one (kept in -data-dir)"},
		{"-access-secret", &c.accessSecrets, minSecretBytes, "or give none: serve generates one (kept in -data-dir)"},
		{"-api-token", &c.apiTokens, minTokenBytes, "or give none: serve generates one and prints it once at start"},
	} {
		for i, s := range f.l.listFlag {
			if err := checkRandom(s, f.min); err != nil {
				return fmt.Errorf("%s %d: %v: generate one with openssl rand -hex %d, %s", f.name, i+1, err, f.min, f.hint)
			}
		}
	}
	for i, a := range c.accessSecrets.listFlag {
		for _, r := range c.recoverySecrets.listFlag {
			if bytes.Equal(decodeSecret(a), decodeSecret(r)) {
				return fmt.Errorf("-access-secret %d: is also a -recovery-secret; give it a secret of its own", i+1)
			}
		}
	}
	if _, err := c.clients(); err != nil {
		return err
	}
	if err := c.checkEnvironments(); err != nil {
		return err
	}
	if err := c.webhooks.check(c.environments != ""); err != nil {
		return err
	}
	return c.nats.check(c.dataDir)
}

// clients parses -oauth-client.
func (c *serveConfig) clients() (map[string]string, error) {
	m := map[string]string{}
	for i, v := range c.oauthClients.listFlag {
		id, secret, ok := strings.Cut(v, ":")
		if !ok || id == "" || secret == "" {
			return nil, fmt.Errorf("-oauth-client %d: want ID:SECRET", i+1)
		}
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("-oauth-client %d: client %q given twice", i+1, id)
		}
		if err := checkRandom(secret, minTokenBytes); err != nil {
			return nil, fmt.Errorf("-oauth-client %d: client %q: its secret %v: generate one with openssl rand -hex %d", i+1, id, err, minTokenBytes)
		}
		m[id] = secret
	}
	return m, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return serve(ctx, cfg, ln, stderr)
}

// parseServe reads serve's flags and their environment variables, and
// checks them.
func parseServe(args []string, stderr io.Writer) (*serveConfig, error) {
	fs := newFlagSet("serve", serveUsage, stderr)
	var cfg serveConfig
	cfg.flags(fs)
	if err := parseFlags("serve", fs, args, 0); err != nil {
		return nil, err
	}
	if err := applyEnv(fs); err != nil {
		return nil, usagef("serve", "%v", err)
	}
	if err := cfg.check(); err != nil {
		return nil, usagef("serve", "%v", err)
	}
	return &cfg, nil
}

// serve runs the server on ln until ctx is done, then shuts it down
// gracefully and closes the engine. It logs to stderr. cfg must be checked.
func serve(ctx context.Context, cfg *serveConfig, ln net.Listener, stderr io.Writer) error {
	if cfg.environments != "" {
		return serveEnvironments(ctx, cfg, ln, stderr)
	}
	defer ln.Close()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	tokens := cfg.apiTokens.listFlag
	if len(tokens) == 0 {
		tok, err := generateToken()
		if err != nil {
			return err
		}
		tokens = []string{tok}
		// The one place a token is ever printed: there is no other way to
		// learn it.
		fmt.Fprintf(stderr, "abandoned serve: no -api-token given; generated one for this run: %s\n", tok)
	}
	clients, err := cfg.clients()
	if err != nil {
		return err
	}
	opts := &basket.Options{
		AbandonAfter:  cfg.abandonAfter,
		TTL:           cfg.ttl,
		Alias:         cfg.alias,
		SweepInterval: time.Second,
		Logger:        logger,
	}
	if cfg.ttl == 0 {
		opts.TTL = basket.NoExpiry
	}
	opts.RecoverySecrets = recoveryKeys(cfg.recoverySecrets.listFlag)
	cfg.webhooks.engineOptions(opts)
	var eng *basket.Engine
	var access [][]byte
	if cfg.nats.enabled() {
		// The node answers 503 while it joins the cluster and catches up.
		ready := notReady(ln)
		var stopNATS func()
		access = decodeSecrets(cfg.accessSecrets.listFlag)
		eng, stopNATS, err = cfg.nats.open(ctx, opts, &access, cfg.dataDir, logger)
		ready()
		if err == nil {
			defer stopNATS() // deferred first: runs after the engine's Close
		}
	} else if cfg.dataDir != "" {
		sync, _ := store.ParseSync(cfg.fsync)
		opts.Store = &store.Options{Sync: sync}
		eng, err = basket.Open(cfg.dataDir, opts)
	} else {
		eng, err = basket.New(opts)
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer eng.Close()
	if !cfg.nats.enabled() {
		if access, err = cfg.accessKeys(); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	wh, err := cfg.webhooks.start(ctx, eng, opts, cfg.dataDir, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer wh.Close()
	maxFuture := cfg.maxFuture
	if maxFuture == 0 {
		maxFuture = -1 // any time
	}
	srv, err := httpapi.New(eng, &httpapi.Options{
		APITokens:     tokens,
		OAuthClients:  clients,
		AccessSecrets: access,
		CheckoutURL:   cfg.checkoutURL,
		PurchasedURL:  cfg.purchasedURL,
		MaxBody:       int64(cfg.maxBody),
		MaxBatch:      cfg.maxBatch,
		MaxFuture:     maxFuture,
		Logger:        logger,
		Routes:        wh.routes(),
		Collectors:    wh.collectors(),
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := cfg.console.mount(srv, eng, cfg.checkoutURL, ln, logger, stderr); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	simDone := make(chan error, 1)
	if cfg.simulate {
		sc := simulator.DefaultScenario()
		go func() { simDone <- simulateLive(ctx, eng, &sc, logger) }()
	} else {
		simDone <- nil
	}
	err = srv.Serve(ctx, ln)
	cancel()
	if serr := <-simDone; serr != nil && err == nil {
		err = serr
	}
	wh.Close() // the deliverer stops before the engine it reads
	if cerr := eng.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// generateToken returns a random API token.
func generateToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("serve: generating an API token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// simulateLive plays a scenario from now on, in real time, into eng until
// ctx is done. The scenario's Start is set to now.
func simulateLive(ctx context.Context, eng *basket.Engine, sc *simulator.Scenario, logger *slog.Logger) error {
	sc.Start = time.Now().UTC().Truncate(time.Millisecond)
	if sc.Days < 3650 {
		sc.Days = 3650
	}
	sim, err := simulator.New(&simulator.Options{
		Scenario:     sc,
		Seed:         uint64(sc.Start.UnixNano()),
		Sink:         simulator.Paced(simulator.EngineSink{Engine: eng}),
		BatchSize:    100,
		MaxBatchSpan: time.Second,
	})
	if err != nil {
		return fmt.Errorf("serve: -simulate: %w", err)
	}
	logger.Info("simulating live traffic", "rate_per_hour", sc.Rate)
	_, err = sim.Run(ctx)
	if err != nil && ctx.Err() != nil {
		return nil // stopped with the server
	}
	if err != nil {
		return fmt.Errorf("serve: -simulate: %w", err)
	}
	return nil
}

// listFlag is a repeatable string flag. From the environment it takes a
// comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// secretListFlag is a listFlag whose values never show in usage or errors.
type secretListFlag struct{ listFlag }

func (l *secretListFlag) String() string { return "" }

// secretFlag is a string flag whose value never shows in usage or errors.
type secretFlag struct{ v string }

func (s *secretFlag) String() string { return "" }

func (s *secretFlag) Set(v string) error {
	s.v = v
	return nil
}

// repeatable is implemented by the flags that take a comma-separated list
// from the environment.
type repeatable interface{ repeatable() }

func (*listFlag) repeatable()       {}
func (*secretListFlag) repeatable() {}

// byteSize is a size in bytes: a number with an optional unit B, KiB, MiB
// or GiB.
type byteSize int64

func (b *byteSize) String() string {
	n := int64(*b)
	switch {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a positive size such as 16MiB, 512KiB or 1048576")
	}
	*b = byteSize(n * mult)
	return nil
}

// envName is the environment variable of a flag: ABANDONED_ and the flag's
// name in capitals with dashes as underscores.
func envName(flagName string) string {
	return "ABANDONED_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// lookupEnv reads the environment; tests replace it.
var lookupEnv = os.LookupEnv

// applyEnv sets every flag of fs not given on the command line from its
// environment variable, if that is set. A repeatable flag's variable holds
// a comma-separated list. The command line wins over the environment.
func applyEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		name := envName(f.Name)
		v, ok := lookupEnv(name)
		if !ok {
			return
		}
		values := []string{v}
		if _, ok := f.Value.(repeatable); ok {
			values = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					values = append(values, s)
				}
			}
		}
		for _, s := range values {
			if e := f.Value.Set(s); e != nil {
				err = fmt.Errorf("environment variable %s: %v", name, e)
				return
			}
		}
	})
	return err
}

// The least random bytes a secret (-recovery-secret, -access-secret) and
// a token (-api-token, an -oauth-client's secret) hold.
const (
	minSecretBytes = 32
	minTokenBytes  = 16
)

// accessSecretFile keeps the generated access-token secret in -data-dir.
const accessSecretFile = "access.secret"

// checkRandom accepts s if it is hex, or base64 (standard or URL
// alphabet, padded or not), of at least min bytes: what a generator gives,
// not a word or a passphrase. Its error never repeats s.
func checkRandom(s string, min int) error {
	b := decodeSecret(s)
	switch {
	case b == nil:
		return fmt.Errorf("is not hex or base64")
	case len(b) < min:
		return fmt.Errorf("holds %d bytes; want %d or more random bytes", len(b), min)
	}
	return nil
}

// decodeSecret returns the bytes s encodes in hex or base64; nil if it is
// neither.
func decodeSecret(s string) []byte {
	if b, err := hex.DecodeString(s); err == nil && len(b) > 0 {
		return b
	}
	if strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("+/-_=", r))
	}) {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil && len(b) > 0 {
			return b
		}
	}
	return nil
}

// recoveryKeys are the engine's recovery secrets for -recovery-secret: the
// bytes each value encodes, in order (the first signs), so that the hex of
// a generated recovery.secret given by flag is that very secret; then each
// value's text, which verifies only: earlier versions used the text as the
// secret, and the links they signed keep working.
func recoveryKeys(values []string) [][]byte {
	var keys [][]byte
	for _, s := range values {
		keys = append(keys, decodeSecret(s))
	}
	for _, s := range values {
		keys = append(keys, []byte(s))
	}
	return keys
}

// decodeSecrets returns the bytes of secrets given by flag.
func decodeSecrets(list []string) [][]byte {
	var keys [][]byte
	for _, s := range list {
		keys = append(keys, decodeSecret(s))
	}
	return keys
}

// accessKeys returns the secrets of OAuth2 access tokens: -access-secret,
// or with -data-dir the one kept there (generated at the first start); nil
// in memory, for a random one per run. The engine must be open, holding
// the directory.
func (c *serveConfig) accessKeys() ([][]byte, error) {
	keys := decodeSecrets(c.accessSecrets.listFlag)
	if len(keys) == 0 && c.dataDir != "" {
		s, err := basket.KeepSecret(c.dataDir, accessSecretFile)
		if err != nil {
			return nil, err
		}
		keys = [][]byte{s}
	}
	return keys, nil
}
