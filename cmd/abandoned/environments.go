package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/cluster"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/store"
	"github.com/basketlab/abandoned/basket/webhook"
)

// Environments: one server holding several shops (or a shop's prod and
// staging), each with its own engine, secrets, API tokens and OAuth
// clients, picked by the request's Host. -environments FILE names them:
//
//	[
//	  {"alias": "shop-prod", "hosts": ["shop.prod.example.com"],
//	   "apiTokens": ["…"], "oauthClients": ["crm:…"],
//	   "abandonAfter": "30m", "ttl": "336h"},
//	  {"alias": "shop-staging", "hosts": ["shop.staging.example.com"]}
//	]
//
// Every key but alias and hosts is optional: an environment without API
// tokens gets one generated and printed once; abandonAfter and ttl default
// to -abandon-after and -ttl; recoverySecrets (like -recovery-secret),
// checkoutUrl and purchasedUrl may be given too. With -data-dir each
// environment keeps its data in a directory of its own under
// <data-dir>/environments. SIGHUP reads the file again: new environments
// start, removed ones stop serving (their data is kept), changed ones
// restart.

const environmentsHelp = "`FILE` of environments (JSON, see below): several shops in one server, each with its own engine, secrets, tokens and OAuth clients, picked by the request's Host; replaces -alias, -api-token, -oauth-client, -recovery-secret and -access-secret; SIGHUP reloads it"

// envDuration is a Go duration string in the environments file.
type envDuration struct{ time.Duration }

func (d *envDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want a duration string such as \"30m\" or \"336h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q: want a duration string such as \"30m\" or \"336h\", not negative", s)
	}
	d.Duration = v
	return nil
}

// envEntry is an environment as the file gives it.
type envEntry struct {
	Alias           string       `json:"alias"`
	Hosts           []string     `json:"hosts"`
	APITokens       []string     `json:"apiTokens"`
	OAuthClients    []string     `json:"oauthClients"`
	AbandonAfter    *envDuration `json:"abandonAfter"`
	TTL             *envDuration `json:"ttl"`
	RecoverySecrets []string     `json:"recoverySecrets"`
	CheckoutURL     string       `json:"checkoutUrl"`
	PurchasedURL    string       `json:"purchasedUrl"`
	Webhooks        []envWebhook `json:"webhooks"`
}

// envWebhook is an endpoint of outgoing webhooks of an environment.
type envWebhook struct {
	URL     string   `json:"url"`
	Secret  string   `json:"secret"`
	Secrets []string `json:"secrets"` // more, while rotating: each signs
	Events  []string `json:"events"`
}

// envSpec is an environment checked, with its defaults.
type envSpec struct {
	alias           string
	hosts           []string // normalised
	tokens          []string
	generated       bool // tokens were generated for this run
	clients         map[string]string
	abandonAfter    time.Duration
	ttl             time.Duration
	recoverySecrets []string
	checkoutURL     string
	purchasedURL    string
	webhooks        []webhook.Endpoint
}

// sameEngine reports whether two specs need the same engine and
// deliverer: its settings, secrets and webhooks.
func (a *envSpec) sameEngine(b *envSpec) bool {
	return a.abandonAfter == b.abandonAfter && a.ttl == b.ttl && slices.Equal(a.recoverySecrets, b.recoverySecrets) &&
		slices.EqualFunc(a.webhooks, b.webhooks, func(x, y webhook.Endpoint) bool {
			return x.URL == y.URL && slices.Equal(x.Events, y.Events) && slices.EqualFunc(x.Secrets, y.Secrets, bytes.Equal)
		})
}

