package campaign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"
)

// The state of a campaign is a fold of records: every change is a record,
// applied in memory and, for a durable runner, appended to the log first.
// Replaying the log over the newest snapshot gives the state back.

// Record kinds.
const (
	kActivate    = 1  // At: activation (ms), Pos: watermark, Text: name
	kCheckpoint  = 2  // Pos
	kTrack       = 3  // ID, Email, At: abandoned at, T2: created
	kIntent      = 4  // ID, Step, At, Text: the source's unsubscribe token ("" if none)
	kCommit      = 5  // ID, Step: the point of no return was passed
	kSent        = 6  // ID, Step, At: the message's time, T2: confirmed at
	kFail        = 7  // ID, Step, At, T2: retry at (0: never), Flag: permanent, Text
	kDoubt       = 8  // ID, Step, At: delivery in doubt
	kSkip        = 9  // ID, Step, At, Text: reason, Flag: final (else deferred), T2: until
	kSuppress    = 10 // Email: unkeyed hash (legacyHash), Text: why; written before keyed hashes only
	kUnsuppress  = 11 // Email: unkeyed hash (legacyHash); written before keyed hashes only
	kOutcome     = 12 // ID, At: completed at, T2: recovered at, U: remembered until; the basket is forgotten
	kEmail       = 13 // ID, Email: the basket's address changed
	kOpened      = 14 // ID, Step
	kRetry       = 15 // ID, Step: an intent found undelivered; try again
	kResend      = 16 // ID, Step, At: send the committed intent again from then, Flag: an attempt failed
	kSettle      = 17 // Text: the key of a message in doubt an operator resolved, Flag: delivered
	kHashKey     = 18 // Text: the id of the key of the state's email hashes (before any record of them)
	kSuppressK   = 19 // Email: keyed hash, Text: why
	kUnsuppressK = 20 // Email: keyed hash
	kHoldout     = 21 // Text: the holdout's share (strconv 'g'), when it changes; written only with a holdout
)

// rec is one record of the log.
type rec struct {
	Kind  uint8  `msgpack:"k"`
	ID    string `msgpack:"i,omitempty"`
	Email string `msgpack:"e,omitempty"`
	At    int64  `msgpack:"a,omitempty"`
	T2    int64  `msgpack:"b,omitempty"`
	Pos   uint64 `msgpack:"p,omitempty"`
	Step  int    `msgpack:"s,omitempty"`
	Text  string `msgpack:"t,omitempty"`
	Flag  bool   `msgpack:"f,omitempty"`
	End   bool   `msgpack:"z,omitempty"` // kSkip: the sequence ends
	U     int64  `msgpack:"u,omitempty"` // kOutcome: the tombstone's end (ms)
}

// track is what the campaign knows of a basket it took in.
type track struct {
	ID          string  `msgpack:"i"`
	Email       string  `msgpack:"e"`           // normalised
	Created     int64   `msgpack:"c"`           // ms
	AbandonedAt int64   `msgpack:"a"`           // ms, the latest abandonment
	Next        int     `msgpack:"n"`           // the next step to send, from 0
	Done        bool    `msgpack:"d"`           // the sequence is over
	Until       int64   `msgpack:"u"`           // deferred until (ms)
	DeferMask   uint32  `msgpack:"m"`           // deferral reasons counted for step Next
	RetryAt     int64   `msgpack:"r"`           // a failed send is tried again from; a committed intent's message sent again from
	Sent        []int64 `msgpack:"s"`           // ms, per step; 0 if not sent
	Opened      uint32  `msgpack:"o"`           // bit per step
	Intent      int     `msgpack:"p"`           // step+1 of an intent without outcome; 0 if none
	IntentAt    int64   `msgpack:"y"`           // ms
	Committed   bool    `msgpack:"x"`           // the intent passed its point of no return
	Doubt       uint32  `msgpack:"q"`           // bit per step delivered in doubt
	Unsub       string  `msgpack:"k,omitempty"` // the unsubscribe token of the intent's message, if the source gave it
	Held        int64   `msgpack:"h,omitempty"` // ms; when its first step was held back (holdout); 0 if none

	// Not persisted: observations of the source.
	held          bool  // not abandoned at the last look; waits for the feed
	seenCompleted int64 // ms
	seenRecovered int64 // ms
	checkedAt     int64 // ms
}

