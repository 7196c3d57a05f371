package basket

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Follow-ups: a person who followed a basket up by hand (a call, a
// message) marks it, with a note, so that colleagues see it. The mark is
// kept by the engine, through the log and snapshots, and goes with the
// basket when it is purged or erased.

// MaxFollowUpNote is the longest note of a follow-up, in bytes.
const MaxFollowUpNote = 2000

// followUp is the mark of a basket followed up: when, and the note.
type followUp struct {
	at   int64 // unix ms
	note string
}

// FollowUpRecord is a follow-up in the log.
type followUpRecord struct {
	_msgpack struct{} `msgpack:",as_array"`
	ID       string
	Note     string
}

// ValidateFollowUpNote reports whether a note can be kept: valid UTF-8, at
// most MaxFollowUpNote bytes, no control characters but line breaks and
// tabs.
func ValidateFollowUpNote(note string) error {
	if len(note) > MaxFollowUpNote {
		return fmt.Errorf("note: longer than %d bytes", MaxFollowUpNote)
	}
	if !utf8.ValidString(note) {
		return fmt.Errorf("note: not valid UTF-8")
	}
	if i := strings.IndexFunc(note, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }); i >= 0 {
		return fmt.Errorf("note: a control character at byte %d", i)
	}
	return nil
}

// FollowUp marks a live basket followed up now, with a note (which may be
// empty); a later follow-up replaces the mark. An unknown basket is a
// *TransitionError wrapping ErrUnknownBasket; a bad note is ErrInvalidEvent
// naming the problem; neither changes anything.
func (e *Engine) FollowUp(ctx context.Context, basketID, note string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateFollowUpNote(note); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	e.mu.RLock()
	closed, known := e.closed, e.recs.get(basketID) != nil
	e.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case !known:
		return &TransitionError{Index: 0, BasketID: basketID, Event: "followUp", Err: ErrUnknownBasket}
	}
	_, err := e.submit(ctx, &walRecord{FollowUp: &followUpRecord{ID: basketID, Note: note}})
	return err
}

// followUpLocked applies a logged follow-up at now. A basket gone since the
// record was written is left alone. e.mu must be held for writing.
func (e *Engine) followUpLocked(now int64, f *followUpRecord) error {
	if e.recs.get(f.ID) == nil {
		return &TransitionError{Index: 0, BasketID: f.ID, Event: "followUp", Err: ErrUnknownBasket}
	}
	e.followUps[f.ID] = followUp{at: now, note: strings.Clone(f.Note)}
	return nil
}

// FollowedUp returns a basket's follow-up: when and the note; the zero
// time if it has none.
func (b *Basket) FollowedUp() (time.Time, string) { return b.FollowedUpAt, b.FollowUpNote }
