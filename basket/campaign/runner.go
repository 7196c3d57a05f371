package campaign

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/store"
)

// feedPage is how many baskets a runner reads from the feed at a time.
const feedPage = 1000

// Runner runs a campaign: it takes in the baskets of the abandonment feed
// after its activation watermark and sends each its sequence of reminders,
// by the campaign's rules (see the package doc). All its methods are safe
// for concurrent use. Turns (Tick, Settle) run one at a time; while a turn waits for the
// sender, the runner is free: an unsubscribe or a report does not wait for
// a slow mail server.
type Runner struct {
	cfg    *config
	src    Source
	snd    Sender
	tokens Tokens

	turn sync.Mutex // held by a Tick or a Settle for its whole turn, before mu

	mu        sync.Mutex // guards the fields below
	st        *state
	log       *store.Store   // nil in memory
	ownTokens *basket.Engine // tokens of the state directory's secret, if the runner made them
	closed    bool
	resolved  bool  // in-doubt intents of a previous run resolved
	nextCheck int64 // ms; the next look at watched baskets
	nextDue   int64 // ms; no step is due before it; 0: unknown
	locs      map[string]*time.Location
	lastTurn  int64      // ms; the time of the latest turn, 0 if none
	done      TickStats  // the counts of the turns over
	cur       *TickStats // the counts of the turn under way; nil if none
	dryRun    bool       // the sender delivers nothing (DryRun)

	// hook, if set (tests only), is called at the crash points "intent",
	// "commit" and "delivered"; an error from it stops the runner there,
	// as a crash would.
	hook func(point string) error
}

// New returns a runner whose state lives in memory: for simulations and
// dry runs. The campaign is activated at its first Tick.
func New(src Source, snd Sender, opts *Options) (*Runner, error) {
	return Open("", src, snd, opts)
}

// Open returns a runner whose state is kept durably in dir (created if
// needed; locked while the runner is open), or in memory if dir is "". The
// state holds the activation watermark, the feed checkpoint, every
// basket's progress and every intent to send, so that a restart resumes
// where the last run stopped: it sends nothing twice and skips nothing.
func Open(dir string, src Source, snd Sender, opts *Options) (*Runner, error) {
	if src == nil || snd == nil {
		return nil, fmt.Errorf("%w: a source and a sender are required", ErrConfig)
	}
	cfg, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, src: src, snd: snd, tokens: cfg.Tokens, locs: map[string]*time.Location{}}
	_, keepsList := src.(Suppressions)
	if r.tokens == nil {
		if t, ok := src.(Tokens); ok {
			r.tokens = t
		} else if dir == "" && !keepsList {
			return nil, fmt.Errorf("%w: Options.Tokens is required with this source in memory (unsubscribe links)", ErrConfig)
		}
	}
	_, r.dryRun = snd.(*DryRun)
	if dir == "" {
		// In memory: hashes keyed with a random secret, which nothing
		// outlives.
		key, id := emailKey(newSecret())
		r.st = newState(key)
		if err := r.commit(&rec{Kind: kHashKey, Text: id}, true); err != nil {
			return nil, err
		}
	} else {
		st, log, li, err := load(dir, cfg)
		if err != nil {
			return nil, err
		}
		r.st, r.log = st, log
		if st.Activated && st.Name != cfg.Name {
			log.Close()
			return nil, fmt.Errorf("%w: the state in %s is campaign %q's, not %q's", ErrConfig, dir, truncate(st.Name), cfg.Name)
		}
		if err := r.keyState(dir, li); err != nil {
			log.Close()
			return nil, err
		}
		if r.tokens == nil {
			// Under the lock the store holds.
			tok, err := stateTokens(dir, cfg.Logger)
			if err != nil {
				log.Close()
				return nil, err
			}
			r.tokens, r.ownTokens = tok, tok
		}
	}
	r.st.attrWindow = cfg.AttributionWindow.Milliseconds()
	r.st.reindex(len(cfg.Steps))
	if r.st.HoldoutShare != cfg.Holdout {
		// For the report, which compares the groups of one setting.
		if err := r.commit(&rec{Kind: kHoldout, Text: strconv.FormatFloat(cfg.Holdout, 'g', -1, 64)}, true); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// loaded tells what load found besides the state.
type loaded struct {
	secret []byte // of the email-hash key
	made   bool   // the secret was made now: the directory has none (written by keyState)
}

// load reads a durable state, with the email-hash key derived from the
// directory's secret (hashSecretFile), or from a new one, not written yet,
// if it has none. Under the lock the store holds.
func load(dir string, cfg *config) (*state, *store.Store, loaded, error) {
	var li loaded
	log, err := store.Open(dir, &store.Options{Sync: cfg.Sync})
	if err != nil {
		return nil, nil, li, fmt.Errorf("campaign: %w", err)
	}
	li.secret, _, err = readSecret(dir, hashSecretFile)
	if err != nil {
		log.Close()
		return nil, nil, li, err
	}
	if li.secret == nil {
		li.secret, li.made = newSecret(), true
	}
	key, _ := emailKey(li.secret)
	st := newState(key)
	st.attrWindow = cfg.AttributionWindow.Milliseconds()
	if _, err := log.LoadSnapshot(func(rd io.Reader) error {
		s, err := decodeState(rd, key)
		if err != nil {
			return err
		}
		st = s
		st.attrWindow = cfg.AttributionWindow.Milliseconds()
		return nil
	}); err != nil {
		log.Close()
		return nil, nil, li, fmt.Errorf("campaign: %w", err)
	}
	n := 0
	if _, err := log.Replay(func(b []byte) error {
		n++
		var r rec
		if err := msgpack.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		if err := st.apply(&r); err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		return nil
	}); err != nil {
		log.Close()
		return nil, nil, li, fmt.Errorf("campaign: replaying %s: %w", dir, err)
	}
	return st, log, li, nil
}

// keyState checks that the state's email hashes are keyed with the
// directory's secret, or keys them: a new state, or one of a version that
// hashed addresses without a key, whose hashes load keyed already (rekey).
// A directory whose files hold unkeyed hashes is snapshotted at once, so
// that they leave it. r.mu need not be held: the runner is not shared yet.
func (r *Runner) keyState(dir string, li loaded) error {
	_, id := emailKey(li.secret)
	switch {
	case r.st.HashKey == id:
		return r.dropUnkeyed()
	case r.st.HashKey != "" && li.made:
		return fmt.Errorf("%w: the state in %s has a suppression list keyed with the secret of %s, which is missing: restore it (it cannot be made again)",
			ErrConfig, dir, hashSecretFile)
	case r.st.HashKey != "":
		return fmt.Errorf("%w: %s is not the secret of the state in %s", ErrConfig, hashSecretFile, dir)
	}
	if li.made {
		if err := writeSecret(dir, hashSecretFile, li.secret); err != nil {
			return err
		}
	}
	if err := r.commit(&rec{Kind: kHashKey, Text: id}, true); err != nil {
		return err
	}
	return r.dropUnkeyed()
}

// dropUnkeyed snapshots a state loaded from files that held unkeyed
// hashes (and keyed them), so that the files leave the directory. It is
// done again at the next Open if it fails or is interrupted.
func (r *Runner) dropUnkeyed() error {
	if !r.st.unkeyed {
		return nil
	}
	seq, err := r.log.Rotate()
	if err == nil {
		err = r.log.WriteSnapshot(seq, r.st.encode)
	}
	if err != nil {
		return fmt.Errorf("campaign: snapshot of the state with keyed hashes: %w", err)
	}
	r.st.unkeyed = false
	r.cfg.Logger.Info("campaign: the state's email hashes are keyed now", "suppressed", len(r.st.Suppressed))
	return nil
}

// Close releases the state's directory. It is idempotent. It writes
// nothing: everything was written as it happened.
func (r *Runner) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var err error
	if r.ownTokens != nil {
		err = r.ownTokens.Close()
	}
	if r.log != nil {
		err = errors.Join(r.log.Close(), err)
	}
	return err
}

