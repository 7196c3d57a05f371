package basket

import "testing"

// FuzzSimpleEmail: the fast path accepts only what the full check accepts.
func FuzzSimpleEmail(f *testing.F) {
	for _, s := range []string{"ann@example.com", "a.b+c@x-y.example.org", ".a@b.c", "a.@b.c", "a@b", "a@.b.c", "a@b..c", "a@b.c.", "a..b@c.d", "\"q\"@x.y", "a@b@c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if simpleEmail(s) {
			if err := validateEmail(s); err != nil {
				t.Fatalf("simpleEmail(%q) accepted what the full check refuses: %v", s, err)
			}
		}
	})
}
