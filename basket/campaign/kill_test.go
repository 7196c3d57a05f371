package campaign

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// The kill test runs the campaign runner as a separate process (this test
// binary, re-executed) over a durable engine and a durable campaign state,
// and kills it with SIGKILL at random moments, again and again, until one
// life of it reaches the end of the simulated period.

var killRuns = flag.Int("kill.runs", 25, "how many lives of the runner TestKillSMTP may kill; the next runs to the end")

const (
	killDirEnv  = "CAMPAIGN_KILL_DIR"
	killSMTPEnv = "CAMPAIGN_KILL_SMTP"
	killEnd     = 80 * time.Hour // of simulated time after t0
	killBaskets = 10
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(killDirEnv); dir != "" {
		os.Exit(killChild(dir, os.Getenv(killSMTPEnv)))
	}
	os.Exit(m.Run())
}

// killChild is one life of the runner: it resumes the simulated clock where
// the last life left it, creates the baskets on its first life, and ticks
// every five simulated minutes to the end, printing "tick" after each.
func killChild(dir, smtpAddr string) int {
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		return 3
	}
	der, err := os.ReadFile(filepath.Join(dir, "ca.der"))
	if err != nil {
		return fail("ca", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return fail("ca", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	now := t0
	if b, err := os.ReadFile(filepath.Join(dir, "progress")); err == nil {
		ms, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return fail("progress", err)
		}
		now = time.UnixMilli(ms).UTC()
	}
	clock := btest.NewClock(now)
	eng, err := basket.Open(filepath.Join(dir, "engine"), &basket.Options{Now: clock.Now, TTL: basket.NoExpiry,
		SnapshotEvery: -1, RecoverySecrets: [][]byte{btest.Secret}})
	if err != nil {
		return fail("engine", err)
	}
	defer eng.Close()
	snd := &SMTP{Addr: smtpAddr, TLS: StartTLS, TLSConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"},
		Username: smtpUser, Password: smtpPass, From: "Shop <news@shop.example.com>", Timeout: 5 * time.Second}
	r, err := Open(filepath.Join(dir, "campaign"), EngineSource{eng}, snd, &Options{Name: "kill", ShopURL: "https://shop.example.com"})
	if err != nil {
		return fail("campaign", err)
	}
	defer r.Close()
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	tick := func() error {
		if _, err := r.Tick(ctx, clock.Now()); err != nil {
			return err
		}
		// The clock's progress is kept after the tick: a life killed in
		// between ticks that moment again, which must be harmless.
		tmp := filepath.Join(dir, "progress.tmp")
		if err := os.WriteFile(tmp, []byte(strconv.FormatInt(clock.Now().UnixMilli(), 10)), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, "progress")); err != nil {
			return err
		}
		fmt.Fprintln(out, "tick")
		return out.Flush()
	}
	if err := tick(); err != nil { // activation comes before the baskets
		return fail("tick", err)
	}
	if st, err := eng.Stats(context.Background()); err == nil && st.Open+st.Contactable+st.Completed == 0 {
		for i := range killBaskets {
			id := fmt.Sprintf("b-%02d", i)
			at := clock.Now()
			if _, err := eng.Apply(ctx,
				basket.Event{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout",
					OrderItems: []basket.OrderItem{{Name: "Weekend", Path: "/offers/weekend"}}},
				basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: fmt.Sprintf("c%d@example.com", i)},
			); err != nil {
				return fail("apply", err)
			}
			clock.Add(time.Minute)
		}
	}
	for clock.Now().Before(t0.Add(killEnd)) {
		clock.Add(5 * time.Minute)
		if err := tick(); err != nil {
			return fail("tick", err)
		}
	}
	return 0
}

// TestKillSMTP kills the runner process with SIGKILL at random moments,
// over and over, while it sends through a real SMTP server on loopback;
// after the last life no step reached the server twice, and every step
// reached it or is reported in doubt.
func TestKillSMTP(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := newSMTPServer(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.der"), s.ca, 0o600); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(testSeed(t), 2))
	kills, finished := 0, false
	for life := 0; life <= *killRuns && !finished; life++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), killDirEnv+"="+dir, killSMTPEnv+"="+s.addr)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ticks := make(chan struct{}, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				select {
				case ticks <- struct{}{}:
				default:
				}
			}
			close(ticks)
		}()
		var kill <-chan time.Time
		for waiting := true; waiting; {
			select {
			case _, ok := <-ticks:
				if !ok {
					waiting = false
				} else if kill == nil && life < *killRuns {
					kill = time.After(time.Duration(rng.IntN(40)) * time.Millisecond)
				}
			case <-kill:
				cmd.Process.Kill()
				kills++
				kill = nil
			}
		}
		err = cmd.Wait()
		switch {
		case err == nil:
			finished = true
		case cmd.ProcessState.ExitCode() != -1: // an exit, not our kill
			t.Fatalf("life %d of the runner failed: %v\n%s", life, err, stderr.String())
		}
	}
	if !finished {
		t.Fatalf("the last life of the runner did not reach the end")
	}
	if kills == 0 {
		t.Fatal("the runner was never killed")
	}
	rep, err := ReadReport(filepath.Join(dir, "campaign"), nil)
	if err != nil {
		t.Fatal(err)
	}
	doubt := map[string]bool{}
	for _, d := range rep.InDoubt {
		doubt[d.Key] = true
	}
	// A life killed while it created the baskets leaves fewer of them.
	eng, err := basket.Open(filepath.Join(dir, "engine"), &basket.Options{TTL: basket.NoExpiry, SnapshotEvery: -1,
		RecoverySecrets: [][]byte{btest.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	snd := &SMTP{From: "Shop <news@shop.example.com>"}
	got := s.deliveries()
	delivered, steps := 0, 0
	for i := range killBaskets {
		id := fmt.Sprintf("b-%02d", i)
		if _, ok := btest.Lookup(t, eng, id); !ok {
			continue
		}
		for step := 1; step <= 3; step++ {
			steps++
			key := Key("kill", id, step)
			switch n := got[snd.MessageID(key)]; {
			case n > 1:
				t.Errorf("%s step %d delivered %d times", id, step, n)
			case n == 0 && !doubt[key]:
				t.Errorf("%s step %d skipped: not delivered, not reported in doubt", id, step)
			default:
				delivered += n
			}
		}
	}
	if len(got) != delivered {
		t.Errorf("the server holds %d messages; %d belong to the campaign's steps", len(got), delivered)
	}
	if steps == 0 {
		t.Fatal("no basket was created")
	}
	t.Logf("%d kills; %d of %d steps delivered, %d in doubt", kills, delivered, steps, len(rep.InDoubt))
}