// commit appends a record (durably, if asked, together with every record
// before it) and applies it. r.mu must be held.
func (r *Runner) commit(x *rec, durable bool) error {
	if r.log != nil {
		b, err := msgpack.Marshal(x)
		if err != nil {
			return err
		}
		ticket, err := r.log.Append(b)
		if err != nil {
			return fmt.Errorf("campaign: recording: %w", err)
		}
		if durable {
			if err := r.log.Wait(ticket); err != nil {
				return fmt.Errorf("campaign: recording: %w", err)
			}
		}
	}
	if err := r.st.apply(x); err != nil {
		return fmt.Errorf("campaign: internal error: %w", err)
	}
	return nil
}

func (r *Runner) crash(point string) error {
	if r.hook != nil {
		return r.hook(point)
	}
	return nil
}

// Key returns the idempotency key of a campaign's message about a basket
// at a step (from 1): the same on every attempt and after every restart.
func Key(campaign, basketID string, step int) string {
	h := sha256.Sum256([]byte(campaign + "\x00" + basketID + "\x00" + strconv.Itoa(step)))
	return "c1-" + hex.EncodeToString(h[:16])
}

// TickStats count what a turn did.
type TickStats struct {
	TookIn   int // abandonments taken in from the feed
	Sent     int
	Failed   int // failed for a temporary reason (tried again later) or for good
	InDoubt  int
	Skipped  int
	Deferred int
	Settled  int // baskets whose outcome was recorded
}

func (s TickStats) zero() bool { return s == TickStats{} }

func (s *TickStats) add(o TickStats) {
	s.TookIn += o.TookIn
	s.Sent += o.Sent
	s.Failed += o.Failed
	s.InDoubt += o.InDoubt
	s.Skipped += o.Skipped
	s.Deferred += o.Deferred
	s.Settled += o.Settled
}

// Progress returns the counts of every turn since the runner was opened,
// the turn under way included, for a progress display. It waits for the
// runner's lock, which a turn lets go of while the sender works.
func (r *Runner) Progress() TickStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.done
	if r.cur != nil {
		p.add(*r.cur)
	}
	return p
}