// lastSent returns the time of the latest message; 0 if none.
func (t *track) lastSent() int64 {
	var m int64
	for _, s := range t.Sent {
		m = max(m, s)
	}
	return m
}

// groupCounts compare the baskets mailed with those held out: a basket
// counts as recovered if it was completed within the attribution window
// after its first message, or, held out, after the moment its first
// message would have been sent, by whatever path.
type groupCounts struct {
	Mailed           int64 `msgpack:"m,omitempty"`
	MailedRecovered  int64 `msgpack:"mr,omitempty"`
	Holdout          int64 `msgpack:"h,omitempty"`
	HoldoutRecovered int64 `msgpack:"hr,omitempty"`
}

// count adds a basket's outcome: t's messages (or holdout) and its
// completion (ms, 0 if none).
func (g *groupCounts) count(t *track, completedAt, window int64) {
	from := t.firstSent()
	mailed := from != 0
	if !mailed {
		from = t.Held
	}
	if from == 0 {
		return
	}
	rec := completedAt != 0 && completedAt >= from && completedAt-from <= window
	switch {
	case mailed:
		g.Mailed++
		if rec {
			g.MailedRecovered++
		}
	default:
		g.Holdout++
		if rec {
			g.HoldoutRecovered++
		}
	}
}

// firstSent returns the time of the first message; 0 if none.
func (t *track) firstSent() int64 {
	var m int64
	for _, s := range t.Sent {
		if s != 0 && (m == 0 || s < m) {
			m = s
		}
	}
	return m
}

// stepCounts are a step's counters.
type stepCounts struct {
	Sent      int64 `msgpack:"s"`
	Failed    int64 `msgpack:"f"`
	InDoubt   int64 `msgpack:"d"`
	Opened    int64 `msgpack:"o"`
	Clicked   int64 `msgpack:"c"`
	Recovered int64 `msgpack:"r"`
}

// state is the campaign's state.
type state struct {
	Name        string            `msgpack:"n"`
	Activated   bool              `msgpack:"v"`
	ActivatedAt int64             `msgpack:"a"`
	Watermark   uint64            `msgpack:"w"`
	Checkpoint  uint64            `msgpack:"c"`
	Tracks      map[string]*track `msgpack:"t"`
	LastSent    map[string]int64  `msgpack:"l"` // by keyed email hash (unkeyed if HashKey is "")
	Suppressed  map[string]string `msgpack:"x"` // keyed email hash -> why (unkeyed if HashKey is "")
	Steps       []stepCounts      `msgpack:"s"`
	Skipped     map[string]int64  `msgpack:"k"`
	Deferred    map[string]int64  `msgpack:"d"`
	TookIn      int64             `msgpack:"i"` // abandonments taken in
	Messaged    int64             `msgpack:"m"` // baskets forgotten that had a message
	Completed   int64             `msgpack:"o"` // of those, completed by any path
	// Gone holds the baskets forgotten (by id) until their TTL in the
	// source has passed (ms), so that one abandoned again is not taken
	// in as new.
	Gone map[string]int64 `msgpack:"g,omitempty"`
	// Doubts are the messages in doubt, by key, until an operator
	// resolves them: they outlive their basket's track.
	Doubts map[string]doubt `msgpack:"q,omitempty"`
	// HashKey is the id of the key of the email hashes (emailKey): "" in the
	// state of a version that hashed addresses without a key.
	HashKey string `msgpack:"h,omitempty"`
	// Groups count the baskets forgotten that were mailed or held out
	// (Options.Holdout), and those of them recovered.
	Groups groupCounts `msgpack:"hg,omitempty"`
	// HoldoutShare is the share of the holdout of the latest run.
	HoldoutShare float64 `msgpack:"hs,omitempty"`

	key        []byte            // the email-hash key (emailKey); never persisted
	unkeyed    bool              // what was loaded held unkeyed hashes (an earlier version's)
	attrWindow int64             // ms; the runner's attribution window
	nSteps     int               // the runner's number of steps
	active     map[string]*track // tracks whose sequence is not over
	inflight   map[string]*track // tracks with an intent past its point of no return
}

