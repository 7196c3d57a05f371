package cluster

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The key-value buckets of outgoing webhooks: each environment's
// endpoints' delivery state, and the leases that say which node delivers
// an environment's webhooks.
const (
	WebhookStateBucket = "abandoned_webhooks"
	WebhookLeaseBucket = "abandoned_webhook_leases"
)

// Defaults of LeaseOptions.
const (
	DefaultLeaseTTL  = 6 * time.Second
	DefaultLeasePoll = time.Second
)

// LeaseOptions configure a WebhookLease. A nil *LeaseOptions means the
// defaults.
type LeaseOptions struct {
	// TTL is how long the lease's key lives in the bucket after its last
	// renewal (the bucket's MaxAge, kept by the NATS servers' clocks): a
	// node that dies is replaced within TTL and a Poll. Every node of a
	// cluster needs the same. Default DefaultLeaseTTL (6 s).
	TTL time.Duration
	// Renew is how often the holder renews it. Default TTL/6 (1 s).
	Renew time.Duration
	// Margin is how long before the key can expire the holder stops, if it
	// could not renew: it holds the lease for TTL-Margin after sending its
	// last acknowledged renewal (sent before the server stamped it, so
	// before the key's age began). Default TTL/3 (2 s), what clock skew
	// between the NATS servers may take without two nodes delivering.
	Margin time.Duration
	// Poll is how often a node that does not hold the lease tries to take
	// it. Default DefaultLeasePoll.
	Poll time.Duration
	// Holder names this node in the lease's value, for an operator who
	// reads the bucket. Default: the host name and a random suffix.
	Holder string
}

// Webhooks returns the key-value store of the delivery state of alias's
// webhook endpoints, and a lease that one node at a time holds to deliver
// them (package webhook's Store and Lease), in buckets with as many
// replicas as the log's stream.
func (l *Log) Webhooks(ctx context.Context, alias string, o *LeaseOptions) (*WebhookStore, *WebhookLease, error) {
	var lo LeaseOptions
	if o != nil {
		lo = *o
	}
	if lo.TTL == 0 {
		lo.TTL = DefaultLeaseTTL
	}
	if lo.Renew == 0 {
		lo.Renew = lo.TTL / 6
	}
	if lo.Margin == 0 {
		lo.Margin = lo.TTL / 3
	}
	if lo.Poll == 0 {
		lo.Poll = DefaultLeasePoll
	}
	if lo.TTL < time.Second || lo.Renew <= 0 || lo.Margin <= 0 || lo.Renew >= lo.TTL-lo.Margin || lo.Poll <= 0 {
		return nil, nil, fmt.Errorf("cluster: lease TTL %v, Renew %v, Margin %v: want TTL of a second or more and 0 < Renew < TTL-Margin", lo.TTL, lo.Renew, lo.Margin)
	}
	if lo.Holder == "" {
		host, _ := os.Hostname()
		var b [4]byte
		cryptorand.Read(b[:])
		lo.Holder = strings.Trim(host+"-"+hex.EncodeToString(b[:]), "-")
	}
	replicas := l.Replicas()
	var state, leases jetstream.KeyValue
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		state, err = l.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: WebhookStateBucket, Replicas: replicas, Storage: jetstream.FileStorage, History: 1,
			Description: "abandoned: the delivery state of the environments' webhook endpoints",
		})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: the webhooks' bucket: %w", err)
	}
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		leases, err = l.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: WebhookLeaseBucket, Replicas: replicas, Storage: jetstream.FileStorage, History: 1, TTL: lo.TTL,
			Description: "abandoned: which node delivers each environment's webhooks",
		})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: the webhook leases' bucket: %w", err)
	}
	name := StreamName(alias)
	return &WebhookStore{kv: state, prefix: name + "."},
		&WebhookLease{kv: leases, key: name, value: []byte(lo.Holder), o: lo}, nil
}

// WebhookStore keeps the delivery state of an environment's webhook
// endpoints in JetStream key-value (package webhook's Store), so that the
// node that takes over delivery goes on where the last one was.
type WebhookStore struct {
	kv     jetstream.KeyValue
	prefix string
}

// Load returns the value of key; nil if none.
func (s *WebhookStore) Load(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := retry(ctx, func(ctx context.Context) error {
		e, err := s.kv.Get(ctx, s.prefix+key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			v = nil
			return nil
		case err != nil:
			return err
		}
		v = e.Value()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: webhook state %s: %w", key, err)
	}
	return v, nil
}

// Save stores value under key, on a quorum of the bucket's replicas once
// it returns nil.
func (s *WebhookStore) Save(ctx context.Context, key string, value []byte) error {
	err := retry(ctx, func(ctx context.Context) error {
		_, err := s.kv.Put(ctx, s.prefix+key, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: webhook state %s: %w", key, err)
	}
	return nil
}

// WebhookLease is the lease of one environment's webhook delivery in
// JetStream key-value (package webhook's Lease): a key created by the node
// that takes it, renewed with a revision-checked update, and removed by
// the bucket's MaxAge (LeaseOptions.TTL) after its last renewal if its
// holder dies. The holder stops (its held context is done) Margin before
// the key can expire, so that no two nodes deliver at once unless the
// clocks of the NATS servers disagree by more than Margin.
type WebhookLease struct {
	kv    jetstream.KeyValue
	key   string
	value []byte
	o     LeaseOptions
}

// Acquire waits until this node holds the lease, trying every
// LeaseOptions.Poll, or until ctx is done.
func (l *WebhookLease) Acquire(ctx context.Context) (context.Context, func(), error) {
	for {
		sent := time.Now()
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		rev, err := l.kv.Create(actx, l.key, l.value)
		cancel()
		if err == nil {
			held, release := l.hold(ctx, rev, sent)
			return held, release, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		// Held by another node (jetstream.ErrKeyExists), or the bucket
		// is electing a leader: try again.
		sleep(ctx, l.o.Poll)
	}
}

// hold renews the lease from revision rev, created by a request sent at
// sent, until it cannot, ctx is done or release is called.
func (l *WebhookLease) hold(ctx context.Context, rev uint64, sent time.Time) (context.Context, func()) {
	held, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var last uint64 // the revision last written; read after done
	go func() {
		defer close(done)
		defer cancel()
		last = rev
		until := sent.Add(l.o.TTL - l.o.Margin)
		expire := time.NewTimer(time.Until(until))
		defer expire.Stop()
		renew := time.NewTicker(l.o.Renew)
		defer renew.Stop()
		for {
			select {
			case <-held.Done():
				return
			case <-expire.C:
				return // not renewed in time: another node may take it soon
			case <-renew.C:
			}
			s := time.Now()
			rctx, rcancel := context.WithDeadline(held, until)
			next, err := l.kv.Update(rctx, l.key, l.value, last)
			rcancel()
			switch {
			case err == nil:
				last = next
				until = s.Add(l.o.TTL - l.o.Margin)
				expire.Reset(time.Until(until))
			case wrongRevision(err):
				return // the key expired and another node took it
			}
		}
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			cancel()
			<-done
			// Give the lease up, if it is still this node's, so that another
			// takes over at once.
			dctx, dcancel := context.WithTimeout(context.Background(), attemptTimeout)
			defer dcancel()
			l.kv.Delete(dctx, l.key, jetstream.LastRevision(last)) //nolint:errcheck // else it expires
		})
	}
	return held, release
}

// wrongRevision reports whether err is a revision-checked write refused
// because the key changed.
func wrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
