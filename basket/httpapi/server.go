package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unsafe"

	"github.com/basketlab/abandoned/basket"
	"github.com/klauspost/compress/gzhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Defaults of Options.
const (
	DefaultMaxBody         = 16 << 20
	DefaultTokenLifetime   = time.Hour
	DefaultCheckoutURL     = "/checkout"
	DefaultPurchasedURL    = "/checkout/complete"
	DefaultShutdownTimeout = 30 * time.Second
)

// Options configure a Server. A nil *Options means the defaults, which
// accept no token at all: give APITokens or OAuthClients.
type Options struct {
	// APITokens are static bearer tokens; each holds every scope.
	// Default: none.
	APITokens []string

	// OAuthClients maps OAuth2 client ids to their secrets; each may obtain
	// access tokens from POST /oauth2/token with the client-credentials
	// grant. Default: none, and the token endpoint answers 401 to every
	// request.
	OAuthClients map[string]string

	// TokenLifetime is how long an issued access token is valid. Default
	// DefaultTokenLifetime (one hour), as expires_in reports.
	TokenLifetime time.Duration

	// AccessSecrets sign OAuth2 access tokens: the first signs, all verify,
	// so a new secret is rotated in by putting it first. Each is at least
	// MinAccessSecretLen random bytes, and none is a recovery secret of the
	// engine: no customer-facing link is signed with these. Servers that
	// accept each other's access tokens share them. Default: one random
	// secret per Server, so access tokens do not outlive it.
	AccessSecrets [][]byte

	// Now is the clock of access tokens and of the backoff after failed
	// authentications. Default time.Now.
	Now func() time.Time

	// CheckoutURL is where a recovery link leads back into the checkout
	// (with ?basket=<id>) and where purchase links point (with
	// ?purchase=<offer path>). It may be a path or an absolute URL, and may
	// hold a query of its own. Default DefaultCheckoutURL.
	CheckoutURL string

	// PurchasedURL is the "already purchased" page a recovery link of a
	// completed basket leads to. Default DefaultPurchasedURL.
	PurchasedURL string

	// MaxBody is the largest request body accepted, in bytes; larger ones
	// are answered 413. Default DefaultMaxBody (16 MiB).
	MaxBody int64

	// MaxBatch is the most events one ingest request may carry; a larger
	// batch is answered 413 and nothing of it is applied. Default MaxBatch
	// (100,000).
	MaxBatch int

	// MaxFuture is how far ahead of the clock (Now) an event's "at" may
	// lie: an event further ahead is invalid (400), and its batch is not
	// applied. Default DefaultMaxFuture (5 minutes); negative accepts any
	// time.
	MaxFuture time.Duration

	// Logger receives the access log (one line per request, at Info, without
	// query strings) and errors. Default: no logging.
	Logger *slog.Logger

	// Timeouts of the http.Server that Serve runs. Defaults: read header
	// 10 s, read 60 s, write 60 s, idle 120 s; ShutdownTimeout
	// DefaultShutdownTimeout.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	ShutdownTimeout                                           time.Duration

	// Routes are endpoints served beside the API's own (the webhooks'
	// deliveries list), behind the same authentication, metrics and access
	// log. Each path must be one the API does not serve. Default: none.
	Routes []Route

	// Collectors are registered beside the server's own metrics, which GET
	// /metrics serves (the webhooks' deliveries, failures and lag).
	// Default: none.
	Collectors []prometheus.Collector
}

// Route is an endpoint of Options.Routes: Method and Path as in
// http.ServeMux patterns ("GET", "/api/webhooks/deliveries"), the Scope a
// token must hold (0: public).
type Route struct {
	Method, Path string
	Scope        Scope
	Handler      http.Handler
}

// Server is the HTTP API over an engine. It is an http.Handler; Serve runs
// it on a listener with timeouts and graceful shutdown.
type Server struct {
	eng       *basket.Engine
	opts      Options
	auth      *authenticator
	checkout  *url.URL
	purchased *url.URL
	log       *slog.Logger
	metrics   *metrics
	mux       *http.ServeMux
	handler   http.Handler // mux behind gzip
}