// newState returns an empty state whose email hashes are keyed with key
// (emailKey).
func newState(key []byte) *state {
	return &state{key: key, Tracks: map[string]*track{}, LastSent: map[string]int64{}, Suppressed: map[string]string{},
		Skipped: map[string]int64{}, Deferred: map[string]int64{}, Gone: map[string]int64{}, Doubts: map[string]doubt{}}
}

// doubt is a message in doubt.
type doubt struct {
	BasketID string `msgpack:"b"`
	Step     int    `msgpack:"s"` // from 0
	At       int64  `msgpack:"a"` // ms, its intent
}

// hash is the key of a normalised email in the campaign's maps: the
// suppression list and the window keep no address in the clear, only a
// hash keyed with the campaign's own key (emailKey), so that someone who
// reads the state cannot find the addresses by hashing a list of them.
//
// It is the HMAC of the unkeyed hash of earlier versions (legacyHash), so
// that the entries of their states are keyed by rekey without knowing the
// addresses: every entry migrates, and no unkeyed hash is kept.
func (s *state) hash(norm string) string { return s.rekey(legacyHash(norm)) }

// rekey returns the keyed hash of an address from its unkeyed hash.
func (s *state) rekey(legacy string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(legacy))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// legacyHash is the unkeyed hash of a normalised email that versions before
// keyed hashes kept in the state (kSuppress, kUnsuppress, snapshots without
// HashKey). Only hash and rekey use it: it is never written.
func legacyHash(norm string) string {
	h := sha256.Sum256([]byte("campaign-email\x00" + norm))
	return hex.EncodeToString(h[:16])
}

func (s *state) step(i int) *stepCounts {
	for len(s.Steps) <= i {
		s.Steps = append(s.Steps, stepCounts{})
	}
	return &s.Steps[i]
}

func reasonBit(r Reason) uint32 { return 1 << uint32(slices.Index(Reasons, r)) }

// apply folds a record into the state. It returns an error only for a
// record that contradicts the state (a corrupt or foreign log).
func (s *state) apply(r *rec) error {
	if err := s.apply1(r); err != nil {
		return err
	}
	if r.ID != "" {
		s.touch(r.ID)
	}
	return nil
}

// touch keeps the active set up to date for a track.
func (s *state) touch(id string) {
	if s.active == nil {
		s.active = map[string]*track{}
	}
	if s.inflight == nil {
		s.inflight = map[string]*track{}
	}
	t := s.Tracks[id]
	if t != nil && t.Intent != 0 && t.Committed {
		s.inflight[id] = t
	} else {
		delete(s.inflight, id)
	}
	if t == nil || t.Done || (s.nSteps > 0 && t.Next >= s.nSteps && t.Intent == 0) {
		delete(s.active, id)
		return
	}
	s.active[id] = t
}

// reindex rebuilds the active set (after loading, or a change of steps).
func (s *state) reindex(nSteps int) {
	s.nSteps = nSteps
	s.active = map[string]*track{}
	s.inflight = map[string]*track{}
	for id := range s.Tracks {
		s.touch(id)
	}
}

