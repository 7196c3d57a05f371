package campaign

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Message is a reminder, ready to send.
type Message struct {
	// Key is the idempotency key of the message: one per (campaign,
	// basket, step), the same on every attempt. Senders pass it on (the
	// SMTP Message-ID, the webhook's Idempotency-Key header, the outbox
	// line) so that the receiver can tell a repeat.
	Key      string    `json:"key"`
	Campaign string    `json:"campaign"`
	BasketID string    `json:"basketId"`
	Step     int       `json:"step"` // from 1
	To       string    `json:"to"`   // the customer's spelling
	Subject  string    `json:"subject"`
	Text     string    `json:"text"`
	HTML     string    `json:"html,omitempty"`
	At       time.Time `json:"at"`

	RecoveryURL    string `json:"recoveryUrl"`
	PromoURL       string `json:"promoUrl,omitempty"`
	UnsubscribeURL string `json:"unsubscribeUrl"`

	// Headers are the message's own headers, for the sender to add:
	// List-Unsubscribe (<UnsubscribeURL>) and List-Unsubscribe-Post
	// (List-Unsubscribe=One-Click), which let a mail client unsubscribe
	// in one click (RFC 8058). The SMTP sender writes them as headers; the
	// webhook's JSON and the outbox's lines carry them as this object.
	Headers map[string]string `json:"headers,omitempty"`
}

// Resolution is what a sender says of a message whose intent was recorded
// but whose outcome a crash lost.
type Resolution uint8

// The resolutions.
const (
	// Unknown: it may or may not have been delivered; the runner reports
	// it and does not send it again.
	Unknown Resolution = iota
	// Delivered: it was delivered; the runner marks it sent.
	Delivered
	// SendAgain: it was not delivered, or the receiver drops a repeat of
	// the same key. Before the point of no return the runner decides
	// again (checking its rules again); after it, the runner sends the
	// same message again (the same key and content, dated at the intent),
	// and counts it in the customer's window meanwhile.
	SendAgain
)

func (r Resolution) String() string {
	switch r {
	case Delivered:
		return "delivered"
	case SendAgain:
		return "send again"
	}
	return "unknown"
}

// Sender delivers messages.
type Sender interface {
	// Send delivers m. If delivering has a point of no return (SMTP's
	// final dot), Send calls commit just before it and gives up, without
	// passing that point, if commit fails. An error wrapping ErrRejected
	// (or ErrBounced) is final; ErrInDoubt means it may have been
	// delivered (the runner then asks Resolve, as after a crash); any
	// other error means nothing was delivered.
	Send(ctx context.Context, m *Message, commit func() error) error
	// Resolve tells what became of a message sent before a crash.
	// committed reports whether Send had called commit.
	Resolve(ctx context.Context, m *Message, committed bool) (Resolution, error)
}

// DryRun is a Sender that delivers nothing: it writes one JSON line per
// message to W, with the key, basket id and step only, or, with
// ShowContent, the whole message (recipient, links and their tokens
// included, so only when asked).
type DryRun struct {
	W           io.Writer
	ShowContent bool

	mu sync.Mutex // guards W
}

// Send writes m's line.
func (d *DryRun) Send(ctx context.Context, m *Message, commit func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var v any = struct {
		Key      string `json:"key"`
		BasketID string `json:"basketId"`
		Step     int    `json:"step"`
		At       string `json:"at"`
	}{m.Key, m.BasketID, m.Step, m.At.UTC().Format(time.RFC3339)}
	if d.ShowContent {
		v = m
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.W == nil {
		return nil
	}
	_, err = d.W.Write(append(b, '\n'))
	return err
}

// Resolve says SendAgain: a dry run delivered nothing.
func (d *DryRun) Resolve(context.Context, *Message, bool) (Resolution, error) { return SendAgain, nil }

// Outbox is a Sender that appends each message as a JSON line to a file,
// for another program to deliver. Each line is fsynced before Send
// returns; a key already in the file is not written again, so a repeat is
// harmless and Resolve can tell. The file holds addresses: it is created
// with mode 0600.
type Outbox struct {
	mu   sync.Mutex // guards the fields below
	f    *os.File
	keys map[string]bool
}

// OpenOutbox opens (or creates) an outbox file, reads the keys it holds
// and cuts off a torn last line (a crash in the middle of a write).
func OpenOutbox(path string) (*Outbox, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("campaign: outbox: %w", err)
	}
	o := &Outbox{f: f, keys: map[string]bool{}}
	good, err := o.scan()
	if err == nil {
		err = f.Truncate(good)
	}
	if err == nil {
		_, err = f.Seek(good, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("campaign: outbox %s: %w", path, err)
	}
	return o, nil
}

// scan indexes the keys of the file's complete lines and returns the
// length of those lines.
func (o *Outbox) scan() (int64, error) {
	br := bufio.NewReader(o.f)
	var good int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return good, nil // a torn tail, if any, is cut
		}
		if err != nil {
			return 0, err
		}
		var m struct {
			Key string `json:"key"`
		}
		if json.Unmarshal(bytes.TrimSpace(line), &m) != nil || m.Key == "" {
			return 0, fmt.Errorf("line %d is not a message", n)
		}
		o.keys[m.Key] = true
		good += int64(len(line))
	}
}

// Send appends m, unless its key is there already.
func (o *Outbox) Send(ctx context.Context, m *Message, commit func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return &SendError{"outbox", "write", ErrClosed}
	}
	if o.keys[m.Key] {
		return nil
	}
	if err := commit(); err != nil {
		return err
	}
	if _, err := o.f.Write(append(b, '\n')); err != nil {
		return &SendError{"outbox", "write", fmt.Errorf("%w: %v", ErrInDoubt, err)}
	}
	if err := o.f.Sync(); err != nil {
		return &SendError{"outbox", "fsync", fmt.Errorf("%w: %v", ErrInDoubt, err)}
	}
	o.keys[m.Key] = true
	return nil
}

// Resolve looks the key up in the file.
func (o *Outbox) Resolve(_ context.Context, m *Message, _ bool) (Resolution, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keys[m.Key] {
		return Delivered, nil
	}
	return SendAgain, nil
}

// Close closes the file. It is idempotent.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	return err
}
