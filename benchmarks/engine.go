package benchmarks

import (
	"context"
	"fmt"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// EngineStore is the basket engine behind the Store interface: baskets go in
// as events, pages come out of Engine.Abandoned with their cursors.
type EngineStore struct {
	eng *basket.Engine
	evs []basket.Event // scratch for Insert
}

// NewEngineStore returns an in-memory engine whose clock is fixed at Epoch.
func NewEngineStore() (*EngineStore, error) {
	eng, err := basket.New(&basket.Options{Now: func() time.Time { return Epoch }})
	if err != nil {
		return nil, err
	}
	return &EngineStore{eng: eng}, nil
}

// Engine returns the engine.
func (s *EngineStore) Engine() *basket.Engine { return s.eng }

// Name returns "engine".
func (s *EngineStore) Name() string { return "engine" }

// basketEvents appends the events that make b: created, then an SSO login
// per identity (the first with the customer details), or the details alone.
func basketEvents(dst []basket.Event, b *basket.Basket) []basket.Event {
	dst = append(dst, basket.Event{
		Type: basket.EventCreated, BasketID: b.ID, At: b.Created, Entry: b.Entry,
		OrderItems: b.OrderItems, Tracking: b.Tracking, CustomFields: b.CustomFields,
	})
	at := b.Created
	details := b.CustomerDetails != (basket.CustomerDetails{})
	for i := range b.Identities {
		at = at.Add(time.Second)
		ev := basket.Event{Type: basket.EventIdentified, BasketID: b.ID, At: at, Identity: &b.Identities[i]}
		if i == 0 && details {
			ev.CustomerDetails = &b.CustomerDetails
		}
		dst = append(dst, ev)
	}
	if len(b.Identities) == 0 && details {
		dst = append(dst, basket.Event{
			Type: basket.EventCustomerDetailsChanged, BasketID: b.ID, At: at.Add(time.Second),
			CustomerDetails: &b.CustomerDetails,
		})
	}
	return dst
}

// Load applies the baskets' events in batches of about 1,000 events; the
// engine has no bulk loader.
func (s *EngineStore) Load(bs []basket.Basket) error {
	ctx := context.Background()
	batch := make([]basket.Event, 0, 1024)
	for i := range bs {
		batch = basketEvents(batch, &bs[i])
		if len(batch) >= 1000 || i == len(bs)-1 {
			if _, err := s.eng.Apply(ctx, batch...); err != nil {
				return err
			}
			clear(batch)
			batch = batch[:0]
		}
	}
	return nil
}

// Insert applies the events of one basket in one batch.
func (s *EngineStore) Insert(b *basket.Basket) error {
	s.evs = basketEvents(s.evs[:0], b)
	_, err := s.eng.Apply(context.Background(), s.evs...)
	return err
}

// Flush does nothing: Apply is visible when it returns.
func (s *EngineStore) Flush() error { return nil }

// Remove erases the baskets by their emails, in batches of 1,000 events.
// The engine keeps their ids as erased: they cannot be created again.
func (s *EngineStore) Remove(bs []*basket.Basket) error {
	ctx := context.Background()
	batch := make([]basket.Event, 0, 1000)
	for i, b := range bs {
		batch = append(batch, basket.Event{Type: basket.EventErased, At: Epoch, Email: b.CustomerDetails.Email})
		if len(batch) == cap(batch) || i == len(bs)-1 {
			if _, err := s.eng.Apply(ctx, batch...); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// Seek returns the position after key: a Pos with only a created time when
// key has no ID, otherwise the cursor of a page that ends at the last basket
// at or before key.
func (s *EngineStore) Seek(after Key) (Pos, error) {
	if after.ID == "" {
		return Pos{Key: after}, nil
	}
	ctx := context.Background()
	q := basket.Query{CreatedAfter: time.UnixMilli(after.Created - 1), Limit: basket.MaxLimit}
	p, err := s.eng.Abandoned(ctx, q)
	if err != nil {
		return Pos{}, err
	}
	k := 0
	for k < len(p.Items) && KeyOf(&p.Items[k]).Compare(after) <= 0 {
		k++
	}
	switch {
	case k == 0:
		// Nothing at or before key in its millisecond.
		return Pos{Key: Key{Created: after.Created}}, nil
	case k == len(p.Items) && p.Cursor != "":
		return Pos{}, fmt.Errorf("engine store: more than %d baskets created at %d", basket.MaxLimit, after.Created)
	}
	q.Limit = k
	if p, err = s.eng.Abandoned(ctx, q); err != nil {
		return Pos{}, err
	}
	if p.Cursor == "" {
		return Pos{End: true}, nil
	}
	return Pos{Cursor: p.Cursor}, nil
}

// Page returns a page of Engine.Abandoned: materialised baskets with their
// recovery links; the next Pos holds the page's cursor.
func (s *EngineStore) Page(pos Pos, limit int) ([]basket.Basket, Pos, error) {
	if pos.End {
		return nil, pos, nil
	}
	q := basket.Query{Limit: limit, Cursor: pos.Cursor}
	if pos.Cursor == "" && pos.Key != (Key{}) {
		if pos.Key.ID != "" {
			return nil, Pos{}, fmt.Errorf("engine store: Page after %v: Seek a key with an id", pos.Key)
		}
		q.CreatedAfter = time.UnixMilli(pos.Key.Created - 1)
	}
	p, err := s.eng.Abandoned(context.Background(), q)
	if err != nil {
		return nil, Pos{}, err
	}
	if p.Cursor == "" {
		return p.Items, Pos{End: true}, nil
	}
	return p.Items, Pos{Cursor: p.Cursor}, nil
}

// Len returns the number of abandoned baskets.
func (s *EngineStore) Len() (int, error) {
	st, err := s.eng.Stats(context.Background())
	return st.Abandoned, err
}

// Close closes the engine.
func (s *EngineStore) Close() error { return s.eng.Close() }