// Tick gives the runner a turn at time now: it activates the campaign if
// this is its first turn, resolves the intents a crash left, reads the
// feed from the checkpoint, sends every message that is due (checking the
// rules again with fresh data first), and, every CheckEvery, records the
// outcome of baskets that completed or are gone.
func (r *Runner) Tick(ctx context.Context, now time.Time) (TickStats, error) {
	r.turn.Lock()
	defer r.turn.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	var ts TickStats
	if r.closed {
		return ts, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return ts, err
	}
	nowMS := now.UnixMilli()
	r.lastTurn = nowMS
	r.cur = &ts
	defer func() {
		r.done.add(ts)
		r.cur = nil
	}()
	if !r.st.Activated {
		if err := r.activate(ctx, now); err != nil {
			return ts, err
		}
	}
	if !r.resolved {
		if err := r.resolve(ctx, now, &ts); err != nil {
			return ts, err
		}
		r.resolved = true
	}
	if err := r.pull(ctx, &ts); err != nil {
		return ts, err
	}
	if err := r.sendDue(ctx, now, &ts); err != nil {
		return ts, err
	}
	if nowMS >= r.nextCheck {
		if err := r.check(ctx, now, &ts); err != nil {
			return ts, err
		}
		r.nextCheck = nowMS + r.cfg.CheckEvery.Milliseconds()
	}
	if err := r.maybeSnapshot(); err != nil {
		return ts, err
	}
	if !ts.zero() {
		r.cfg.Logger.Info("campaign tick", "campaign", r.cfg.Name, "tookIn", ts.TookIn, "sent", ts.Sent,
			"failed", ts.Failed, "inDoubt", ts.InDoubt, "skipped", ts.Skipped, "deferred", ts.Deferred, "settled", ts.Settled)
	}
	return ts, nil
}

// activate records the activation watermark: the feed's newest position
// now, or, with Options.Since, the feed's start and that time.
func (r *Runner) activate(ctx context.Context, now time.Time) error {
	at, pos := now, uint64(0)
	if !r.cfg.Since.IsZero() {
		at = r.cfg.Since
	} else {
		p, err := r.src.Feed(ctx, math.MaxUint64, 1)
		if err != nil {
			return fmt.Errorf("campaign: reading the feed's position: %w", err)
		}
		pos = p.Next
	}
	return r.commit(&rec{Kind: kActivate, At: at.UnixMilli(), Pos: pos, Text: r.cfg.Name}, true)
}

// resolve settles the intents a previous run left without an outcome.
func (r *Runner) resolve(ctx context.Context, now time.Time, ts *TickStats) error {
	for _, t := range r.sortedTracks() {
		if t.Intent == 0 {
			continue
		}
		step := t.Intent - 1
		m := &Message{Key: Key(r.cfg.Name, t.ID, step+1), Campaign: r.cfg.Name, BasketID: t.ID, Step: step + 1,
			At: time.UnixMilli(t.IntentAt).UTC()}
		res, err := r.snd.Resolve(ctx, m, t.Committed)
		if err != nil {
			return fmt.Errorf("campaign: resolving an interrupted send: %w", err)
		}
		r.cfg.Logger.Warn("campaign: an interrupted send resolved", "key", m.Key, "step", step+1, "committed", t.Committed, "resolution", res.String())
		switch res {
		case Delivered:
			err = r.commit(&rec{Kind: kSent, ID: t.ID, Step: step, At: t.IntentAt}, true)
			ts.Sent++
		case SendAgain:
			if t.Committed {
				// It may have left: the same message goes again, never
				// another one decided afresh.
				err = r.commit(&rec{Kind: kResend, ID: t.ID, Step: step, At: now.UnixMilli()}, true)
			} else {
				err = r.commit(&rec{Kind: kRetry, ID: t.ID, Step: step, At: now.UnixMilli()}, true)
			}
		default:
			err = r.commit(&rec{Kind: kDoubt, ID: t.ID, Step: step, At: t.IntentAt}, true)
			ts.InDoubt++
		}
		if err != nil {
			return err
		}
	}
	r.nextDue = 0
	return nil
}

// pull reads the feed from the checkpoint and takes in the baskets
// abandoned after activation.
func (r *Runner) pull(ctx context.Context, ts *TickStats) error {
	for {
		p, err := r.src.Feed(ctx, r.st.Checkpoint, feedPage)
		if err != nil {
			return fmt.Errorf("campaign: reading the feed: %w", err)
		}
		for i := range p.Items {
			b := &p.Items[i]
			at := b.AbandonedAt.UnixMilli()
			email := basket.NormalizeEmail(b.CustomerDetails.Email)
			if at < r.st.ActivatedAt || email == "" {
				continue // the backlog, or nobody to write to
			}
			if _, gone := r.st.Gone[b.ID]; gone {
				continue // forgotten, and its sequence is over
			}
			t := r.st.Tracks[b.ID]
			if t != nil && (t.Done || (t.AbandonedAt == at && t.Email == email)) {
				continue // seen, or its sequence is over
			}
			if err := r.commit(&rec{Kind: kTrack, ID: b.ID, Email: email, At: at, T2: b.Created.UnixMilli()}, false); err != nil {
				return err
			}
			if t == nil {
				ts.TookIn++
			}
			r.nextDue = 0
		}
		if p.Next > r.st.Checkpoint {
			if err := r.commit(&rec{Kind: kCheckpoint, Pos: p.Next}, false); err != nil {
				return err
			}
		}
		if len(p.Items) < feedPage {
			return nil
		}
	}
}