// readEnvironments reads and checks an environments file. Its errors name
// the environment and the key at fault, never a secret.
func readEnvironments(path string, cfg *serveConfig) ([]*envSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-environments: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var entries []envEntry
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("-environments %s: want a JSON list of environments: %s", path, jsonError(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("-environments %s: something follows the list", path)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("-environments %s: no environment", path)
	}
	var specs []*envSpec
	aliases := map[string]bool{}
	hosts := map[string]string{}
	secrets := map[string]string{} // every token and client secret: one environment's only
	for i, e := range entries {
		name := fmt.Sprintf("environment %d", i+1)
		if e.Alias != "" {
			name = fmt.Sprintf("environment %d (%q)", i+1, e.Alias)
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("-environments %s: %s: %s", path, name, fmt.Sprintf(format, args...))
		}
		switch {
		case e.Alias == "":
			return nil, fail("alias: missing")
		case aliases[e.Alias]:
			return nil, fail("alias: given to another environment too")
		case len(e.Hosts) == 0:
			return nil, fail("hosts: missing; give the host names its requests come by")
		}
		aliases[e.Alias] = true
		sp := &envSpec{alias: e.Alias, abandonAfter: cfg.abandonAfter, ttl: cfg.ttl, clients: map[string]string{},
			checkoutURL: cfg.checkoutURL, purchasedURL: cfg.purchasedURL}
		for j, h := range e.Hosts {
			n, ok := httpapi.NormalizeHost(h)
			if !ok {
				return nil, fail("hosts %d: %q is not a host name", j+1, h)
			}
			if other, dup := hosts[n]; dup {
				return nil, fail("hosts %d: %q is a host of %q too", j+1, h, other)
			}
			hosts[n] = e.Alias
			sp.hosts = append(sp.hosts, n)
		}
		claim := func(what string, s string) error {
			if other, dup := secrets[s]; dup {
				if other == e.Alias {
					return fail("%s: given twice", what)
				}
				return fail("%s: is a credential of %q too; every environment needs its own", what, other)
			}
			secrets[s] = e.Alias
			return nil
		}
		for j, tok := range e.APITokens {
			if err := checkRandom(tok, minTokenBytes); err != nil {
				return nil, fail("apiTokens %d: %v: generate one with openssl rand -hex %d", j+1, err, minTokenBytes)
			}
			if err := claim(fmt.Sprintf("apiTokens %d", j+1), tok); err != nil {
				return nil, err
			}
			sp.tokens = append(sp.tokens, tok)
		}
		for j, c := range e.OAuthClients {
			id, secret, ok := strings.Cut(c, ":")
			switch {
			case !ok || id == "" || secret == "":
				return nil, fail("oauthClients %d: want \"ID:SECRET\"", j+1)
			case sp.clients[id] != "":
				return nil, fail("oauthClients %d: client %q given twice", j+1, id)
			}
			if err := checkRandom(secret, minTokenBytes); err != nil {
				return nil, fail("oauthClients %d: client %q: its secret %v: generate one with openssl rand -hex %d", j+1, id, err, minTokenBytes)
			}
			if err := claim(fmt.Sprintf("oauthClients %d", j+1), secret); err != nil {
				return nil, err
			}
			sp.clients[id] = secret
		}
		for j, s := range e.RecoverySecrets {
			if err := checkRandom(s, minSecretBytes); err != nil {
				return nil, fail("recoverySecrets %d: %v: generate one with openssl rand -hex %d", j+1, err, minSecretBytes)
			}
			if err := claim(fmt.Sprintf("recoverySecrets %d", j+1), s); err != nil {
				return nil, err
			}
			sp.recoverySecrets = append(sp.recoverySecrets, s)
		}
		if e.AbandonAfter != nil {
			sp.abandonAfter = e.AbandonAfter.Duration
		}
		if e.TTL != nil {
			sp.ttl = e.TTL.Duration
		}
		if e.CheckoutURL != "" {
			sp.checkoutURL = e.CheckoutURL
		}
		if e.PurchasedURL != "" {
			sp.purchasedURL = e.PurchasedURL
		}
		urls := map[string]bool{}
		for j, w := range e.Webhooks {
			what := fmt.Sprintf("webhooks %d", j+1)
			if _, err := webhook.ParseURL(w.URL, cfg.webhooks.allowPrivate); err != nil {
				return nil, fail("%s: url: %v", what, err)
			}
			if urls[w.URL] {
				return nil, fail("%s: url %s given twice", what, webhook.Redact(w.URL))
			}
			urls[w.URL] = true
			ep := webhook.Endpoint{URL: w.URL}
			for k, s := range append([]string{w.Secret}, w.Secrets...) {
				if k == 0 && s == "" {
					return nil, fail("%s: secret: missing; generate one with openssl rand -hex %d and give it to the receiver too", what, minSecretBytes)
				}
				if err := checkRandom(s, minSecretBytes); err != nil {
					return nil, fail("%s: secret %d: %v: generate one with openssl rand -hex %d", what, k+1, err, minSecretBytes)
				}
				ep.Secrets = append(ep.Secrets, []byte(s)) // the text, as the receiver is given it
			}
			events, err := webhook.ParseEvents(strings.Join(w.Events, ","))
			if err != nil {
				return nil, fail("%s: events: %v", what, err)
			}
			ep.Events = events
			sp.webhooks = append(sp.webhooks, ep)
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

// jsonError describes a decoding error of the file without quoting it (it
// holds secrets).
func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: want %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown key " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or cut short"
	}
	return err.Error() // an envDuration's own message, which names no secret
}

// envFlags registers -environments.
func (c *serveConfig) environmentFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.environments, "environments", "", environmentsHelp)
}

