package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Placement of environments: with many environments, every node does not
// hold every one. Each environment is hosted by a few nodes, chosen by
// rendezvous hashing over the live nodes, so that every node computes the
// same choice from the same members and a join or a loss moves only the
// environments it must. The members and what each hosts are kept in
// JetStream key-value, refreshed by every node, so every node sees the
// same.

// Member is a live node: its id and the base URL other nodes forward
// requests to.
type Member struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// Membership timing: a node renews its entries every memberRenew; an entry
// not renewed for memberTTL is gone (the node died); every node reads the
// buckets every memberRefresh.
const (
	memberRenew   = time.Second
	memberTTL     = 6 * time.Second
	memberRefresh = 500 * time.Millisecond
)

// Buckets of the membership.
const (
	membersBucket = "abandoned_members"
	hostingBucket = "abandoned_hosting"
)

// Place returns the n members that host environment alias: those with the
// highest rendezvous scores, best first. Every node computes the same from
// the same members. PlaceAll balances several environments.
func Place(alias string, members []Member, n int) []Member {
	s := scores(alias, members)
	out := make([]Member, 0, min(n, len(s)))
	for i := 0; i < n && i < len(s); i++ {
		out = append(out, s[i].m)
	}
	return out
}

type scored struct {
	m     Member
	score uint64
}

// scores ranks the members for alias, best first.
func scores(alias string, members []Member) []scored {
	s := make([]scored, 0, len(members))
	for _, m := range members {
		h := fnv.New64a()
		h.Write([]byte(alias))
		h.Write([]byte{0})
		h.Write([]byte(m.ID))
		s = append(s, scored{m, mix(h.Sum64())})
	}
	slices.SortFunc(s, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(a.m.ID, b.m.ID)
	})
	return s
}

// PlaceAll places every environment of aliases on min(n, len(members))
// distinct members, and no member holds more than its share,
// ceil(n·len(aliases)/len(members)): the (environment, member) pairs are
// taken in the order of their rendezvous scores, best first, as long as the
// member has room, so that most environments stay where Place would put
// them and a join or a loss moves few; an environment left short at the
// end (the only members with room hold it already) takes a member's place
// in another environment that the member with room can take over. Every
// node computes the same from the same members and aliases.
func PlaceAll(aliases []string, members []Member, n int) map[string][]Member {
	out := make(map[string][]Member, len(aliases))
	n = min(n, len(members))
	if n <= 0 {
		return out
	}
	share := (n*len(aliases) + len(members) - 1) / len(members)
	type pair struct {
		alias string
		s     scored
	}
	var pairs []pair
	for _, a := range aliases {
		for _, s := range scores(a, members) {
			pairs = append(pairs, pair{a, s})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := cmp.Compare(b.s.score, a.s.score); c != 0 {
			return c
		}
		if c := strings.Compare(a.alias, b.alias); c != 0 {
			return c
		}
		return strings.Compare(a.s.m.ID, b.s.m.ID)
	})
	load := map[string]int{}
	holds := func(alias, id string) bool {
		return slices.ContainsFunc(out[alias], func(m Member) bool { return m.ID == id })
	}
	for _, p := range pairs {
		if len(out[p.alias]) < n && load[p.s.m.ID] < share {
			out[p.alias] = append(out[p.alias], p.s.m)
			load[p.s.m.ID]++
		}
	}
	for _, a := range slices.Sorted(slices.Values(aliases)) {
		for len(out[a]) < n {
			// A member with room holds a already: it takes over a place of
			// a member B in another environment, and B takes a.
			moved := false
			for _, free := range members {
				if load[free.ID] >= share || !holds(a, free.ID) {
					continue
				}
				for _, b := range slices.Sorted(slices.Values(aliases)) {
					if b == a || holds(b, free.ID) {
						continue
					}
					for i, m := range out[b] {
						if holds(a, m.ID) {
							continue
						}
						out[b][i] = free
						out[a] = append(out[a], m)
						load[free.ID]++
						moved = true
						break
					}
					if moved {
						break
					}
				}
				if moved {
					break
				}
			}
			if !moved {
				// No swap helps (it cannot happen while n <= members):
				// the best-scored member not holding a, whatever its load.
				for _, s := range scores(a, members) {
					if !holds(a, s.m.ID) {
						out[a] = append(out[a], s.m)
						load[s.m.ID]++
						break
					}
				}
			}
		}
	}
	return out
}

// mix spreads the bits of an FNV hash (a finaliser of splitmix64), so that
// scores of ids that differ in their last byte are not ordered alike.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Membership is a node's place among the members: it keeps the node's
// entry alive, announces the environments it hosts, and reads what the
// others do. Close withdraws it.
type Membership struct {
	self    Member
	members jetstream.KeyValue
	hosting jetstream.KeyValue

	mu        sync.Mutex          // guards the fields below
	announced map[string]bool     // the environments this node hosts, by key
	live      []Member            // the members, by id
	hosts     map[string][]Member // environment key -> the members hosting it
	changed   chan struct{}       // closed and replaced when live or hosts change

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// envKey is an environment's key in the hosting bucket (alias may hold
// characters a key cannot).
func envKey(alias string) string { return strings.TrimPrefix(StreamName(alias), "ABANDONED_") }

// Join makes the node self a member of the cluster nc reaches and starts
// keeping its entry alive. It returns once the node's entry is stored and
// the members have been read once.
func Join(ctx context.Context, nc *nats.Conn, self Member, replicas int) (*Membership, error) {
	if self.ID == "" || strings.ContainsAny(self.ID, ". *>") || self.URL == "" {
		return nil, fmt.Errorf("cluster: member %q at %q: want an id without dots, spaces or wildcards, and a URL", self.ID, self.URL)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	m := &Membership{self: self, announced: map[string]bool{}, hosts: map[string][]Member{}, changed: make(chan struct{})}
	for _, b := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{{membersBucket, &m.members}, {hostingBucket, &m.hosting}} {
		err := retry(ctx, func(ctx context.Context) error {
			var err error
			*b.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: b.name, Replicas: replicas, Storage: jetstream.FileStorage, TTL: memberTTL,
				Description: "abandoned: the nodes of the cluster and the environments each hosts",
			})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("cluster: the bucket %s: %w", b.name, err)
		}
	}
	if err := m.renew(ctx); err != nil {
		return nil, err
	}
	if err := m.refresh(ctx); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		m.loop(rctx)
	}()
	return m, nil
}