// New returns a Server over eng. The caller keeps ownership of eng and
// closes it after the server has stopped.
func New(eng *basket.Engine, opts *Options) (*Server, error) {
	if eng == nil {
		return nil, errors.New("httpapi: nil engine")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = DefaultTokenLifetime
	}
	if o.TokenLifetime < time.Second {
		return nil, fmt.Errorf("httpapi: TokenLifetime %v is under a second", o.TokenLifetime)
	}
	if o.CheckoutURL == "" {
		o.CheckoutURL = DefaultCheckoutURL
	}
	if o.PurchasedURL == "" {
		o.PurchasedURL = DefaultPurchasedURL
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxBody < 0 {
		return nil, fmt.Errorf("httpapi: MaxBody %d is negative", o.MaxBody)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	setDefault(&o.ReadHeaderTimeout, 10*time.Second)
	setDefault(&o.ReadTimeout, time.Minute)
	setDefault(&o.WriteTimeout, time.Minute)
	setDefault(&o.IdleTimeout, 2*time.Minute)
	setDefault(&o.ShutdownTimeout, DefaultShutdownTimeout)

	s := &Server{eng: eng, opts: o, log: o.Logger}
	var err error
	if s.checkout, err = parseTarget("CheckoutURL", o.CheckoutURL); err != nil {
		return nil, err
	}
	if s.purchased, err = parseTarget("PurchasedURL", o.PurchasedURL); err != nil {
		return nil, err
	}
	if s.auth, err = newAuthenticator(&o); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(eng)
	s.metrics.reg.MustRegister(s.auth.backoff.collectors()...)
	for _, c := range o.Collectors {
		if err := s.metrics.reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: Collectors: %w", err)
		}
	}
	for _, rt := range o.Routes {
		if rt.Method == "" || !strings.HasPrefix(rt.Path, "/") || rt.Handler == nil {
			return nil, fmt.Errorf("httpapi: Routes: %s %q: want a method, a path from / and a handler", rt.Method, rt.Path)
		}
	}
	s.routes()
	return s, nil
}

// checkClientID accepts printable ids without white space or ':'.
func checkClientID(id string) error {
	if id == "" || len(id) > 256 || !printable(id) ||
		strings.ContainsFunc(id, unicode.IsSpace) || strings.Contains(id, ":") {
		return fmt.Errorf("httpapi: OAuth2 client id %q: must be 1 to 256 printable characters without spaces or ':'", id)
	}
	return nil
}

func parseTarget(name, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Fragment != "" || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") ||
		(u.Scheme == "" && !strings.HasPrefix(u.Path, "/")) {
		return nil, fmt.Errorf("httpapi: %s %q: want a path starting with / or an http(s) URL without a fragment", name, s)
	}
	return u, nil
}

// Registry returns the registry of the server's metrics, which GET /metrics
// serves.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// gzipMinSize is the smallest answer compressed for a client that accepts
// gzip: below it, compression costs more than it saves.
const gzipMinSize = 1024

// routes registers every endpoint. Each path has a method-less pattern
// beside its method's, so that another method gets a JSON 405.
func (s *Server) routes() {
	s.mux = http.NewServeMux()
	defer func() {
		gz, err := gzhttp.NewWrapper(gzhttp.MinSize(gzipMinSize))
		if err != nil {
			panic(err) // constant options: a broken build
		}
		s.handler = gz(s.mux)
	}()
	type route struct {
		method, path string
		scope        Scope // 0: public
		h            http.HandlerFunc
	}
	// The methods of each path, for the Allow header of a 405.
	type allowed struct{ path, methods string }
	var allows []allowed
	var extra []route
	for _, rt := range s.opts.Routes {
		extra = append(extra, route{rt.Method, rt.Path, rt.Scope, rt.Handler.ServeHTTP})
	}
	for _, rt := range append([]route{
		{http.MethodGet, "/api/checkout/abandoned", ScopeCheckout, s.handleAbandoned},
		{http.MethodGet, "/api/checkout/abandoned/feed", ScopeCheckout, s.handleFeed},
		{http.MethodGet, "/api/checkout/customer", ScopeCheckout, s.handleCustomer},
		{http.MethodGet, "/api/checkout/recover", 0, s.handleRecover},
		{http.MethodGet, "/api/checkout/unsubscribe", 0, s.handleUnsubscribePage},
		{http.MethodPost, "/api/checkout/unsubscribe", 0, s.handleUnsubscribe},
		{http.MethodPost, "/api/checkout/suppression", ScopeCheckout, s.handleSuppression},
		{http.MethodPost, "/api/baskets/events", ScopeIngest, s.handleIngest},
		{http.MethodPost, "/oauth2/token", 0, s.handleToken},
		{http.MethodGet, "/healthz", 0, s.handleHealth},
		{http.MethodGet, "/metrics", 0, promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP},
		{http.MethodGet, "/openapi.json", 0, s.handleOpenAPI},
	}, extra...) {
		pattern := rt.method + " " + rt.path
		s.mux.Handle(pattern, s.wrap(rt.path, rt.scope, rt.h))
		method := rt.method
		if method == http.MethodGet {
			method = "GET, HEAD"
		}
		if i := slices.IndexFunc(allows, func(a allowed) bool { return a.path == rt.path }); i >= 0 {
			allows[i].methods += ", " + method
		} else {
			allows = append(allows, allowed{rt.path, method})
		}
	}
	for _, a := range allows {
		s.mux.Handle(a.path, s.wrap(a.path, 0, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", a.methods)
			s.writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+a.methods)
		}))
	}
	s.mux.Handle("/", s.wrap("other", 0, func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, "no such endpoint")
	}))
}