// checkEnvironments refuses the flags -environments replaces, and reads
// the file once so that a bad one stops serve before it starts.
func (c *serveConfig) checkEnvironments() error {
	if c.environments == "" {
		return nil
	}
	for _, f := range []struct {
		name  string
		given bool
	}{
		{"-alias", c.alias != ""}, {"-api-token", len(c.apiTokens.listFlag) > 0}, {"-oauth-client", len(c.oauthClients.listFlag) > 0},
		{"-recovery-secret", len(c.recoverySecrets.listFlag) > 0}, {"-access-secret", len(c.accessSecrets.listFlag) > 0},
		{"-simulate", c.simulate},
	} {
		if f.given {
			return fmt.Errorf("-environments and %s: give each environment its own in the file instead", f.name)
		}
	}
	_, err := readEnvironments(c.environments, c)
	return err
}

// environment is one environment serving: its engine and its server.
type environment struct {
	spec   *envSpec
	eng    *basket.Engine
	access [][]byte       // the secrets of its OAuth2 access tokens
	wh     *serveWebhooks // its deliverer of webhooks, or nil
	srv    *httpapi.Server
}

// environments are the environments a server holds, and the routes to
// them.
type environments struct {
	cfg    *serveConfig
	logger *slog.Logger
	stderr io.Writer
	nc     *nats.Conn // the cluster's, or nil

	// In a cluster: the node's membership, which says which environments
	// it hosts (placed over the live nodes) and who hosts the others, and
	// the secret that proves a request was forwarded by a node.
	members    *cluster.Membership
	forwardKey []byte
	// streams is the cluster's configuration for the environments'
	// streams and buckets: their replication (see streamReplicas).
	streams natsConfig
	// crash (for tests) makes the node leave as a crashed one does: its
	// entries are left to expire.
	crash bool

	// reconcileMu serialises the placement's work: opening and closing
	// engines as the members change. Lock order: reconcileMu, then mu.
	reconcileMu sync.Mutex

	mu    sync.Mutex              // guards envs and specs
	envs  map[string]*environment // the environments open here, by alias
	specs []*envSpec              // the file's, as last applied
	hosts httpapi.Hosts
}

// envDir returns the data directory of an environment, or "" in memory.
func (es *environments) envDir(alias string) string {
	if es.cfg.dataDir == "" {
		return ""
	}
	return filepath.Join(es.cfg.dataDir, "environments", strings.TrimPrefix(cluster.StreamName(alias), "ABANDONED_"))
}

// open opens an environment: its engine, the secrets of its OAuth2
// access tokens, its webhooks' deliverer and its server.
func (es *environments) open(ctx context.Context, sp *envSpec) (*environment, error) {
	eng, access, opts, err := es.openEngine(ctx, sp)
	if err != nil {
		return nil, fmt.Errorf("environment %q: %w", sp.alias, err)
	}
	env := &environment{spec: sp, eng: eng, access: access}
	if len(sp.webhooks) > 0 {
		env.wh, err = startWebhooks(ctx, sp.webhooks, es.cfg.webhooks.allowPrivate, eng, opts, es.envDir(sp.alias), opts.Logger)
		if err != nil {
			eng.Close()
			return nil, fmt.Errorf("environment %q: webhooks: %w", sp.alias, err)
		}
	}
	if env.srv, err = es.newServer(sp, env); err != nil {
		es.stopLocked(env)
		return nil, fmt.Errorf("environment %q: %w", sp.alias, err)
	}
	return env, nil
}

