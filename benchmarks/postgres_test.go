//go:build postgres

package benchmarks

import (
	"context"
	"strings"
	"testing"
)

func init() { addServerStore("postgres", openPostgres) }

// openPostgres starts a PostgreSQL server and opens a store on it; closing
// the store stops the server.
func openPostgres() (Store, error) {
	ctx := context.Background()
	srv, err := StartPostgres(ctx)
	if err != nil {
		return nil, err
	}
	s, err := NewPostgresStore(ctx, srv.ConnString())
	if err != nil {
		srv.Stop()
		return nil, err
	}
	return serverStore{s, srv.Stop}, nil
}

// TestPostgresStorePlanUsesPartialIndex checks that the page query, as
// planned for its values and as the generic plan of a prepared statement,
// reads the partial index in order: no sequential scan, no sort.
func TestPostgresStorePlanUsesPartialIndex(t *testing.T) {
	ctx := context.Background()
	srv, err := StartPostgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("Stop() = %v", err)
		}
	})
	s, err := NewPostgresStore(ctx, srv.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Load(Population(5000, 1)); err != nil {
		t.Fatal(err)
	}
	custom, generic, err := s.QueryPlans()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, plan string }{{"custom", custom}, {"generic", generic}} {
		if !strings.Contains(p.plan, "Index Scan using baskets_abandoned") || strings.Contains(p.plan, "Sort") || strings.Contains(p.plan, "Seq Scan") {
			t.Errorf("QueryPlans() %s plan:\n%s\nwant an index scan of baskets_abandoned with no sort", p.name, p.plan)
		}
	}
}