// recorder captures what a handler answered, for metrics and the access
// log.
type recorder struct {
	http.ResponseWriter
	status int // the first status written: the answer's
	last   int // the last status written, as promhttp counted it
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.last = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
		r.last = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

var recorderPool = sync.Pool{New: func() any { return new(recorder) }}

// wrap adds authentication (for scope != 0), metrics and the access log to
// a handler of route, the endpoint's path (or "other"). The access log names
// the path, never the query string, which may hold an email or a token.
//
// The order, from the outside in: the recorder, which the request metrics
// (routeMetrics) and the access log read once the handler returned, then
// the panic guard, so that a panic's 500 is counted too, and
// authentication.
func (s *Server) wrap(route string, scope Scope, h http.HandlerFunc) http.Handler {
	inner := func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "route", route, "panic", fmt.Sprint(p))
				if rec := unwrapRecorder(w); rec == nil || rec.status == 0 {
					s.writeError(w, http.StatusInternalServerError, "internal error")
				}
			}
		}()
		if scope != 0 && !s.authorize(w, r, scope) {
			return
		}
		h(w, r)
	}
	rm := s.metrics.route(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := recorderPool.Get().(*recorder)
		*rec = recorder{ResponseWriter: w}
		inner(rec, r)
		took := time.Since(start)
		rm.observe(rec.last, r.Method, took)
		if s.log.Enabled(r.Context(), slog.LevelInfo) {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("route", route), slog.Int("status", status),
				slog.Int64("bytes", rec.bytes), slog.Duration("duration", took),
				slog.String("remote", r.RemoteAddr))
		}
		*rec = recorder{}
		recorderPool.Put(rec)
	})
}

// unwrapRecorder returns the recorder below w, or nil.
func unwrapRecorder(w http.ResponseWriter) *recorder {
	for {
		switch v := w.(type) {
		case *recorder:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// authorize authenticates r and checks that its token holds scope; if not,
// it answers 401, 403 or 429 and reports false.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, scope Scope) bool {
	have, err := s.auth.authenticate(r)
	if err != nil {
		if te := (*throttledError)(nil); errors.As(err, &te) {
			s.tooMany(w, te)
			return false
		}
		hdr := `Bearer realm="abandoned"`
		if err != errNoToken {
			hdr = `Bearer realm="abandoned", error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", hdr)
		s.writeError(w, http.StatusUnauthorized, err.Error())
		return false
	}
	if have&scope == 0 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="abandoned", error="insufficient_scope", scope="`+scope.name()+`"`)
		s.writeError(w, http.StatusForbidden, "token lacks the "+scope.name()+" scope")
		return false
	}
	return true
}

// Header values shared by every answer; net/http does not modify them.
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
	hdrNoSniff = []string{"nosniff"}
)

// contentLength is a Content-Length header's value and the bytes of its
// text: one allocation instead of two.
type contentLength struct {
	v [1]string
	b [20]byte
}

// writeJSON writes a finished JSON body.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["X-Content-Type-Options"] = hdrNoSniff
	cl := new(contentLength)
	n := strconv.AppendInt(cl.b[:0], int64(len(body)), 10)
	cl.v[0] = unsafe.String(&n[0], len(n)) // n is never written again
	h["Content-Length"] = cl.v[:]
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client went away; nothing to do
}