func (s *state) apply1(r *rec) error {
	t := s.Tracks[r.ID]
	needTrack := func() error {
		if t == nil {
			return fmt.Errorf("record %d for a basket the campaign does not know", r.Kind)
		}
		if r.Step < 0 || r.Step >= 64 {
			return fmt.Errorf("record %d: step %d out of range", r.Kind, r.Step)
		}
		for len(t.Sent) <= r.Step {
			t.Sent = append(t.Sent, 0)
		}
		return nil
	}
	switch r.Kind {
	case kActivate:
		s.Activated, s.ActivatedAt, s.Watermark, s.Name = true, r.At, r.Pos, r.Text
		s.Checkpoint = max(s.Checkpoint, r.Pos)
	case kCheckpoint:
		s.Checkpoint = max(s.Checkpoint, r.Pos)
	case kTrack:
		if t == nil {
			t = &track{ID: r.ID}
			s.Tracks[r.ID] = t
			s.TookIn++
			delete(s.Gone, r.ID)
		}
		t.Email, t.AbandonedAt, t.Created = r.Email, r.At, r.T2
		t.Until, t.held = 0, false
	case kEmail:
		if t == nil {
			return fmt.Errorf("record %d for a basket the campaign does not know", r.Kind)
		}
		t.Email, t.held = r.Email, false
	case kIntent:
		if err := needTrack(); err != nil {
			return err
		}
		t.Intent, t.IntentAt, t.Committed, t.RetryAt, t.Unsub = r.Step+1, r.At, false, 0, r.Text
	case kRetry:
		if err := needTrack(); err != nil {
			return err
		}
		t.Intent, t.Committed, t.RetryAt, t.Unsub = 0, false, r.At, ""
	case kCommit:
		if err := needTrack(); err != nil {
			return err
		}
		t.Committed = true
	case kResend:
		if err := needTrack(); err != nil {
			return err
		}
		if t.Intent != r.Step+1 {
			return fmt.Errorf("record %d: no intent of step %d", r.Kind, r.Step+1)
		}
		t.Committed, t.RetryAt = true, r.At
		if r.Flag {
			s.step(r.Step).Failed++
		}
	case kSent, kDoubt:
		if err := needTrack(); err != nil {
			return err
		}
		t.Sent[r.Step] = r.At
		t.Intent, t.Committed, t.RetryAt, t.Unsub = 0, false, 0, ""
		h := s.hash(t.Email)
		s.LastSent[h] = max(s.LastSent[h], r.At, r.T2)
		if r.Kind == kSent {
			s.step(r.Step).Sent++
		} else {
			s.step(r.Step).InDoubt++
			t.Doubt |= 1 << uint(r.Step)
			s.Doubts[Key(s.Name, t.ID, r.Step+1)] = doubt{t.ID, r.Step, r.At}
		}
		s.advance(t, r.Step)
	case kFail:
		if err := needTrack(); err != nil {
			return err
		}
		t.Intent, t.Committed, t.Unsub = 0, false, ""
		s.step(r.Step).Failed++
		if r.Flag {
			t.RetryAt = 0
			s.advance(t, r.Step)
		} else {
			t.RetryAt = r.T2
		}
	case kSkip:
		if err := needTrack(); err != nil {
			return err
		}
		reason := Reason(r.Text)
		if reason == ReasonHoldout && t.Held == 0 {
			t.Held = r.At
		}
		if r.Flag {
			s.Skipped[r.Text]++
			if r.End {
				t.Done = true
			} else {
				s.advance(t, r.Step)
			}
		} else {
			if t.DeferMask&reasonBit(reason) == 0 {
				s.Deferred[r.Text]++
				t.DeferMask |= reasonBit(reason)
			}
			t.Until = r.T2
		}
	case kSettle:
		d, ok := s.Doubts[r.Text]
		if !ok {
			return fmt.Errorf("record %d: no message in doubt with key %q", r.Kind, truncate(r.Text))
		}
		delete(s.Doubts, r.Text)
		c := s.step(d.Step)
		c.InDoubt--
		if r.Flag {
			c.Sent++
		} else {
			c.Failed++
		}
		if t := s.Tracks[d.BasketID]; t != nil && d.Step < len(t.Sent) {
			t.Doubt &^= 1 << uint(d.Step)
			if !r.Flag {
				t.Sent[d.Step] = 0 // no click follows it
			}
		}
	case kSuppress:
		s.Suppressed[s.rekey(r.Email)] = r.Text
		s.unkeyed = true
	case kUnsuppress:
		delete(s.Suppressed, s.rekey(r.Email))
		s.unkeyed = true
	case kSuppressK:
		s.Suppressed[r.Email] = r.Text
	case kUnsuppressK:
		delete(s.Suppressed, r.Email)
	case kHashKey:
		if s.HashKey != "" && s.HashKey != r.Text {
			return fmt.Errorf("record %d: the email hashes change key", r.Kind)
		}
		s.HashKey = r.Text
	case kHoldout:
		v, err := strconv.ParseFloat(r.Text, 64)
		if err != nil || v < 0 || v > MaxHoldout {
			return fmt.Errorf("record %d: holdout %q", r.Kind, truncate(r.Text))
		}
		s.HoldoutShare = v
	case kOpened:
		if err := needTrack(); err != nil {
			return err
		}
		if t.Opened&(1<<uint(r.Step)) == 0 && t.Sent[r.Step] != 0 {
			t.Opened |= 1 << uint(r.Step)
			s.step(r.Step).Opened++
		}
	case kOutcome:
		if t == nil {
			return fmt.Errorf("record %d for a basket the campaign does not know", r.Kind)
		}
		s.settle(t, r.At, r.T2)
		delete(s.Tracks, r.ID)
		if r.U != 0 {
			s.Gone[r.ID] = r.U
		}
	default:
		return fmt.Errorf("unknown record kind %d", r.Kind)
	}
	return nil
}

