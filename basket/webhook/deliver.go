package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Source is what a Deliverer delivers from: a *basket.Engine, whose change
// journal (basket.Options.ChangeRetention) must be on.
type Source interface {
	Changes(ctx context.Context, after uint64, limit int) (basket.ChangePage, error)
	ChangesWait() <-chan struct{}
	LastChange(ctx context.Context) (uint64, error)
}

// Lease decides which of the processes that share a Source (the nodes of
// a cluster) delivers its webhooks: the one that holds it. Package cluster
// has one in JetStream key-value.
type Lease interface {
	// Acquire waits until this process holds the lease, or ctx is done. It
	// returns a context that is done once the lease is lost (before any
	// other process can acquire it) or ctx is done, and a function that
	// gives the lease up at once; the caller calls it exactly once, after it
	// stopped delivering.
	Acquire(ctx context.Context) (held context.Context, release func(), err error)
}

// Defaults of Options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultKeepAttempts = 100
	DefaultResumePoll   = 10 * time.Second
)

// DefaultRetry is the retry schedule by default: after the n-th failed
// attempt at an event, a wait drawn at random between 0 and
// min(1 h, 1 s × 2^(n-1)) (exponential backoff with full jitter: at most
// 1 s, 2 s, 4 s … 34 min 8 s, then 1 h), for as long as the next attempt
// falls within 3 days of the first. Then the endpoint is failing.
var DefaultRetry = Retry{First: time.Second, Max: time.Hour, For: 72 * time.Hour}

// Retry is a retry schedule: exponential backoff with full jitter.
type Retry struct {
	First time.Duration // the longest wait after the first failed attempt
	Max   time.Duration // the longest wait after any
	For   time.Duration // how long after an event's first attempt the last may be made
}