// openEngine opens an environment's engine and returns it with the
// secrets of its OAuth2 access tokens and its options.
func (es *environments) openEngine(ctx context.Context, sp *envSpec) (*basket.Engine, [][]byte, *basket.Options, error) {
	opts := &basket.Options{AbandonAfter: sp.abandonAfter, TTL: sp.ttl, Alias: sp.alias, SweepInterval: time.Second,
		Logger: es.logger.With("alias", sp.alias), RecoverySecrets: recoveryKeys(sp.recoverySecrets)}
	if len(sp.webhooks) > 0 {
		opts.ChangeRetention = basket.DefaultChangeRetention
	}
	if sp.ttl == 0 {
		opts.TTL = basket.NoExpiry
	}
	if len(sp.recoverySecrets) == 0 {
		opts.RecoverySecrets = nil
	}
	dir := es.envDir(sp.alias)
	var access [][]byte
	switch {
	case es.nc != nil:
		eng, err := es.streams.openEngine(ctx, es.nc, opts, &access, dir, opts.Logger)
		return eng, access, opts, err
	case dir != "":
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, nil, err
		}
		sync, _ := store.ParseSync(es.cfg.fsync)
		opts.Store = &store.Options{Sync: sync}
		eng, err := basket.Open(dir, opts)
		if err != nil {
			return nil, nil, nil, err
		}
		s, err := basket.KeepSecret(dir, accessSecretFile)
		if err != nil {
			eng.Close()
			return nil, nil, nil, err
		}
		return eng, [][]byte{s}, opts, nil
	}
	// In memory: a secret for this run, kept across reloads with the engine.
	s := make([]byte, basket.GeneratedSecretLen)
	if _, err := rand.Read(s); err != nil {
		return nil, nil, nil, err
	}
	eng, err := basket.New(opts)
	return eng, [][]byte{s}, opts, err
}

// newServer makes an environment's server of spec sp over env's engine,
// access secrets and webhooks.
func (es *environments) newServer(sp *envSpec, env *environment) (*httpapi.Server, error) {
	eng, access := env.eng, env.access
	maxFuture := es.cfg.maxFuture
	if maxFuture == 0 {
		maxFuture = -1
	}
	srv, err := httpapi.New(eng, &httpapi.Options{
		APITokens: sp.tokens, OAuthClients: sp.clients, AccessSecrets: access,
		CheckoutURL: sp.checkoutURL, PurchasedURL: sp.purchasedURL,
		MaxBody: int64(es.cfg.maxBody), MaxBatch: es.cfg.maxBatch, MaxFuture: maxFuture,
		Logger: es.logger.With("alias", sp.alias),
		Routes: env.wh.routes(), Collectors: env.wh.collectors(),
	})
	if err != nil {
		return nil, err
	}
	return srv, es.cfg.console.attach(srv, eng, sp.checkoutURL, es.logger.With("alias", sp.alias))
}

// apply makes the environments those of specs: it starts the new ones,
// restarts those whose engine settings changed, gives those whose
// credentials or hosts changed a new server over the same engine, and
// stops the removed ones once the routes no longer lead to them. On error
// nothing changes.
func (es *environments) apply(ctx context.Context, specs []*envSpec) error {
	if es.members != nil {
		return es.applyPlaced(ctx, specs)
	}
	es.mu.Lock()
	defer es.mu.Unlock()
	next := map[string]*environment{}
	var started []*environment // opened by this call: closed again on error
	fail := func(err error) error {
		for _, env := range started {
			es.stopLocked(env)
		}
		return err
	}
	if err := es.generateTokens(specs); err != nil {
		return err
	}
	for _, sp := range specs {
		old := es.envs[sp.alias]
		if old != nil && old.spec.sameEngine(sp) {
			env := &environment{spec: sp, eng: old.eng, access: old.access, wh: old.wh}
			srv, err := es.newServer(sp, env)
			if err != nil {
				return fail(fmt.Errorf("environment %q: %w", sp.alias, err))
			}
			env.srv = srv
			next[sp.alias] = env
			continue
		}
		if old != nil {
			// New settings or secrets: the engine is opened anew, after the
			// old one is closed (a data directory has one owner).
			es.stopLocked(old)
			delete(es.envs, sp.alias)
		}
		env, err := es.open(ctx, sp)
		if err != nil {
			return fail(err)
		}
		started = append(started, env)
		next[sp.alias] = env
	}
	routes := map[string]http.Handler{}
	for _, env := range next {
		for _, h := range env.spec.hosts {
			routes[h] = env.srv
		}
	}
	es.hosts.SetRoutes(routes)
	for alias, old := range es.envs {
		if next[alias] == nil || next[alias].eng != old.eng {
			es.stopLocked(old)
		}
	}
	es.envs, es.specs = next, specs
	return nil
}