// advance moves t past step i.
func (s *state) advance(t *track, i int) {
	if t.Next <= i {
		t.Next = i + 1
	}
	t.Until, t.DeferMask = 0, 0
}

// attribution says what a basket's messages led to: the step whose
// message the click followed (-1 if none) and whether the completion
// counts as recovered.
func attribution(t *track, completedAt, recoveredAt, window int64) (clickStep int, recovered bool) {
	clickStep = -1
	if recoveredAt == 0 {
		return -1, false
	}
	for i, at := range t.Sent {
		if at != 0 && at <= recoveredAt && (clickStep < 0 || at >= t.Sent[clickStep]) {
			clickStep = i
		}
	}
	if clickStep < 0 {
		return -1, false
	}
	recovered = completedAt != 0 && completedAt >= recoveredAt && completedAt-recoveredAt <= window
	return clickStep, recovered
}

// settle counts a basket's final outcome with the runner's attribution
// window.
func (s *state) settle(t *track, completedAt, recoveredAt int64) {
	s.Groups.count(t, completedAt, s.window())
	if t.lastSent() == 0 {
		return
	}
	s.Messaged++
	if completedAt != 0 {
		s.Completed++
	}
	step, rec := attribution(t, completedAt, recoveredAt, s.window())
	if step >= 0 {
		s.step(step).Clicked++
		if rec {
			s.step(step).Recovered++
		}
	}
}

func (s *state) window() int64 { return s.attrWindow }

// snapshot returns the state's encoding.
func (s *state) encode(w io.Writer) error {
	enc := msgpack.NewEncoder(w)
	enc.SetSortMapKeys(true)
	return enc.Encode(s)
}

// decodeState reads a snapshot; key is the email-hash key (emailKey). The
// maps of a snapshot without HashKey (an earlier version's) hold unkeyed
// hashes: they are keyed here.
func decodeState(r io.Reader, key []byte) (*state, error) {
	s := newState(key)
	if err := msgpack.NewDecoder(r).Decode(s); err != nil {
		return nil, err
	}
	s.key = key
	for _, m := range []*map[string]int64{&s.LastSent, &s.Skipped, &s.Deferred, &s.Gone} {
		if *m == nil {
			*m = map[string]int64{}
		}
	}
	if s.Tracks == nil {
		s.Tracks = map[string]*track{}
	}
	if s.Suppressed == nil {
		s.Suppressed = map[string]string{}
	}
	if s.HashKey == "" {
		s.unkeyed = len(s.Suppressed)+len(s.LastSent) > 0
		sup := make(map[string]string, len(s.Suppressed))
		for h, why := range s.Suppressed {
			sup[s.rekey(h)] = why
		}
		last := make(map[string]int64, len(s.LastSent))
		for h, at := range s.LastSent {
			k := s.rekey(h)
			last[k] = max(last[k], at)
		}
		s.Suppressed, s.LastSent = sup, last
	}
	for id, t := range s.Tracks {
		if t == nil || t.ID != id {
			return nil, fmt.Errorf("snapshot: track %q damaged", truncate(id))
		}
	}
	if s.Doubts == nil {
		// A snapshot from before the list: the doubts of the baskets still
		// watched are in their tracks.
		s.Doubts = map[string]doubt{}
		for _, t := range s.Tracks {
			for i := range t.Sent {
				if t.Doubt&(1<<uint(i)) != 0 {
					s.Doubts[Key(s.Name, t.ID, i+1)] = doubt{t.ID, i, t.Sent[i]}
				}
			}
		}
	}
	return s, nil
}

// clone returns a deep copy of the state's counters and maps, for reports.
func (s *state) counters() (steps []stepCounts, skipped, deferred map[string]int64) {
	return slices.Clone(s.Steps), maps.Clone(s.Skipped), maps.Clone(s.Deferred)
}