// Ceiling returns the longest wait after the n-th failed attempt (n ≥ 1):
// min(Max, First × 2^(n-1)). The wait is drawn between 0 and that.
func (r Retry) Ceiling(n int) time.Duration {
	d := r.First
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// saveTimeout bounds one save of a checkpoint.
const saveTimeout = 5 * time.Second

// saveEvery is how often, at most, the checkpoint is saved while a backlog
// drains (and after every page of changes): what a crash may have
// delivered without saving, and repeats.
const saveEvery = 200 * time.Millisecond

// pageSize is how many changes an endpoint reads at a time.
const pageSize = 100

// maxAnswer is how much of an answer's body is read (and dropped), so that
// its connection can be used again.
const maxAnswer = 64 << 10

// Options configure a Deliverer. A nil *Options has no endpoint.
type Options struct {
	// Endpoints receive the changes, each in the journal's order. Default:
	// none.
	Endpoints []Endpoint

	// Alias is the environment's name, part of every event id. Default "".
	Alias string

	// Store keeps each endpoint's delivery state. Default: a MemoryStore,
	// so that a restart forgets what was delivered.
	Store Store

	// Lease, if set, makes the Deliverer deliver only while it holds the
	// lease, for the nodes of a cluster. Default nil: it always delivers.
	Lease Lease

	// AllowPrivate lets endpoints be on loopback, private and other
	// internal networks. Default false: the owner of an environment cannot
	// make the server call into its own network.
	AllowPrivate bool

	// Timeout is how long a receiver has to answer a request (a 2xx within
	// it is delivered). Default DefaultTimeout (10 s).
	Timeout time.Duration

	// Retry is the retry schedule. Zero fields take DefaultRetry's.
	Retry Retry

	// KeepAttempts is how many attempts the deliveries list keeps for
	// each endpoint. Default DefaultKeepAttempts.
	KeepAttempts int

	// ResumePoll is how often, with a Lease, an endpoint that is failing or
	// disabled rereads its state from the Store, for a Resume made on
	// another node. Default DefaultResumePoll.
	ResumePoll time.Duration

	// Now is the clock: of attempts, signatures and the retry schedule.
	// Default time.Now.
	Now func() time.Time

	// Sleep waits d or until ctx is done (then it returns ctx's error);
	// the retry schedule's waits go through it. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error

	// Jitter draws a wait between 0 and max, both included. Default:
	// uniformly at random.
	Jitter func(max time.Duration) time.Duration

	// Resolver looks up the endpoints' host names. Default
	// net.DefaultResolver.
	Resolver Resolver

	// Logger receives a line when delivery starts and stops, and when an
	// endpoint becomes failing or disabled; never a body, secret or URL
	// query. Default: no logging.
	Logger *slog.Logger
}

// Deliverer POSTs the changes of a Source to endpoints: one goroutine per
// endpoint, each delivering in the journal's order, at least once, from a
// durable checkpoint. Start starts it, Close stops it.
type Deliverer struct {
	src       Source
	o         Options
	log       *slog.Logger
	eps       []*endpoint
	guard     *guard
	transport *http.Transport
	client    *http.Client
	m         *metrics

	delivering atomic.Bool // this process delivers (holds the lease)

	ctx       context.Context // done at Close
	cancel    context.CancelFunc
	done      chan struct{} // closed when run returned
	closeOnce sync.Once
}

// endpoint is a configured endpoint and what the Deliverer knows of it.
type endpoint struct {
	id      string
	url     string // as configured; never logged or shown (shown is)
	shown   string // Redact(url)
	secrets [][]byte
	events  []basket.ChangeType // nil: all
	resume  chan struct{}       // a Resume of this process, buffered 1

	mu       sync.Mutex // guards cp, loaded and the ring of attempts
	cp       checkpoint
	loaded   bool      // cp is what this process loaded or saved
	attempts []Attempt // a ring of the last KeepAttempts
	next     int       // where the next attempt goes in the ring
}

// Attempt is one attempt at delivering an event, or a loss of changes.
type Attempt struct {
	Time    time.Time         // when it was made
	EventID string            // the event's id
	Type    basket.ChangeType // the change's type
	Seq     uint64            // the change's sequence in the journal
	Attempt int               // 1 for an event's first attempt
	Outcome string            // delivered, retry, failing, disabled, stopped or lost
	Status  int               // the answer's HTTP status; 0 if none came
	Error   string            // why it failed; "" if delivered
	Latency time.Duration     // from the request to the answer's header
	// NextAttempt is when the event is tried again, for Outcome retry.
	NextAttempt time.Time
}

// The outcomes of an Attempt.
const (
	OutcomeDelivered = "delivered" // a 2xx in time
	OutcomeRetry     = "retry"     // failed; tried again at NextAttempt
	OutcomeFailing   = "failing"   // failed for Retry.For: the endpoint is failing
	OutcomeDisabled  = "disabled"  // 410 Gone: the endpoint is disabled
	OutcomeStopped   = "stopped"   // cut by Close or a lost lease; tried again by whoever delivers next
	OutcomeLost      = "lost"      // changes older than the journal keeps were never delivered
)

// Start checks opts and starts delivering from src. ctx bounds the start
// only (a look at src's journal); the Deliverer runs until Close.
func Start(ctx context.Context, src Source, opts *Options) (*Deliverer, error) {
	if src == nil {
		return nil, errors.New("webhook: nil source")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Store == nil {
		o.Store = NewMemoryStore()
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("webhook: Timeout %v is negative", o.Timeout)
	}
	if o.Retry.First == 0 {
		o.Retry.First = DefaultRetry.First
	}
	if o.Retry.Max == 0 {
		o.Retry.Max = DefaultRetry.Max
	}
	if o.Retry.For == 0 {
		o.Retry.For = DefaultRetry.For
	}
	if o.Retry.First < 0 || o.Retry.Max < o.Retry.First || o.Retry.For < 0 {
		return nil, fmt.Errorf("webhook: Retry %+v: want 0 < First <= Max and For >= 0", o.Retry)
	}
	if o.KeepAttempts == 0 {
		o.KeepAttempts = DefaultKeepAttempts
	}
	if o.KeepAttempts < 1 {
		return nil, fmt.Errorf("webhook: KeepAttempts %d: want 1 or more", o.KeepAttempts)
	}
	if o.ResumePoll <= 0 {
		o.ResumePoll = DefaultResumePoll
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Jitter == nil {
		o.Jitter = func(max time.Duration) time.Duration { return rand.N(max + 1) }
	}
	if o.Resolver == nil {
		o.Resolver = defaultResolver
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Deliverer{src: src, o: o, log: o.Logger, done: make(chan struct{})}
	seen := map[string]bool{}
	for i := range o.Endpoints {
		ep := &o.Endpoints[i]
		if _, err := ep.check(o.AllowPrivate); err != nil {
			return nil, err
		}
		id := ep.ID()
		if seen[id] {
			return nil, &EndpointError{URL: Redact(ep.URL), Field: "url", Reason: "given twice", Err: ErrInvalidEndpoint}
		}
		seen[id] = true
		var events []basket.ChangeType
		for _, t := range basket.ChangeTypes {
			if len(ep.Events) == 0 || slices.Contains(ep.Events, t) {
				events = append(events, t)
			}
		}
		d.eps = append(d.eps, &endpoint{
			id: id, url: ep.URL, shown: Redact(ep.URL), events: events,
			secrets:  slices.Clone(ep.Secrets),
			resume:   make(chan struct{}, 1),
			attempts: make([]Attempt, 0, o.KeepAttempts),
		})
	}
	if len(d.eps) > 0 {
		// The journal must be on: a server that cannot deliver says so now.
		last, err := src.LastChange(ctx)
		if err == nil {
			_, err = src.Changes(ctx, last, 1)
		}
		if err != nil && !errors.Is(err, basket.ErrChangesGone) {
			return nil, fmt.Errorf("webhook: the change journal: %w", err)
		}
	}
	d.guard = &guard{allowPrivate: o.AllowPrivate, resolver: o.Resolver, timeout: o.Timeout}
	d.transport = &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the guard
		DialContext:           d.guard.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
	}
	d.client = &http.Client{
		Transport: d.transport,
		// A redirect is not followed: the endpoint is the URL configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	d.m = newMetrics(d)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	go d.run()
	return d, nil
}

// Close stops delivering, waits for every goroutine of d to end (a request
// in flight is cut; its event is sent again by whoever delivers next) and
// gives the lease up. It is safe to call more than once.
func (d *Deliverer) Close() error {
	d.closeOnce.Do(func() {
		d.cancel()
		<-d.done
		d.transport.CloseIdleConnections()
	})
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// run delivers while this process holds the lease (always, without one):
// an endpoint goroutine per endpoint, all stopped when the lease is lost,
// before the lease is released.
func (d *Deliverer) run() {
	defer close(d.done)
	if len(d.eps) == 0 {
		return
	}
	for d.ctx.Err() == nil {
		held, release := d.ctx, func() {}
		if d.o.Lease != nil {
			h, r, err := d.o.Lease.Acquire(d.ctx)
			if err != nil {
				if d.ctx.Err() == nil {
					d.log.Warn("webhooks: the delivery lease", "err", err.Error())
					sleep(d.ctx, time.Second) //nolint:errcheck // the loop checks d.ctx
				}
				continue
			}
			held, release = h, r
			d.log.Info("webhooks: delivering (this node holds the lease)", "endpoints", len(d.eps))
		}
		d.delivering.Store(true)
		var wg sync.WaitGroup
		for _, ep := range d.eps {
			wg.Go(func() { d.runEndpoint(held, ep) })
		}
		wg.Wait()
		d.delivering.Store(false)
		release()
		if d.o.Lease == nil {
			return
		}
		if d.ctx.Err() == nil {
			d.log.Warn("webhooks: stopped delivering: the lease was lost")
		}
	}
}

// runEndpoint delivers ep's changes until ctx is done.
func (d *Deliverer) runEndpoint(ctx context.Context, ep *endpoint) {
	var fails int // consecutive errors of the source or the store
	for ctx.Err() == nil {
		if err := d.load(ctx, ep); err != nil {
			if ctx.Err() == nil {
				d.log.Error("webhooks: loading the delivery state", "endpoint", ep.id, "err", err.Error())
				d.pause(ctx, &fails)
			}
			continue
		}
		break
	}
	fails = 0
	// The checkpoint is saved after each page of changes, every saveEvery
	// while a backlog drains, before waiting for more and when delivery
	// stops; nothing is sent after a save that failed until it succeeds.
	dirty, saved := false, time.Now()
	flush := func() {
		if dirty {
			d.save(ctx, ep, ep.checkpoint())
			dirty, saved = false, time.Now()
		}
	}
	for ctx.Err() == nil {
		cp := ep.checkpoint()
		if cp.Status != StatusActive {
			d.waitResume(ctx, ep)
			continue
		}
		wake := d.src.ChangesWait()
		page, err := d.src.Changes(ctx, cp.Seq, pageSize)
		var gone *basket.ChangesGoneError
		switch {
		case errors.As(err, &gone):
			d.lose(ctx, ep, gone)
			continue
		case errors.Is(err, basket.ErrClosed):
			<-ctx.Done() // the engine is gone; the server is stopping
			return
		case err != nil:
			if ctx.Err() == nil {
				d.log.Warn("webhooks: reading the change journal", "endpoint", ep.id, "err", err.Error())
				d.pause(ctx, &fails)
			}
			continue
		}
		fails = 0
		if len(page.Items) == 0 {
			flush()
			select {
			case <-wake:
			case <-ctx.Done():
			}
			continue
		}
		for i := range page.Items {
			ch := &page.Items[i]
			if !slices.Contains(ep.events, ch.Type) {
				cp := ep.checkpoint()
				cp.Seq = ch.Seq
				ep.set(cp)
				dirty = true
				continue
			}
			if !d.deliver(ctx, ep, ch) {
				break
			}
			dirty = true
			if time.Since(saved) >= saveEvery {
				flush()
			}
		}
		flush()
	}
	flush()
}

// pause waits after the n-th consecutive error of the source or the store:
// 100 ms, doubling to 10 s.
func (d *Deliverer) pause(ctx context.Context, n *int) {
	*n++
	wait := min(100*time.Millisecond<<min(*n-1, 7), 10*time.Second)
	d.o.Sleep(ctx, wait) //nolint:errcheck // the caller checks ctx
}

// load reads ep's checkpoint from the store; an endpoint with none starts
// after the journal's last change, saved at once, so that it gets what
// happens from its first start on, and a restart does not move it.
func (d *Deliverer) load(ctx context.Context, ep *endpoint) error {
	b, err := d.o.Store.Load(ctx, ep.id)
	if err != nil {
		return err
	}
	if b == nil {
		last, err := d.src.LastChange(ctx)
		if err != nil {
			return err
		}
		cp := checkpoint{Seq: last, Status: StatusActive}
		if err := d.o.Store.Save(ctx, ep.id, cp.encode()); err != nil {
			return err
		}
		ep.set(cp)
		d.log.Info("webhooks: a new endpoint gets the changes from now on", "endpoint", ep.id, "url", ep.shown)
		return nil
	}
	cp, err := decodeCheckpoint(b)
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", ep.id, err)
	}
	ep.set(cp)
	return nil
}

// save stores cp as ep's checkpoint, trying again (with pauses) until it
// is stored or ctx is done; it reports whether it was stored. Nothing more
// is delivered to ep until it is. The first try is made even if ctx is
// done (for at most saveTimeout): what was delivered just before a stop
// is not delivered again.
func (d *Deliverer) save(ctx context.Context, ep *endpoint, cp checkpoint) bool {
	ep.set(cp)
	b := cp.encode()
	fails := 0
	for {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
		err := d.o.Store.Save(sctx, ep.id, b)
		cancel()
		if err == nil {
			return ctx.Err() == nil
		}
		if ctx.Err() != nil {
			return false
		}
		d.log.Error("webhooks: saving the delivery state", "endpoint", ep.id, "err", err.Error())
		d.pause(ctx, &fails)
	}
}

// lose records that the changes gone reports were dropped from the
// journal before ep got them, and moves ep's checkpoint past them.
func (d *Deliverer) lose(ctx context.Context, ep *endpoint, gone *basket.ChangesGoneError) {
	cp := ep.checkpoint()
	n := gone.Oldest - min(gone.After, gone.Oldest)
	d.log.Error("webhooks: changes were dropped from the journal before they were delivered",
		"endpoint", ep.id, "after", gone.After, "up_to", gone.Oldest, "changes", n)
	ep.record(Attempt{Time: d.o.Now(), Seq: gone.Oldest, Outcome: OutcomeLost,
		Error: fmt.Sprintf("%d changes after %d up to %d were older than the journal keeps and were never delivered", n, gone.After, gone.Oldest)})
	d.m.lost.WithLabelValues(ep.id).Add(float64(n))
	cp.Seq, cp.Attempts, cp.FirstAttempt = gone.Oldest, 0, time.Time{}
	d.save(ctx, ep, cp)
}

// deliver sends ch to ep until it is delivered (true), ep becomes failing
// or disabled, or ctx is done (false).
func (d *Deliverer) deliver(ctx context.Context, ep *endpoint, ch *basket.Change) bool {
	id := EventID(d.o.Alias, ep.id, ch.Seq)
	body := appendBody(nil, id, ch)
	for {
		cp := ep.checkpoint()
		n := cp.Attempts + 1
		res := d.post(ctx, ep, id, body)
		d.m.latency.WithLabelValues(ep.id).Observe(res.latency.Seconds())
		a := Attempt{Time: res.at, EventID: id, Type: ch.Type, Seq: ch.Seq, Attempt: n,
			Status: res.status, Latency: res.latency, Error: res.reason(d.o.Timeout)}
		switch {
		case res.delivered():
			a.Outcome = OutcomeDelivered
			d.m.delivered.WithLabelValues(ep.id).Inc()
			ep.record(a)
			ep.set(checkpoint{Seq: ch.Seq, Status: StatusActive}) // saved by the caller
			return true
		case ctx.Err() != nil:
			a.Outcome, a.Error = OutcomeStopped, "stopped before an answer came: delivery stopped here"
			ep.record(a)
			return false
		}
		d.m.failures.WithLabelValues(ep.id).Inc()
		if cp.FirstAttempt.IsZero() {
			cp.FirstAttempt = res.at
		}
		cp.Attempts = n
		if res.status == http.StatusGone {
			a.Outcome = OutcomeDisabled
			ep.record(a)
			cp.Status, cp.Since = StatusDisabled, d.o.Now()
			cp.Reason = fmt.Sprintf("the endpoint answered 410 Gone to event %s", id)
			d.log.Warn("webhooks: endpoint disabled: it answered 410 Gone", "endpoint", ep.id, "url", ep.shown, "event", id)
			d.save(ctx, ep, cp)
			return false
		}
		wait := d.o.Jitter(d.o.Retry.Ceiling(n))
		next := d.o.Now().Add(wait)
		if next.Sub(cp.FirstAttempt) > d.o.Retry.For {
			a.Outcome = OutcomeFailing
			ep.record(a)
			cp.Status, cp.Since = StatusFailing, d.o.Now()
			cp.Reason = fmt.Sprintf("event %s undelivered after %d attempts since %s; the last: %s",
				id, n, cp.FirstAttempt.UTC().Format(time.RFC3339), a.Error)
			d.log.Warn("webhooks: endpoint failing: an event went undelivered for the whole retry schedule",
				"endpoint", ep.id, "url", ep.shown, "event", id, "attempts", n)
			d.save(ctx, ep, cp)
			return false
		}
		a.Outcome, a.NextAttempt = OutcomeRetry, next
		ep.record(a)
		if !d.save(ctx, ep, cp) {
			return false
		}
		if d.o.Sleep(ctx, wait) != nil {
			return false
		}
	}
}

// result is what an attempt got.
type result struct {
	at      time.Time
	status  int
	err     error
	latency time.Duration
}

func (r *result) delivered() bool { return r.err == nil && r.status >= 200 && r.status <= 299 }

// cause is the error of a failed request without the *url.Error around
// it, whose text repeats the URL, query and all.
func (r *result) cause() error {
	err := r.err
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}

// reason says why an attempt failed, without the URL; "" if it did not.
func (r *result) reason(timeout time.Duration) string {
	switch {
	case r.delivered():
		return ""
	case r.err != nil:
		err := r.cause()
		switch {
		case errors.Is(err, ErrPrivateAddress):
			return "refused: " + err.Error()
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Sprintf("no answer within %v", timeout)
		}
		return err.Error()
	case r.status == http.StatusGone:
		return "410 Gone: the endpoint asks for no more"
	}
	return fmt.Sprintf("answered %d %s", r.status, http.StatusText(r.status))
}

// post makes one attempt: the signed POST of body, answered within
// Options.Timeout.
func (d *Deliverer) post(ctx context.Context, ep *endpoint, id string, body []byte) result {
	at := d.o.Now()
	return sendOnce(ctx, d.client, ep.url, ep.secrets, id, body, at, d.o.Timeout, io.Discard)
}

// sendOnce POSTs body to rawURL signed at time at, and copies up to
// maxAnswer bytes of the answer's body to answer.
func sendOnce(ctx context.Context, c *http.Client, rawURL string, secrets [][]byte, id string, body []byte,
	at time.Time, timeout time.Duration, answer io.Writer) result {
	res := result{at: at}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		res.err = err
		return res
	}
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["User-Agent"] = []string{"abandoned-webhook/1"}
	h[EventIDHeader] = []string{id}
	h[SignatureHeader] = []string{Sign(secrets, at.Unix(), body)}
	start := time.Now()
	resp, err := c.Do(req)
	res.latency = time.Since(start)
	if err != nil {
		res.err = err
		return res
	}
	res.status = resp.StatusCode
	io.Copy(answer, io.LimitReader(resp.Body, maxAnswer)) //nolint:errcheck // the status decided
	resp.Body.Close()
	return res
}

// waitResume waits, for an endpoint that is failing or disabled, until it
// is resumed here, or (with a lease) its stored state says it was resumed
// on another node, or ctx is done.
func (d *Deliverer) waitResume(ctx context.Context, ep *endpoint) {
	var poll <-chan time.Time
	if d.o.Lease != nil {
		t := time.NewTicker(d.o.ResumePoll)
		defer t.Stop()
		poll = t.C
	}
	select {
	case <-ctx.Done():
	case <-ep.resume:
	case <-poll:
		if b, err := d.o.Store.Load(ctx, ep.id); err == nil && b != nil {
			if cp, err := decodeCheckpoint(b); err == nil && cp.Status == StatusActive {
				ep.set(cp)
				d.log.Info("webhooks: endpoint resumed", "endpoint", ep.id)
			}
		}
	}
}

// Resume makes a failing or disabled endpoint (its URL or id) active
// again: delivery goes on from the change it stopped at, its retry
// schedule from the start. An endpoint that is active stays as it is. On
// a node of a cluster that does not deliver, it changes the stored state,
// which the node that delivers reads within Options.ResumePoll.
func (d *Deliverer) Resume(ctx context.Context, ref string) (Status, error) {
	if d.ctx.Err() != nil {
		return "", ErrClosed
	}
	ep, err := d.lookup(ref)
	if err != nil {
		return "", err
	}
	var cp checkpoint
	if d.delivering.Load() {
		cp = ep.checkpoint()
	} else {
		b, err := d.o.Store.Load(ctx, ep.id)
		if err != nil {
			return "", err
		}
		if b == nil {
			return StatusActive, nil // never started: nothing to resume
		}
		if cp, err = decodeCheckpoint(b); err != nil {
			return "", err
		}
	}
	if cp.Status == StatusActive {
		return StatusActive, nil
	}
	cp = checkpoint{Seq: cp.Seq, Status: StatusActive}
	if err := d.o.Store.Save(ctx, ep.id, cp.encode()); err != nil {
		return "", err
	}
	ep.set(cp)
	d.log.Info("webhooks: endpoint resumed", "endpoint", ep.id, "url", ep.shown)
	select {
	case ep.resume <- struct{}{}:
	default:
	}
	return StatusActive, nil
}

// lookup finds an endpoint by its URL or id.
func (d *Deliverer) lookup(ref string) (*endpoint, error) {
	for _, ep := range d.eps {
		if ref == ep.id || ref == ep.url {
			return ep, nil
		}
	}
	return nil, ErrUnknownEndpoint
}

// EndpointState is what a Deliverer tells of an endpoint.
type EndpointState struct {
	ID     string              // Endpoint.ID
	URL    string              // redacted (Redact)
	Events []basket.ChangeType // the types it gets
	Status Status
	Since  time.Time // when it became failing or disabled
	Reason string    // why
	// Checkpoint is the last change delivered to it or skipped, as this
	// process last knew it.
	Checkpoint uint64
	// Delivering: this process delivers (it holds the lease).
	Delivering bool
	// Attempts are its latest attempts, newest first.
	Attempts []Attempt
}

// Endpoints returns the state of every endpoint (or of the one whose URL
// or id is ref, if not ""), as this process knows it.
func (d *Deliverer) Endpoints(ref string) ([]EndpointState, error) {
	eps := d.eps
	if ref != "" {
		ep, err := d.lookup(ref)
		if err != nil {
			return nil, err
		}
		eps = []*endpoint{ep}
	}
	delivering := d.delivering.Load()
	var out []EndpointState
	for _, ep := range eps {
		ep.mu.Lock()
		st := EndpointState{ID: ep.id, URL: ep.shown, Events: slices.Clone(ep.events), Status: ep.cp.Status,
			Since: ep.cp.Since, Reason: ep.cp.Reason, Checkpoint: ep.cp.Seq, Delivering: delivering}
		if !ep.loaded {
			st.Status = ""
		}
		for i := range ep.attempts {
			j := (ep.next - 1 - i + 2*len(ep.attempts)) % len(ep.attempts)
			st.Attempts = append(st.Attempts, ep.attempts[j])
		}
		ep.mu.Unlock()
		out = append(out, st)
	}
	return out, nil
}

// checkpoint returns ep's checkpoint.
func (ep *endpoint) checkpoint() checkpoint {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.cp
}

// set makes cp ep's checkpoint.
func (ep *endpoint) set(cp checkpoint) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.cp, ep.loaded = cp, true
}

// record keeps a in ep's ring of attempts.
func (ep *endpoint) record(a Attempt) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if len(ep.attempts) < cap(ep.attempts) {
		ep.attempts = append(ep.attempts, a)
		ep.next = len(ep.attempts) % cap(ep.attempts)
		return
	}
	ep.attempts[ep.next] = a
	ep.next = (ep.next + 1) % len(ep.attempts)
}