// due returns when t's next step is due, or the message of its committed
// intent is to be sent again; ok false if nothing is.
func (r *Runner) due(t *track) (int64, bool) {
	if t.Intent != 0 {
		return t.RetryAt, t.Committed && t.RetryAt != 0
	}
	if t.Done || t.held || t.Next >= len(r.cfg.Steps) {
		return 0, false
	}
	d := t.AbandonedAt + r.cfg.offset(t.Next).Milliseconds()
	return max(d, t.Until, t.RetryAt), true
}

// sortedTracks returns the tracks in id order, for a deterministic run.
func (r *Runner) sortedTracks() []*track {
	out := make([]*track, 0, len(r.st.Tracks))
	for _, t := range r.st.Tracks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *track) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// sendDue sends what is due, customer by customer.
func (r *Runner) sendDue(ctx context.Context, now time.Time, ts *TickStats) error {
	nowMS := now.UnixMilli()
	if r.nextDue != 0 && nowMS < r.nextDue {
		return nil
	}
	type cand struct {
		t   *track
		due int64
	}
	var cands []cand
	for _, t := range r.st.active {
		if d, ok := r.due(t); ok && d <= nowMS {
			cands = append(cands, cand{t, d})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.due, b.due), strings.Compare(a.t.ID, b.t.ID))
	})
	done := map[string]bool{}
	for _, c := range cands {
		email := c.t.Email
		if done[email] {
			continue
		}
		done[email] = true
		bs, complete, err := r.src.Customer(ctx, email)
		if err != nil {
			return fmt.Errorf("campaign: checking a customer: %w", err)
		}
		// This customer's due baskets, newest first: the newest is the one
		// a message would be about.
		var mine []*track
		for _, o := range cands {
			if o.t.Email == email {
				mine = append(mine, o.t)
			}
		}
		slices.SortFunc(mine, func(a, b *track) int {
			return cmp.Or(cmp.Compare(b.Created, a.Created), strings.Compare(b.ID, a.ID))
		})
		// A message that may have left already goes again before anything
		// else is decided for the customer.
		for _, t := range mine {
			if t.Intent != 0 {
				if err := r.resend(ctx, t, bs, complete, now, ts); err != nil {
					return err
				}
			}
		}
		for _, t := range mine {
			if t.Intent == 0 {
				if err := r.decide(ctx, t, bs, complete, now, ts); err != nil {
					return err
				}
			}
		}
	}
	// The next time anything is due, so that idle turns cost nothing.
	next := int64(math.MaxInt64)
	for _, t := range r.st.active {
		if d, ok := r.due(t); ok {
			next = min(next, d)
		}
	}
	r.nextDue = next
	return nil
}

func find(bs []basket.Basket, id string) *basket.Basket {
	for i := range bs {
		if bs[i].ID == id {
			return &bs[i]
		}
	}
	return nil
}

// skip records a skip of t's step i: final (the step is dropped; end: the
// whole sequence) or a deferral until a time.
func (r *Runner) skip(t *track, i int, reason Reason, now int64, final, end bool, until int64, ts *TickStats) error {
	if final {
		ts.Skipped++
	} else {
		if t.DeferMask&reasonBit(reason) == 0 {
			ts.Deferred++
		}
		if t.Until == until && t.DeferMask&reasonBit(reason) != 0 {
			return nil // recorded already
		}
	}
	return r.commit(&rec{Kind: kSkip, ID: t.ID, Step: i, At: now, Text: string(reason), Flag: final, End: end, T2: until}, false)
}

