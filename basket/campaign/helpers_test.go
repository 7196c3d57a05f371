package campaign

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// t0 is the start of the tests' clocks: a Monday at noon UTC.
var t0 = time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)

// fixture is an engine on a test clock, a recording sender and a runner.
type fixture struct {
	t     *testing.T
	clock *btest.Clock
	eng   *basket.Engine
	snd   *memSender
	r     *Runner
}

func newFixture(t *testing.T, opts *Options, eopts *basket.Options) *fixture {
	t.Helper()
	clock := btest.NewClock(t0)
	var eo basket.Options
	if eopts != nil {
		eo = *eopts
	}
	eo.Now = clock.Now
	eng := btest.MustNewEngine(t, &eo)
	f := &fixture{t: t, clock: clock, eng: eng, snd: &memSender{}}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.ShopURL == "" {
		o.ShopURL = "shop.example.com"
	}
	r, err := New(EngineSource{eng}, f.snd, &o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	f.r = r
	return f
}

// basket creates an abandoned basket for email now, with extra fields.
func (f *fixture) basket(id, email string, mod func(ev *basket.Event)) {
	f.t.Helper()
	now := f.clock.Now()
	ev := basket.Event{Type: basket.EventCreated, BasketID: id, At: now, Entry: "/checkout",
		OrderItems: []basket.OrderItem{{Name: "Digital Monthly", Path: "/offers/digital-monthly",
			Products: []basket.Product{{Path: "/products/digital", ProductCode: "SKU-1"}}}}}
	if mod != nil {
		mod(&ev)
	}
	f.apply(ev, basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: now, Email: email})
}

func (f *fixture) apply(evs ...basket.Event) {
	f.t.Helper()
	if _, err := f.eng.Apply(context.Background(), evs...); err != nil {
		f.t.Fatalf("Apply: %v", err)
	}
}

func (f *fixture) complete(id string) {
	f.t.Helper()
	f.apply(basket.Event{Type: basket.EventCompleted, BasketID: id, At: f.clock.Now()})
}

// tick gives the runner a turn now.
func (f *fixture) tick() TickStats {
	f.t.Helper()
	ts, err := f.r.Tick(context.Background(), f.clock.Now())
	if err != nil {
		f.t.Fatalf("Tick(%v): %v", f.clock.Now(), err)
	}
	return ts
}

// run advances the clock by d in steps of every, with a turn at each.
func (f *fixture) run(d, every time.Duration) {
	f.t.Helper()
	for end := f.clock.Now().Add(d); f.clock.Now().Before(end); {
		f.clock.Add(every)
		f.tick()
	}
}

// memSender records what it sends; err, if set, decides each send's
// outcome.
type memSender struct {
	mu   sync.Mutex
	sent []*Message
	err  func(m *Message) error
}

func (s *memSender) Send(ctx context.Context, m *Message, commit func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		if err := s.err(m); err != nil {
			return err
		}
	}
	if err := commit(); err != nil {
		return err
	}
	s.sent = append(s.sent, m)
	return nil
}

func (s *memSender) Resolve(_ context.Context, m *Message, _ bool) (Resolution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.sent {
		if x.Key == m.Key {
			return Delivered, nil
		}
	}
	return SendAgain, nil
}

func (s *memSender) messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.sent...)
}

// summary lists the messages as "basket/step" strings.
func summary(ms []*Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s/%d", m.BasketID, m.Step))
	}
	return out
}

// recoveryParams returns the basket id and token of a message's link.
func recoveryParams(t *testing.T, m *Message) (id, token string) {
	t.Helper()
	u, err := url.Parse(m.RecoveryURL)
	if err != nil {
		t.Fatalf("recovery URL %q: %v", m.RecoveryURL, err)
	}
	return u.Query().Get("basketId"), u.Query().Get("recover")
}

var errTemporary = errors.New("temporary failure")

// mimeDecoder decodes encoded header words.
type mimeDecoder struct{ mime.WordDecoder }

func (d *mimeDecoder) header(s string) string {
	out, err := d.DecodeHeader(s)
	if err != nil {
		return s
	}
	return out
}