// generateTokens gives an environment without apiTokens one for the run,
// printed once; a reload keeps the one printed at start. es.mu must be
// held.
func (es *environments) generateTokens(specs []*envSpec) error {
	old := map[string]*envSpec{}
	for _, env := range es.envs {
		old[env.spec.alias] = env.spec
	}
	for _, sp := range es.specs {
		old[sp.alias] = sp
	}
	for _, sp := range specs {
		if len(sp.tokens) != 0 {
			continue
		}
		if o := old[sp.alias]; o != nil && o.generated {
			sp.tokens, sp.generated = o.tokens, true
			continue
		}
		tok, err := generateToken()
		if err != nil {
			return err
		}
		sp.tokens, sp.generated = []string{tok}, true
		fmt.Fprintf(es.stderr, "abandoned serve: environment %q has no apiTokens; generated one for this run: %s\n", sp.alias, tok)
	}
	return nil
}

// stopLocked closes an environment's engine. es.mu must be held.
func (es *environments) stopLocked(env *environment) {
	if err := env.wh.Close(); err != nil {
		es.logger.Error("stopping an environment's webhooks", "alias", env.spec.alias, "err", err.Error())
	}
	if err := env.eng.Close(); err != nil {
		es.logger.Error("closing an environment", "alias", env.spec.alias, "err", err.Error())
	}
}

// close stops every environment.
func (es *environments) close() error {
	es.mu.Lock()
	defer es.mu.Unlock()
	var errs []error
	for _, env := range es.envs {
		errs = append(errs, env.wh.Close(), env.eng.Close())
	}
	es.envs = nil
	return errors.Join(errs...)
}

// environmentsHook, if set (by tests), is handed every server's
// environments as it starts.
var environmentsHook func(*environments)

// hosted returns the aliases of the environments open here, sorted.
func (es *environments) hosted() []string {
	es.mu.Lock()
	defer es.mu.Unlock()
	var out []string
	for alias := range es.envs {
		out = append(out, alias)
	}
	slices.Sort(out)
	return out
}

// serveEnvironments runs serve with -environments: every environment's
// server behind one listener, routed by Host, until ctx is done; SIGHUP
// reloads the file.
func serveEnvironments(ctx context.Context, cfg *serveConfig, ln net.Listener, stderr io.Writer) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return runEnvironments(ctx, cfg, ln, stderr, hup)
}

// runEnvironments is serveEnvironments with its reload signal given.
func runEnvironments(ctx context.Context, cfg *serveConfig, ln net.Listener, stderr io.Writer, reload <-chan os.Signal) error {
	defer ln.Close()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	specs, err := readEnvironments(cfg.environments, cfg)
	if err != nil {
		return err
	}
	es := &environments{cfg: cfg, logger: logger, stderr: stderr, envs: map[string]*environment{}}
	if environmentsHook != nil {
		environmentsHook(es)
	}
	if cfg.nats.enabled() {
		ready := notReady(ln)
		nc, stop, err := cfg.nats.connect(cfg.dataDir)
		if err != nil {
			ready()
			return fmt.Errorf("serve: %w", err)
		}
		defer stop() // deferred first: runs after the engines' Close
		es.nc = nc
		es.streams = cfg.nats
		es.streams.replicas = streamReplicas(&cfg.nats)
		self, err := advertisedURL(cfg.addr)
		if err == nil {
			es.forwardKey, err = cluster.SharedSecret(ctx, nc, "_cluster", "forward", es.streams.replicas)
		}
		if err == nil {
			es.members, err = cluster.Join(ctx, nc, cluster.Member{ID: memberID(self), URL: self}, es.streams.replicas)
		}
		if err == nil {
			defer func() {
				if es.crash {
					es.members.Stop()
					return
				}
				if err := es.members.Close(); err != nil {
					logger.Warn("leaving the cluster's members", "err", err.Error())
				}
			}()
			err = es.apply(ctx, specs)
		}
		ready()
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	} else if err := es.apply(ctx, specs); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if es.members != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			es.placeLoop(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-reload:
			}
			specs, err := readEnvironments(cfg.environments, cfg)
			if err == nil {
				err = es.apply(ctx, specs)
			}
			if err != nil {
				logger.Error("reloading the environments failed; serving on as before", "err", err.Error())
				continue
			}
			logger.Info("environments reloaded", "environments", len(specs))
		}
	}()
	aliases := make([]string, 0, len(specs))
	for _, sp := range specs {
		aliases = append(aliases, sp.alias)
	}
	err = httpapi.ServeHandler(ctx, ln, &es.hosts, &httpapi.Options{Logger: logger}, "environments", strings.Join(aliases, ","))
	cancel()
	wg.Wait()
	if cerr := es.close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