// decide applies the rules to t's due step with the customer's fresh
// baskets, and sends, skips or defers it.
func (r *Runner) decide(ctx context.Context, t *track, bs []basket.Basket, complete bool, now time.Time, ts *TickStats) error {
	nowMS := now.UnixMilli()
	b := find(bs, t.ID)
	if b == nil {
		if !complete {
			t.held = true // not abandoned now; it comes back through the feed
			return nil
		}
		got, ok, err := r.src.Basket(ctx, t.ID)
		switch {
		case err != nil && !errors.Is(err, ErrUnsupported):
			return fmt.Errorf("campaign: looking a basket up: %w", err)
		case err == nil && ok && basket.NormalizeEmail(got.CustomerDetails.Email) != t.Email && got.CustomerDetails.Email != "":
			// The customer changed their address: look again under it.
			return r.commit(&rec{Kind: kEmail, ID: t.ID, Email: basket.NormalizeEmail(got.CustomerDetails.Email)}, false)
		case err == nil && ok:
			b = &got
		default:
			return r.skip(t, t.Next, ReasonExpired, nowMS, true, true, 0, ts) // purged or erased
		}
	}
	switch {
	case b.Completed:
		return r.skip(t, t.Next, ReasonCompleted, nowMS, true, true, 0, ts)
	case b.State == basket.StateExpired:
		return r.skip(t, t.Next, ReasonExpired, nowMS, true, true, 0, ts)
	}
	if complete {
		from := t.Created - r.cfg.OrderLookback.Milliseconds()
		for i := range bs {
			if o := &bs[i]; o.ID != t.ID && !o.CompletedAt.IsZero() && o.CompletedAt.UnixMilli() >= from {
				return r.skip(t, t.Next, ReasonOrderedSince, nowMS, true, true, 0, ts)
			}
		}
	}
	if !b.Abandoned {
		t.held = true // active again; it comes back through the feed when abandoned again
		return nil
	}
	if at := b.AbandonedAt.UnixMilli(); at > t.AbandonedAt {
		// Abandoned again since the feed was read: time the steps from then.
		return r.commit(&rec{Kind: kTrack, ID: t.ID, Email: t.Email, At: at, T2: t.Created}, false)
	}
	// Catch up: of several steps due, only the latest is worth sending.
	for t.Next+1 < len(r.cfg.Steps) && nowMS >= t.AbandonedAt+r.cfg.offset(t.Next+1).Milliseconds() {
		if err := r.skip(t, t.Next, ReasonOvertaken, nowMS, true, false, 0, ts); err != nil {
			return err
		}
	}
	last := len(r.cfg.Steps) - 1
	if t.Next == last && nowMS > t.AbandonedAt+r.cfg.offset(last).Milliseconds()+r.cfg.LastStepGrace.Milliseconds() {
		return r.skip(t, t.Next, ReasonExpired, nowMS, true, false, 0, ts)
	}
	hash := r.st.hash(t.Email)
	if _, ok := r.st.Suppressed[hash]; ok {
		return r.skip(t, t.Next, ReasonSuppressed, nowMS, true, true, 0, ts)
	}
	if r.cfg.ConsentedOnly && !consented(b, r.cfg.ConsentField) {
		return r.skip(t, t.Next, ReasonNoConsent, nowMS, true, true, 0, ts)
	}
	// Newest wins: one thread per customer, about their newest abandoned
	// basket (even one whose own sequence is over).
	var newest *basket.Basket
	for i := range bs {
		o := &bs[i]
		ot := r.st.Tracks[o.ID]
		if !o.Abandoned || o.Completed || ot == nil {
			continue
		}
		if newest == nil || o.Created.After(newest.Created) || (o.Created.Equal(newest.Created) && o.ID > newest.ID) {
			newest = o
		}
	}
	if newest != nil && newest.ID != t.ID {
		return r.skip(t, t.Next, ReasonDeduplicated, nowMS, true, false, 0, ts)
	}
	if last, ok := r.windowFrom(t, hash); ok && nowMS < last+r.cfg.Window.Milliseconds() {
		return r.skip(t, t.Next, ReasonDeduplicated, nowMS, false, false, last+r.cfg.Window.Milliseconds(), ts)
	}
	if until, ok := quietUntil(r.cfg.QuietHours, now, r.location(b)); ok {
		return r.skip(t, t.Next, ReasonQuietHours, nowMS, false, false, until.UnixMilli(), ts)
	}
	// The moment of sending: the source's suppression list, as it is now.
	token := ""
	if sp, ok := r.src.(Suppressions); ok {
		suppressed, tok, err := sp.Suppression(ctx, t.Email)
		switch {
		case err != nil:
			return fmt.Errorf("campaign: checking the suppression list: %w", err)
		case suppressed:
			return r.skip(t, t.Next, ReasonSuppressed, nowMS, true, true, 0, ts)
		case tok == "":
			return fmt.Errorf("campaign: checking the suppression list: the source gave no unsubscribe token")
		}
		token = tok
	}
	if r.heldOut(t.Email) {
		// Last, so that the holdout is drawn from the customers who would
		// have been written to, as the mailed ones are.
		return r.skip(t, t.Next, ReasonHoldout, nowMS, true, false, 0, ts)
	}
	return r.send(ctx, t, b, now, token, ts)
}

// windowFrom returns the start of the customer's one-message window: their
// latest message, or the latest intent of another basket of theirs that
// passed its point of no return (it may have been delivered).
func (r *Runner) windowFrom(t *track, hash string) (int64, bool) {
	last, ok := r.st.LastSent[hash]
	for _, o := range r.st.inflight {
		if o != t && o.Email == t.Email {
			last, ok = max(last, o.IntentAt), true
		}
	}
	return last, ok
}

// send records the intent, sends, and records the outcome. token is the
// source's unsubscribe token ("" if it keeps no list): the intent keeps
// it, so that a repeat of the message is identical.
func (r *Runner) send(ctx context.Context, t *track, b *basket.Basket, now time.Time, token string, ts *TickStats) error {
	step := t.Next
	at := time.UnixMilli(now.UnixMilli()) // as the intent keeps it, so that a repeat is identical
	m, err := r.message(t, b, step, at, now, token)
	if err != nil {
		return err
	}
	if err := r.commit(&rec{Kind: kIntent, ID: t.ID, Step: step, At: at.UnixMilli(), Text: token}, true); err != nil {
		return err
	}
	if err := r.crash("intent"); err != nil {
		return err
	}
	return r.deliver(ctx, t, m, now, ts)
}