// writeError answers {"message":msg}.
func (s *Server) writeError(w http.ResponseWriter, status int, msg string) {
	s.writeErrorIndex(w, status, msg, -1)
}

// writeErrorIndex answers {"message":msg,"index":index}; index < 0 leaves
// it out.
func (s *Server) writeErrorIndex(w http.ResponseWriter, status int, msg string, index int) {
	bp := getBuf()
	*bp = appendMessage((*bp)[:0], msg, index)
	writeJSON(w, status, *bp)
	putBuf(bp)
}

// engineError answers an error of the engine that is not the client's
// fault.
func (s *Server) engineError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, basket.ErrClosed):
		s.writeError(w, http.StatusServiceUnavailable, "shutting down")
	case errors.Is(err, basket.ErrStorage):
		s.log.ErrorContext(r.Context(), "storage failed", "path", r.URL.Path, "err", err.Error())
		s.writeError(w, http.StatusServiceUnavailable, "storage failed: the server takes no writes")
	case errors.Is(err, basket.ErrCatchingUp):
		w.Header().Set("Retry-After", "1")
		s.writeError(w, http.StatusServiceUnavailable, "catching up with the cluster's log")
	case errors.Is(err, basket.ErrDiverged):
		s.log.ErrorContext(r.Context(), "node stopped serving", "path", r.URL.Path, "err", err.Error())
		s.writeError(w, http.StatusServiceUnavailable, "this node disagrees with the cluster's log and stopped serving")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		s.writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		s.log.ErrorContext(r.Context(), "engine error", "path", r.URL.Path, "err", err.Error())
		s.writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// queryError answers a bad parameter: a *paramError or a *basket.QueryError.
// It reports false for any other error.
func (s *Server) queryError(w http.ResponseWriter, err error) bool {
	var pe *paramError
	var qe *basket.QueryError
	switch {
	case errors.As(err, &pe):
		s.writeError(w, http.StatusBadRequest, pe.Error())
	case errors.As(err, &qe):
		s.writeError(w, http.StatusBadRequest, qe.Param+": "+qe.Reason)
	default:
		return false
	}
	return true
}

func (s *Server) handleAbandoned(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		s.queryError(w, err)
		return
	}
	// The items are encoded as the engine hands them over: no page of
	// baskets is built.
	bp := getBuf()
	defer putBuf(bp)
	buf := append((*bp)[:0], `{"items":[`...)
	n := 0
	p, err := s.eng.AbandonedFunc(r.Context(), q, func(b *basket.Basket) {
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = appendBasket(buf, b, false)
		n++
	})
	if err != nil {
		if !s.queryError(w, err) {
			s.engineError(w, r, err)
		}
		return
	}
	s.metrics.queryPages.Inc()
	s.metrics.queryItems.Add(float64(n))
	*bp = appendPageEnd(buf, &p)
	writeJSON(w, http.StatusOK, *bp)
}

