package campaign

import (
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