// resend sends again the message of t's committed intent, which may have
// been delivered: the same key, the same content, timed from the intent.
// Only what forbids writing to the customer at all stops it, and then it
// stays in doubt.
func (r *Runner) resend(ctx context.Context, t *track, bs []basket.Basket, complete bool, now time.Time, ts *TickStats) error {
	step := t.Intent - 1
	b := find(bs, t.ID)
	if b == nil {
		got, ok, err := r.src.Basket(ctx, t.ID)
		switch {
		case err != nil && !errors.Is(err, ErrUnsupported):
			return fmt.Errorf("campaign: looking a basket up: %w", err)
		case err == nil && ok:
			b = &got
		case !complete:
			return nil // not abandoned now, and no way to look: at the next turn
		}
	}
	_, suppressed := r.st.Suppressed[r.st.hash(t.Email)]
	token := t.Unsub
	if sp, ok := r.src.(Suppressions); ok && !suppressed && b != nil {
		listed, tok, err := sp.Suppression(ctx, t.Email)
		if err != nil {
			return fmt.Errorf("campaign: checking the suppression list: %w", err)
		}
		suppressed = listed
		if token == "" {
			token = tok // an intent of a version that kept no token
		}
	}
	if b == nil || b.Completed || b.State == basket.StateExpired || suppressed {
		ts.InDoubt++
		r.cfg.Logger.Warn("campaign: an unconfirmed message not sent again: the basket is completed or gone, or the address suppressed",
			"key", Key(r.cfg.Name, t.ID, step+1), "step", step+1)
		return r.commit(&rec{Kind: kDoubt, ID: t.ID, Step: step, At: t.IntentAt}, true)
	}
	if until, ok := quietUntil(r.cfg.QuietHours, now, r.location(b)); ok {
		return r.commit(&rec{Kind: kResend, ID: t.ID, Step: step, At: until.UnixMilli()}, false)
	}
	m, err := r.message(t, b, step, time.UnixMilli(t.IntentAt), now, token)
	if err != nil {
		return err
	}
	return r.deliver(ctx, t, m, now, ts)
}

// deliver hands the message of t's intent to the sender and records the
// outcome. r.mu is released while the sender works (r.turn keeps other
// turns out), and taken again to record the point of no return.
func (r *Runner) deliver(ctx context.Context, t *track, m *Message, now time.Time, ts *TickStats) error {
	step := t.Intent - 1
	nowMS := now.UnixMilli()
	again := t.Committed // a repeat of a message that may have left
	commit := func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			return ErrClosed
		}
		if !t.Committed {
			if err := r.commit(&rec{Kind: kCommit, ID: t.ID, Step: step}, true); err != nil {
				return err
			}
		}
		return r.crash("commit")
	}
	r.mu.Unlock()
	err := r.snd.Send(ctx, m, commit)
	r.mu.Lock()
	if errors.Is(err, errCrash) {
		return err
	}
	if r.closed {
		return ErrClosed // the outcome is left for the next start to resolve
	}
	if err == nil {
		if err := r.crash("delivered"); err != nil {
			return err
		}
		ts.Sent++
		return r.commit(&rec{Kind: kSent, ID: t.ID, Step: step, At: t.IntentAt, T2: nowMS}, true)
	}
	resendLater := func(why string) error {
		ts.Failed++
		r.cfg.Logger.Warn("campaign: delivery unconfirmed; the same message goes again", "key", m.Key, "step", step+1, "why", why, "err", err)
		return r.commit(&rec{Kind: kResend, ID: t.ID, Step: step, At: nowMS + r.cfg.RetryAfter.Milliseconds(), Flag: true}, true)
	}
	switch {
	case errors.Is(err, ErrInDoubt):
		// Only the sender can tell: an SMTP server that answered the final
		// dot with a 4xx did not take the message, however late it came;
		// a webhook's service drops a repeat of the key.
		res, rerr := r.snd.Resolve(ctx, m, true)
		switch {
		case rerr != nil:
			// Left as a crash leaves it: resolved at the next turn.
			r.resolved = false
			r.cfg.Logger.Warn("campaign: delivery in doubt; resolving it failed", "key", m.Key, "step", step+1, "err", rerr)
			return nil
		case res == Delivered:
			ts.Sent++
			return r.commit(&rec{Kind: kSent, ID: t.ID, Step: step, At: t.IntentAt, T2: nowMS}, true)
		case res == SendAgain:
			return resendLater("in doubt")
		}
		ts.InDoubt++
		r.cfg.Logger.Warn("campaign: delivery in doubt; not sent again", "key", m.Key, "step", step+1, "err", err)
		return r.commit(&rec{Kind: kDoubt, ID: t.ID, Step: step, At: t.IntentAt}, true)
	case errors.Is(err, ErrBounced):
		ts.Failed++
		r.cfg.Logger.Warn("campaign: recipient refused; address suppressed", "key", m.Key, "step", step+1)
		if err := r.commit(&rec{Kind: kFail, ID: t.ID, Step: step, At: nowMS, Flag: true, Text: "bounced"}, true); err != nil {
			return err
		}
		return r.commit(&rec{Kind: kSuppressK, Email: r.st.hash(t.Email), Text: "bounced"}, true)
	case errors.Is(err, ErrRejected):
		ts.Failed++
		r.cfg.Logger.Warn("campaign: message rejected", "key", m.Key, "step", step+1, "err", err)
		return r.commit(&rec{Kind: kFail, ID: t.ID, Step: step, At: nowMS, Flag: true, Text: "rejected"}, true)
	case again && ctx.Err() != nil:
		return ctx.Err() // the intent stays committed: resolved at the next start
	case again:
		// This attempt delivered nothing, but an earlier one may have.
		return resendLater("failed")
	case ctx.Err() != nil:
		// Stopped before the point of no return: nothing was delivered.
		return errors.Join(ctx.Err(), r.commit(&rec{Kind: kRetry, ID: t.ID, Step: step, At: nowMS}, true))
	default:
		ts.Failed++
		r.cfg.Logger.Warn("campaign: send failed; will try again", "key", m.Key, "step", step+1, "err", err)
		return r.commit(&rec{Kind: kFail, ID: t.ID, Step: step, At: nowMS, T2: nowMS + r.cfg.RetryAfter.Milliseconds(), Text: "temporary"}, true)
	}
}