// Self returns the node's own entry.
func (m *Membership) Self() Member { return m.self }

// loop renews the node's entries and reads the buckets until ctx is done.
func (m *Membership) loop(ctx context.Context) {
	renew := time.NewTicker(memberRenew)
	defer renew.Stop()
	refresh := time.NewTicker(memberRefresh)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
			rctx, cancel := context.WithTimeout(ctx, attemptTimeout)
			m.renew(rctx) //nolint:errcheck // the next renewal tries again, well within the TTL
			cancel()
		case <-refresh.C:
			rctx, cancel := context.WithTimeout(ctx, attemptTimeout)
			m.refresh(rctx) //nolint:errcheck // the view stays as it was until a read succeeds
			cancel()
		}
	}
}

// renew stores the node's entry and its announcements again, resetting
// their TTL.
func (m *Membership) renew(ctx context.Context) error {
	v := []byte(m.self.URL)
	if _, err := m.members.Put(ctx, m.self.ID, v); err != nil {
		return fmt.Errorf("cluster: renewing member %s: %w", m.self.ID, err)
	}
	m.mu.Lock()
	keys := make([]string, 0, len(m.announced))
	for k := range m.announced {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	var errs []error
	for _, k := range keys {
		if _, err := m.hosting.Put(ctx, k+"."+m.self.ID, v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// refresh reads the members and the hosting announcements.
func (m *Membership) refresh(ctx context.Context) error {
	members, err := readAll(ctx, m.members)
	if err != nil {
		return fmt.Errorf("cluster: reading the members: %w", err)
	}
	hosting, err := readAll(ctx, m.hosting)
	if err != nil {
		return fmt.Errorf("cluster: reading what the members host: %w", err)
	}
	var live []Member
	urls := map[string]string{}
	for id, url := range members {
		live = append(live, Member{ID: id, URL: url})
		urls[id] = url
	}
	slices.SortFunc(live, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	hosts := map[string][]Member{}
	for key, url := range hosting {
		env, id, ok := strings.Cut(key, ".")
		if !ok || urls[id] == "" {
			continue // a member gone: its announcements expire with it
		}
		hosts[env] = append(hosts[env], Member{ID: id, URL: url})
	}
	for _, hs := range hosts {
		slices.SortFunc(hs, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Equal(live, m.live) || !equalHosts(hosts, m.hosts) {
		m.live, m.hosts = live, hosts
		close(m.changed)
		m.changed = make(chan struct{})
	}
	return nil
}

func equalHosts(a, b map[string][]Member) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// readAll returns every key of a bucket with its value.
func readAll(ctx context.Context, kv jetstream.KeyValue) (map[string]string, error) {
	out := map[string]string{}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[k] = string(e.Value())
	}
	return out, nil
}

// Live returns the live members, by id.
func (m *Membership) Live() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.live)
}

// Hosts returns the members that announced hosting alias, by id.
func (m *Membership) Hosts(alias string) []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.hosts[envKey(alias)])
}

// Changed returns a channel closed when the members or what they host
// change.
func (m *Membership) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// Announce tells the others that this node hosts alias: caught up, it
// serves its requests.
func (m *Membership) Announce(ctx context.Context, alias string) error {
	k := envKey(alias)
	m.mu.Lock()
	m.announced[k] = true
	m.mu.Unlock()
	if _, err := m.hosting.Put(ctx, k+"."+m.self.ID, []byte(m.self.URL)); err != nil {
		return fmt.Errorf("cluster: announcing %s: %w", alias, err)
	}
	return m.refresh(ctx)
}

// Withdraw tells the others that this node no longer hosts alias.
func (m *Membership) Withdraw(ctx context.Context, alias string) error {
	k := envKey(alias)
	m.mu.Lock()
	delete(m.announced, k)
	m.mu.Unlock()
	if err := m.hosting.Delete(ctx, k+"."+m.self.ID); err != nil {
		return fmt.Errorf("cluster: withdrawing %s: %w", alias, err)
	}
	return m.refresh(ctx)
}

// Stop stops keeping the node alive and leaves its entries to expire, as
// a node that crashed does: the others see it gone after the TTL.
func (m *Membership) Stop() {
	m.cancel()
	m.done.Wait()
}

// Close stops keeping the node alive and withdraws its entries: the
// others see it gone at once rather than after the TTL.
func (m *Membership) Close() error {
	m.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
	defer cancel()
	m.mu.Lock()
	keys := make([]string, 0, len(m.announced))
	for k := range m.announced {
		keys = append(keys, k+"."+m.self.ID)
	}
	m.mu.Unlock()
	var errs []error
	for _, k := range keys {
		errs = append(errs, m.hosting.Delete(ctx, k))
	}
	errs = append(errs, m.members.Delete(ctx, m.self.ID))
	return errors.Join(errs...)
}
