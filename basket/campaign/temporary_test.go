package campaign

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestSMTPTemporaryAfterDataRetried: a 4xx answer to the final dot (a
// provider's rate limit) means the server did not take the message: it is
// tried again after RetryAfter and delivered once, nothing in doubt.
func TestSMTPTemporaryAfterDataRetried(t *testing.T) {
	for _, code := range []int{451, 421} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := newFixture(t, &Options{Steps: []time.Duration{time.Hour}, RetryAfter: 10 * time.Minute}, nil)
			s := newSMTPServer(t)
			refused := 0
			s.mu.Lock()
			s.onData = func(string) error {
				if refused < 2 {
					refused++
					return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "slow down"}
				}
				return nil
			}
			s.mu.Unlock()
			r, err := New(EngineSource{f.eng}, s.sender(), &Options{ShopURL: "shop.example.com",
				Steps: []time.Duration{time.Hour}, RetryAfter: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			f.r = r
			f.tick()
			f.basket("b-1", "ann@example.com", nil)
			f.run(2*time.Hour, 5*time.Minute)
			got := s.deliveries()
			if n := got[s.sender().MessageID(Key(DefaultName, "b-1", 1))]; n != 1 || len(got) != 1 {
				t.Errorf("deliveries %v; want step 1 once after two refusals", got)
			}
			rep := r.Report()
			if rep.Total.Sent != 1 || rep.Total.Failed != 2 || rep.Total.InDoubt != 0 || len(rep.InDoubt) != 0 {
				t.Errorf("report sent %d, failed %d, in doubt %d %v; want 1, 2, 0", rep.Total.Sent, rep.Total.Failed,
					rep.Total.InDoubt, rep.InDoubt)
			}
		})
	}
}

// lockSender checks, while it sends, that the runner is free, and
// suppresses an address as an unsubscribe arriving then would.
type lockSender struct {
	memSender
	r      *Runner
	locked bool
}

func (s *lockSender) Send(ctx context.Context, m *Message, commit func() error) error {
	if !s.r.mu.TryLock() {
		s.locked = true
	} else {
		s.r.mu.Unlock()
		if err := s.r.Suppress(ctx, "bob@example.com", ""); err != nil {
			return err
		}
	}
	return s.memSender.Send(ctx, m, commit)
}

// TestSendDoesNotHoldRunner: an unsubscribe need not wait for the sender;
// one recorded during a send stops the address's next steps.
func TestSendDoesNotHoldRunner(t *testing.T) {
	f := newFixture(t, nil, nil)
	snd := &lockSender{}
	r, err := New(EngineSource{f.eng}, snd, &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour, 48 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	snd.r, f.r = r, r
	f.tick()
	f.basket("b-1", "bob@example.com", nil)
	f.run(50*time.Hour, 30*time.Minute)
	if snd.locked {
		t.Fatal("the runner was locked while the sender worked")
	}
	if got := summary(snd.messages()); len(got) != 1 || got[0] != "b-1/1" {
		t.Errorf("messages %v; want step 1 only, step 2 suppressed", got)
	}
	if rep := r.Report(); rep.Skipped[ReasonSuppressed] != 1 {
		t.Errorf("skipped %v; want step 2 suppressed", rep.Skipped)
	}
}