// message builds the message of t's step i about basket b, dated at (the
// intent's time); now is the clock's time, from which tokens are issued.
// token is the source's unsubscribe token; "" for the runner's own.
func (r *Runner) message(t *track, b *basket.Basket, i int, at, now time.Time, token string) (*Message, error) {
	step := i + 1
	name := r.cfg.Name
	shop := r.cfg.shop.String()
	d := &MessageData{
		FirstName: b.CustomerDetails.FirstName, LastName: b.CustomerDetails.LastName,
		Offers: b.OrderItems, Step: step, Steps: len(r.cfg.Steps), Campaign: name,
		RecoveryURL: withUTM(shop+b.RecoveryLink, name, step),
	}
	if len(b.OrderItems) > 0 {
		d.Offer = b.OrderItems[0].Name
	}
	if r.cfg.PromoCode != "" && step >= r.cfg.PromoFromStep && len(b.OrderItems) > 0 && b.OrderItems[0].Path != "" {
		d.PromoCode = r.cfg.PromoCode
		d.PromoURL = withUTM(shop+r.cfg.CheckoutPath+"?purchase="+url.QueryEscape(b.OrderItems[0].Path)+
			"&pc="+url.QueryEscape(r.cfg.PromoCode), name, step)
	}
	if token == "" {
		token = r.ownToken(t.Email, at, now)
	}
	if token == "" {
		return nil, fmt.Errorf("%w: no unsubscribe token: the source keeps no suppression list and the runner has no Tokens", ErrConfig)
	}
	d.UnsubscribeURL = r.unsubscribeURL(token)
	subject, text, html, err := r.cfg.tpl.render(d)
	if err != nil {
		return nil, err
	}
	to := b.CustomerDetails.Email
	if basket.NormalizeEmail(to) != t.Email {
		to = t.Email
	}
	return &Message{
		Key: Key(name, t.ID, step), Campaign: name, BasketID: t.ID, Step: step, To: strings.TrimSpace(to),
		Subject: subject, Text: text, HTML: html, At: at.UTC(),
		RecoveryURL: d.RecoveryURL, PromoURL: d.PromoURL, UnsubscribeURL: d.UnsubscribeURL,
		Headers: unsubscribeHeaders(d.UnsubscribeURL),
	}, nil
}