func (s *Server) handleFeed(w http.ResponseWriter, r *http.Request) {
	after, limit, err := parseFeed(r.URL.RawQuery)
	if err != nil {
		s.queryError(w, err)
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	buf := append((*bp)[:0], `{"items":[`...)
	n := 0
	p, err := s.eng.FeedFunc(r.Context(), after, limit, func(b *basket.Basket) {
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = appendBasket(buf, b, true)
		n++
	})
	if err != nil {
		if !s.queryError(w, err) {
			s.engineError(w, r, err)
		}
		return
	}
	s.metrics.feedPages.Inc()
	s.metrics.feedItems.Add(float64(n))
	*bp = appendFeedEnd(buf, &p)
	writeJSON(w, http.StatusOK, *bp)
}

// handleCustomer answers GET /api/checkout/customer?email=: every live
// basket of one customer, whatever its state, so that a campaign can check
// at the moment of sending whether the customer has bought since.
func (s *Server) handleCustomer(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "malformed query string")
		return
	}
	email := q.Get("email")
	if err := basket.ValidateEmail(email); err != nil {
		s.writeError(w, http.StatusBadRequest, "email: "+err.Error())
		return
	}
	bs, err := s.eng.Customer(r.Context(), email)
	if err != nil {
		s.engineError(w, r, err)
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	*bp = appendCustomer((*bp)[:0], bs)
	writeJSON(w, http.StatusOK, *bp)
}

// handleHealth answers the public probe. It only reads (Engine.Health takes
// no lock): maintenance runs where writes run.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	switch err := s.eng.Health(r.Context()); {
	case err == nil && s.eng.Replicated():
		// A node of a cluster says where it is in the log.
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		applied, last, lerr := s.eng.Position(ctx)
		cancel()
		if lerr != nil {
			s.writeError(w, http.StatusServiceUnavailable, "the cluster's log does not answer")
			return
		}
		writeJSON(w, http.StatusOK, []byte(fmt.Sprintf("{\"status\":\"ok\",\"applied\":\"%d\",\"log\":\"%d\"}\n", applied, last)))
	case err == nil:
		writeJSON(w, http.StatusOK, []byte("{\"status\":\"ok\"}\n"))
	case errors.Is(err, basket.ErrCatchingUp):
		w.Header().Set("Retry-After", "1")
		s.writeError(w, http.StatusServiceUnavailable, "catching up with the cluster's log")
	case errors.Is(err, basket.ErrDiverged):
		s.writeError(w, http.StatusServiceUnavailable, "this node disagrees with the cluster's log and stopped serving")
	case errors.Is(err, basket.ErrClosed):
		s.writeError(w, http.StatusServiceUnavailable, "shutting down")
	case errors.Is(err, basket.ErrStorage):
		// Named, without the operating system's words (paths stay private).
		s.writeError(w, http.StatusServiceUnavailable, "storage failed: the server takes no writes until it is restarted")
	default:
		s.writeError(w, http.StatusServiceUnavailable, "unavailable")
	}
}

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully: it stops accepting, lets requests in flight finish (for at
// most Options.ShutdownTimeout) and returns. It logs one line, "ready",
// naming the address, once it accepts connections. It does not close the
// engine.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return serveHandler(ctx, ln, s, &s.opts, "alias", s.eng.Alias())
}

// ServeHandler serves h on ln as Server.Serve serves a Server, with the
// timeouts, shutdown timeout and logger of opts (their defaults where
// unset): for a handler in front of one or several Servers, such as Hosts
// or a mux that adds pages of its own.
func ServeHandler(ctx context.Context, ln net.Listener, h http.Handler, opts *Options, logAttrs ...any) error {
	o := *opts
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []struct {
		p *time.Duration
		v time.Duration
	}{{&o.ReadHeaderTimeout, 10 * time.Second}, {&o.ReadTimeout, time.Minute}, {&o.WriteTimeout, time.Minute},
		{&o.IdleTimeout, 2 * time.Minute}, {&o.ShutdownTimeout, DefaultShutdownTimeout}} {
		if *d.p == 0 {
			*d.p = d.v
		}
	}
	return serveHandler(ctx, ln, h, &o, logAttrs...)
}

func serveHandler(ctx context.Context, ln net.Listener, h http.Handler, o *Options, logAttrs ...any) error {
	log := o.Logger
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("ready", append([]any{"addr", ln.Addr().String()}, logAttrs...)...)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		hs.Close()
		return fmt.Errorf("httpapi: shutdown: %w", err)
	}
	log.Info("stopped", "addr", ln.Addr().String())
	return nil
}
