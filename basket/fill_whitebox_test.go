package basket

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// poison sets every field of v, a struct, slice, map or scalar reached by
// Set, to a value that is not its zero, so that a field fill leaves alone
// shows.
func poison(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1234567890, 0)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				poison(v.Field(i))
			}
		}
	case reflect.String:
		v.SetString("stale")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		poison(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		poison(k)
		if e.Kind() != reflect.Interface {
			poison(e)
		} else {
			e.Set(reflect.ValueOf("stale"))
		}
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf("stale"))
	default:
		panic(fmt.Sprintf("poison: a field of kind %v", v.Kind()))
	}
}

// TestFillSetsEveryField: the readers that reuse one Basket from record to
// record (AbandonedFunc, FeedFunc) and the pages that fill their slices in
// place rely on fill setting every field. A basket whose fields all hold
// stale values, filled from each record of a varied engine (some followed
// up), must equal the view built afresh.
func TestFillSetsEveryField(t *testing.T) {
	e, _ := variedEngine(t, 3, 300)
	defer e.Close()
	ctx := context.Background()
	for i := 0; i < 300; i += 7 {
		if err := e.FollowUp(ctx, fmt.Sprintf("b-%05d", i), "called"); err != nil {
			t.Fatal(err)
		}
	}
	for _, reuse := range []bool{false, true} {
		m := materialiser{e: e, reuse: reuse}
		e.mu.RLock()
		var recs []*record
		for i := range 300 {
			if r := e.recs.get(fmt.Sprintf("b-%05d", i)); r != nil {
				recs = append(recs, r)
			}
		}
		m.nowSec = e.readNow() / 1000
		m.hold(recs)
		e.mu.RUnlock()
		if len(recs) != 300 {
			t.Fatalf("found %d of 300 records", len(recs))
		}
		followed, abandoned := 0, 0
		for _, r := range recs {
			want := m.basket(r)
			var b Basket
			poison(reflect.ValueOf(&b).Elem())
			m.fill(&b, r)
			if !reflect.DeepEqual(b, want) {
				t.Fatalf("reuse %v, %s: filled over stale values\n%+v\nwant\n%+v", reuse, r.id, b, want)
			}
			if !want.FollowedUpAt.IsZero() {
				followed++
			}
			if want.Abandoned {
				abandoned++
			}
		}
		if followed == 0 || abandoned == 0 || abandoned == len(recs) {
			t.Fatalf("reuse %v: %d followed up, %d of %d abandoned: the engine does not vary enough", reuse, followed, abandoned, len(recs))
		}
	}
}

// TestLinkSpelling: the links a page writes straight into its builder
// (writeLink) are spelled as appendLink spells them for the digest and as
// parseLink reads them back from a snapshot, for ids that need escaping
// too, and the tokens of links issued afresh, past a cached one's
// freshness, verify.
func TestLinkSpelling(t *testing.T) {
	if tokenTextLen != b64.EncodedLen(tokenLen) {
		t.Fatalf("tokenTextLen = %d; want %d", tokenTextLen, b64.EncodedLen(tokenLen))
	}
	e, _ := variedEngine(t, 5, 200)
	defer e.Close()
	nowSec := e.readNow() / 1000
	e.mu.RLock()
	var recs []*record
	for i := range 200 {
		if r := e.recs.get(fmt.Sprintf("b-%05d", i)); r != nil && r.abandoned() && r.linkExp != 0 {
			recs = append(recs, r)
		}
	}
	validity := e.recoveryValidity
	e.mu.RUnlock()
	if len(recs) == 0 {
		t.Fatal("no abandoned record with a cached link")
	}
	for _, id := range []string{"", "plain-id_1.~", "a b&c=d/é?%"} {
		for _, orig := range recs[:min(len(recs), 20)] {
			r := *orig
			if id != "" {
				r.id = id
			}
			var sb strings.Builder
			e.writeRecoveryLink(&sb, &r, nowSec, validity)
			want := string(e.appendLink(nil, r.id, r.linkKeyID(), r.linkExp, r.linkMAC[:]))
			if sb.String() != want {
				t.Fatalf("%q: writeRecoveryLink wrote\n%s\nappendLink appends\n%s", r.id, sb.String(), want)
			}
			if url.QueryEscape(r.id) == r.id && sb.Len() != e.linkLen(&r) {
				t.Fatalf("%q: a link of %d bytes; linkLen says %d", r.id, sb.Len(), e.linkLen(&r))
			}
			back := r
			e.parseLink(&back, []byte(want))
			if back.linkMAC != r.linkMAC || back.linkExp != r.linkExp || back.linkKey != r.linkKey {
				t.Fatalf("%q: parseLink(%s) took back %x %d %d; want %x %d %d", r.id, want,
					back.linkMAC, back.linkExp, back.linkKey, r.linkMAC, r.linkExp, r.linkKey)
			}

			// Past half the cached link's validity, a new link is signed.
			later := int64(r.linkExp) - int64(validity/time.Second)/2 + 1
			sb.Reset()
			e.writeRecoveryLink(&sb, &r, later, validity)
			u, err := url.Parse(sb.String())
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if q.Get("basketId") != r.id {
				t.Fatalf("%s: basketId %q; want %q", sb.String(), q.Get("basketId"), r.id)
			}
			tok := q.Get("recover")
			exp, err := e.keys.verify(PurposeRecover, recoverSubject(r.id, r.revokedUntil()), tok, later)
			if err != nil || exp != later+int64(validity/time.Second) {
				t.Fatalf("%s: verify = %d, %v; want %d, nil", sb.String(), exp, err, later+int64(validity/time.Second))
			}
			if strings.Contains(want, tok) {
				t.Fatalf("%s: the link issued afresh carries the cached token", sb.String())
			}
		}
	}
}