// check records the outcome of baskets that completed or are gone, and
// notes the recovery clicks of the others.
func (r *Runner) check(ctx context.Context, now time.Time, ts *TickStats) error {
	nowMS := now.UnixMilli()
	// What no longer matters goes; a replay brings it back until the next
	// look, which is harmless.
	for id, until := range r.st.Gone {
		if nowMS > until+tombstoneLeeway.Milliseconds() {
			delete(r.st.Gone, id)
		}
	}
	for h, last := range r.st.LastSent {
		if nowMS >= last+r.cfg.Window.Milliseconds() {
			delete(r.st.LastSent, h) // the window is over
		}
	}
	for _, t := range r.sortedTracks() {
		if t.Intent != 0 {
			continue
		}
		b, ok, err := r.src.Basket(ctx, t.ID)
		if errors.Is(err, ErrUnsupported) {
			// The source cannot tell: forget the basket once its time is up.
			if nowMS-t.AbandonedAt > r.cfg.Watch.Milliseconds() {
				if err := r.settle(t, t.seenCompleted, t.seenRecovered, nowMS, ts); err != nil {
					return err
				}
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("campaign: looking a basket up: %w", err)
		}
		t.checkedAt = nowMS
		if !ok {
			if err := r.settle(t, t.seenCompleted, t.seenRecovered, nowMS, ts); err != nil {
				return err
			}
			continue
		}
		t.seenRecovered, t.seenCompleted = msOf(b.RecoveredAt), msOf(b.CompletedAt)
		if b.Completed {
			if !t.Done && t.Next < len(r.cfg.Steps) {
				if err := r.skip(t, t.Next, ReasonCompleted, nowMS, true, true, 0, ts); err != nil {
					return err
				}
			}
			if err := r.settle(t, t.seenCompleted, t.seenRecovered, nowMS, ts); err != nil {
				return err
			}
		}
	}
	return nil
}

// Settle looks at every basket taken in now, as a turn does every
// CheckEvery, and records the outcome of those completed or gone, so that
// a report made next is up to date.
func (r *Runner) Settle(ctx context.Context, now time.Time) error {
	r.turn.Lock()
	defer r.turn.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	var ts TickStats
	return r.check(ctx, now, &ts)
}

// tombstoneLeeway is how long past its TTL a forgotten basket is still
// remembered: for a source that purges lazily, and clocks that differ.
const tombstoneLeeway = 24 * time.Hour

func (r *Runner) settle(t *track, completedAt, recoveredAt, now int64, ts *TickStats) error {
	ts.Settled++
	// The basket may come back through the feed (abandoned again) until
	// the source purges it: remembered until then.
	until := int64(math.MaxInt64 - tombstoneLeeway.Milliseconds())
	if r.cfg.BasketTTL != basket.NoExpiry {
		from := t.Created
		if from == 0 {
			from = t.AbandonedAt
		}
		until = from + r.cfg.BasketTTL.Milliseconds()
	}
	return r.commit(&rec{Kind: kOutcome, ID: t.ID, At: completedAt, T2: recoveredAt, U: until}, false)
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// maybeSnapshot writes a snapshot once the log has grown enough.
func (r *Runner) maybeSnapshot() error {
	if r.log == nil || r.cfg.SnapshotEvery < 0 || r.log.SinceSnapshot() < r.cfg.SnapshotEvery {
		return nil
	}
	seq, err := r.log.Rotate()
	if err != nil {
		return fmt.Errorf("campaign: snapshot: %w", err)
	}
	if err := r.log.WriteSnapshot(seq, r.st.encode); err != nil {
		return fmt.Errorf("campaign: snapshot: %w", err)
	}
	return nil
}

// Run calls Tick every interval on the Options.Now clock until ctx is
// done; then it returns nil. A failed turn (the source or the sender
// unreachable) is logged and tried again at the next; an error of the
// state's storage stops it.
func (r *Runner) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("%w: the interval must be positive", ErrConfig)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_, err := r.Tick(ctx, r.cfg.Now())
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrClosed), errors.Is(err, store.ErrFailed), errors.Is(err, store.ErrClosed), errors.Is(err, ErrTemplate):
			return err
		case err != nil:
			r.cfg.Logger.Warn("campaign: turn failed; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ResolveInDoubt records what an operator found out about a message in
// doubt (Report.InDoubt, by its key): whether it was delivered. It is not
// sent again either way; the report counts it as sent or failed, and no
// longer lists it.
func (r *Runner) ResolveInDoubt(ctx context.Context, key string, delivered bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := r.st.Doubts[key]; !ok {
		return fmt.Errorf("campaign: no message in doubt with key %q", truncate(key))
	}
	return r.commit(&rec{Kind: kSettle, Text: key, Flag: delivered}, true)
}

// Suppress adds an address to the suppression list (why: "unsubscribed",
// "bounced", "complained" or any short word). Only a keyed hash of the
// normalised address is kept (see hashSecretFile).
func (r *Runner) Suppress(ctx context.Context, email, why string) error {
	if err := basket.ValidateEmail(strings.TrimSpace(email)); err != nil {
		return fmt.Errorf("campaign: suppress: %w", err)
	}
	if why == "" {
		why = "unsubscribed"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h := r.st.hash(basket.NormalizeEmail(email))
	if r.st.Suppressed[h] == truncate(why) {
		return nil
	}
	return r.commit(&rec{Kind: kSuppressK, Email: h, Text: truncate(why)}, true)
}

// Unsuppress removes an address from the suppression list.
func (r *Runner) Unsuppress(ctx context.Context, email string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h := r.st.hash(basket.NormalizeEmail(email))
	if _, ok := r.st.Suppressed[h]; !ok {
		return nil
	}
	return r.commit(&rec{Kind: kUnsuppressK, Email: h}, true)
}

// Suppressed reports whether an address is on the suppression list.
func (r *Runner) Suppressed(email string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.st.Suppressed[r.st.hash(basket.NormalizeEmail(email))]
	return ok
}

// Opened records that a message was opened, for senders that learn it (an
// email service's event webhook). It is harmless to repeat.
func (r *Runner) Opened(ctx context.Context, basketID string, step int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	t := r.st.Tracks[basketID]
	if t == nil || step < 1 || step > len(t.Sent) || t.Sent[step-1] == 0 {
		return fmt.Errorf("campaign: opened: no message of step %d about that basket", step)
	}
	if t.Opened&(1<<uint(step-1)) != 0 {
		return nil
	}
	return r.commit(&rec{Kind: kOpened, ID: basketID, Step: step - 1}, false)
}

// ReadReport returns the report of the campaign whose durable state is in
// dir, without running it. The directory must not be in use by a running
// campaign (store.ErrLocked). Options matter for the steps and the
// attribution window; their Name is taken from the state.
func ReadReport(dir string, opts *Options) (Report, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.ShopURL == "" {
		o.ShopURL = "report.invalid"
	}
	cfg, err := o.resolve()
	if err != nil {
		return Report{}, err
	}
	// A missing email-hash secret is not made: the state's hashes are only
	// counted.
	st, log, _, err := load(dir, cfg)
	if err != nil {
		return Report{}, err
	}
	defer log.Close()
	if st.Name != "" {
		cfg.Name = st.Name
	}
	st.reindex(len(cfg.Steps))
	r := &Runner{cfg: cfg, st: st, log: log, locs: map[string]*time.Location{}}
	return r.Report(), nil
}
