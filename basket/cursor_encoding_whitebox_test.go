package basket

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// reflectiveCursorRecord is how cursor records were encoded before
// appendCursorRecord: msgpack's reflective Encoder, from its pool.
func reflectiveCursorRecord(t testing.TB, rec *cursorRecord) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	enc.Reset(&buf)
	err := enc.Encode(rec)
	msgpack.PutEncoder(enc)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// reflectiveCursor is the cursor the keyring issued for rec before
// appendCursorRecord: the reflective record, the key's id and its MAC,
// base64url without padding.
func reflectiveCursor(t testing.TB, kr *keyring, rec *cursorRecord) string {
	t.Helper()
	body := reflectiveCursorRecord(t, rec)
	k := kr.signer()
	body = append(body, k.id[:]...)
	var mac [sha256.Size]byte
	body = append(body, cursorMAC(k, body, mac[:0])...)
	return b64.EncodeToString(body)
}

// randomCursorString is a string whose length is often at or next to a
// boundary of msgpack's string headers (fixstr 31, str8 255, str16 65535).
func randomCursorString(r *rand.Rand) string {
	var n int
	switch r.IntN(6) {
	case 0:
		n = 0
	case 1:
		n = r.IntN(40)
	case 2:
		n = []int{31, 32, 33, 255, 256, 257}[r.IntN(6)]
	case 3:
		n = r.IntN(300)
	case 4:
		if r.IntN(4) != 0 {
			return ""
		}
		n = []int{65535, 65536, 65537}[r.IntN(3)]
	default:
		n = r.IntN(2000)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return string(b)
}

func randomCursorInt(r *rand.Rand) int64 {
	switch r.IntN(5) {
	case 0:
		return noBound
	case 1:
		return []int64{0, 1, -1, 127, 128, -32, -33, 255, 256, math.MaxInt64, math.MinInt64}[r.IntN(11)]
	case 2:
		return r.Int64N(1 << 45) // unix ms
	case 3:
		return -r.Int64N(1 << 20)
	}
	return int64(r.Uint64())
}

func randomCursorRecord(r *rand.Rand) cursorRecord {
	rec := cursorRecord{
		Version:     uint8(r.UintN(256)),
		Alias:       randomCursorString(r),
		After:       randomCursorInt(r),
		Before:      randomCursorInt(r),
		Tag:         randomCursorString(r),
		LastCreated: randomCursorInt(r),
		LastID:      randomCursorString(r),
	}
	if r.IntN(4) == 0 {
		rec.Version = cursorVersion
	}
	switch r.IntN(4) {
	case 0: // nil: no email
	case 1:
		rec.Email = []byte{}
	default:
		rec.Email = []byte(randomCursorString(r))
	}
	return rec
}

// TestCursorRecordEncoding: appendCursorRecord writes the bytes msgpack's
// reflective Encoder writes for the same record, for random records with
// lengths at every header boundary, and encodeCursor the same cursor as
// before: cursors issued by earlier versions keep decoding and comparing
// equal.
func TestCursorRecordEncoding(t *testing.T) {
	kr := mustKeyring(t, wbSecretA)
	r := rand.New(rand.NewPCG(1, 2))
	fixed := []cursorRecord{
		{},
		{Version: cursorVersion, Alias: "x", After: noBound, Before: noBound, LastID: "b-1"},
		{Version: cursorVersion, Alias: "x", After: 5, Before: 9, Email: kr.signer().sealEmail("ann@example.com"), Tag: "t", LastCreated: 7, LastID: "b-22"},
		{Version: cursorVersion, Alias: strings.Repeat("a", 31), Tag: strings.Repeat("t", 32), LastID: strings.Repeat("i", 256), Email: make([]byte, 255)},
		{Email: make([]byte, 256), LastID: strings.Repeat("i", 65536)},
		{Email: make([]byte, 65536)},
	}
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range len(fixed) + n {
		var rec cursorRecord
		if i < len(fixed) {
			rec = fixed[i]
		} else {
			rec = randomCursorRecord(r)
		}
		want := reflectiveCursorRecord(t, &rec)
		got := appendCursorRecord([]byte("prefix"), &rec)
		if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want) {
			t.Fatalf("record %d (%d, %q…): appendCursorRecord =\n%x…\nwant\n%x…", i, rec.Version,
				trim(rec.Alias), trim(string(got[6:])), trim(string(want)))
		}
		c, err := kr.encodeCursor(&rec)
		if err != nil {
			t.Fatal(err)
		}
		if old := reflectiveCursor(t, kr, &rec); c != old {
			t.Fatalf("record %d: encodeCursor = %q…; the reflective encoding gave %q…", i, trim(c), trim(old))
		}
		rec.Version = cursorVersion
		if c, err = kr.encodeCursor(&rec); err != nil || len(c) > maxCursorLen {
			continue
		}
		back := new(cursorRecord)
		k, err := kr.decodeCursor(back, c, rec.Alias)
		if err != nil || k != kr.signer() {
			t.Fatalf("record %d: decodeCursor(encodeCursor) = %v", i, err)
		}
		if !sameCursorRecord(back, &rec) {
			t.Fatalf("record %d: decoded %+v; want %+v", i, back, &rec)
		}
	}
}

// sameCursorRecord compares two records; an empty email and none are
// told apart (nil is msgpack's nil, empty a bin of 0 bytes), as the
// decoder tells them apart.
func sameCursorRecord(a, b *cursorRecord) bool {
	return a.Version == b.Version && a.Alias == b.Alias && a.After == b.After && a.Before == b.Before &&
		bytes.Equal(a.Email, b.Email) && (a.Email == nil) == (b.Email == nil) &&
		a.Tag == b.Tag && a.LastCreated == b.LastCreated && a.LastID == b.LastID
}

func trim(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// FuzzCursorRecordEncoding: for any record, appendCursorRecord and
// msgpack's reflective Encoder write the same bytes.
func FuzzCursorRecordEncoding(f *testing.F) {
	f.Add(uint8(1), "x", int64(noBound), int64(noBound), []byte(nil), "", int64(0), "b-1", false)
	f.Add(uint8(1), strings.Repeat("a", 40), int64(5), int64(-9), []byte("sealed"), "web", int64(1<<40), "b-22", true)
	f.Fuzz(func(t *testing.T, v uint8, alias string, after, before int64, email []byte, tag string, last int64, id string, emptyEmail bool) {
		if emptyEmail && email == nil {
			email = []byte{}
		}
		rec := cursorRecord{Version: v, Alias: alias, After: after, Before: before, Email: email, Tag: tag, LastCreated: last, LastID: id}
		if got, want := appendCursorRecord(nil, &rec), reflectiveCursorRecord(t, &rec); !bytes.Equal(got, want) {
			t.Fatalf("appendCursorRecord = %x; want %x", got, want)
		}
	})
}

// TestEncodeCursorAllocs: a cursor costs one allocation, its string.
func TestEncodeCursorAllocs(t *testing.T) {
	if cursorRaceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	kr := mustKeyring(t, wbSecretA)
	rec := cursorRecord{Version: cursorVersion, Alias: "bench", After: 1711411440000, Before: noBound, Tag: "web", LastCreated: 1711411450000, LastID: "basket-00012345-eb57-462d-8e55-981c3b5e5364"}
	kr.encodeCursor(&rec) // fill the pools
	if n := testing.AllocsPerRun(100, func() { kr.encodeCursor(&rec) }); n > 1 {
		t.Errorf("encodeCursor: %v allocations; want 1", n)
	}
}

// TestDecodeCursorAllocs: decoding a cursor costs two allocations, the
// strings of its tag and last id. The decoded bytes and the MACs stay on
// the stack (they went to the heap when handed to the hash.Hash
// interface), and so do a recovery token's when it is verified.
func TestDecodeCursorAllocs(t *testing.T) {
	if cursorRaceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	kr := mustKeyring(t, wbSecretA)
	rec := cursorRecord{Version: cursorVersion, Alias: "bench", After: 1711411440000, Before: noBound, Tag: "web", LastCreated: 1711411450000, LastID: "basket-00012345-eb57-462d-8e55-981c3b5e5364"}
	c, err := kr.encodeCursor(&rec)
	if err != nil {
		t.Fatal(err)
	}
	var back cursorRecord
	if _, err := kr.decodeCursor(&back, c, "bench"); err != nil || back.LastID != rec.LastID {
		t.Fatalf("decodeCursor = %+v, %v", back, err)
	}
	if n := testing.AllocsPerRun(100, func() { kr.decodeCursor(&back, c, "bench") }); n > 2 {
		t.Errorf("decodeCursor: %v allocations; want 2", n)
	}
	tok := kr.signer().issue(PurposeRecover, "b-1", 2e9)
	if n := testing.AllocsPerRun(100, func() { kr.verify(PurposeRecover, "b-1", tok, 1e9) }); n != 0 {
		t.Errorf("verify: %v allocations; want none", n)
	}
}

// reflectiveDecodeCursorRecord is how cursor records were decoded before
// parseCursorRecord: msgpack's reflective Decoder, which reads any form of
// each value.
func reflectiveDecodeCursorRecord(b []byte) (cursorRecord, error) {
	var rec cursorRecord
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&rec); err != nil {
		return rec, err
	}
	if _, err := dec.PeekCode(); err != io.EOF {
		return rec, fmt.Errorf("bytes after the record")
	}
	return rec, nil
}

// TestParseCursorRecord: parseCursorRecord reads back every record
// appendCursorRecord writes (random ones, and lengths at each header
// boundary), as msgpack's Decoder does, and refuses each of its prefixes.
func TestParseCursorRecord(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		rec := randomCursorRecord(r)
		b := appendCursorRecord(nil, &rec)
		var got cursorRecord
		if !parseCursorRecord(&got, b, "") || !sameCursorRecord(&got, &rec) {
			t.Fatalf("record %d: parseCursorRecord(%x…) = %+v; want %+v", i, trim(string(b)), got, rec)
		}
		want, err := reflectiveDecodeCursorRecord(b)
		if err != nil || !sameCursorRecord(&got, &want) {
			t.Fatalf("record %d: parsed %+v; msgpack decodes %+v, %v", i, got, want, err)
		}
		if again := new(cursorRecord); !parseCursorRecord(again, b, rec.Alias) || again.Alias != rec.Alias {
			t.Fatalf("record %d: with its alias given, parsed alias %q; want %q", i, again.Alias, rec.Alias)
		}
		if i%100 == 0 {
			for n := range len(b) {
				if parseCursorRecord(new(cursorRecord), b[:n], "") {
					t.Fatalf("record %d: parseCursorRecord accepts its first %d bytes of %d", i, n, len(b))
				}
			}
		}
		if parseCursorRecord(new(cursorRecord), append(b, 0), "") {
			t.Fatalf("record %d: parseCursorRecord accepts a byte after the record", i)
		}
	}
}

// FuzzParseCursorRecord: whatever parseCursorRecord accepts, msgpack's
// Decoder reads as the same record, and appendCursorRecord writes back
// byte for byte.
func FuzzParseCursorRecord(f *testing.F) {
	for _, rec := range []cursorRecord{
		{Version: cursorVersion, Alias: "x", After: noBound, Before: noBound, LastID: "b-1"},
		{Version: cursorVersion, Alias: "x", After: 5, Before: 9, Email: []byte("sealed"), Tag: "t", LastCreated: 7, LastID: "b-22"},
		{Email: []byte{}, LastID: strings.Repeat("i", 300)},
	} {
		f.Add(appendCursorRecord(nil, &rec))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got cursorRecord
		if !parseCursorRecord(&got, b, "x") {
			return
		}
		want, err := reflectiveDecodeCursorRecord(b)
		if err != nil || !sameCursorRecord(&got, &want) {
			t.Fatalf("parseCursorRecord(%x) = %+v; msgpack decodes %+v, %v", b, got, want, err)
		}
		if back := appendCursorRecord(nil, &got); !bytes.Equal(back, b) {
			t.Fatalf("parseCursorRecord(%x) accepted what encodes as %x", b, back)
		}
	})
}

// TestDecodeCursorVersion: a signed cursor of another version is refused
// as of an unsupported version, not as malformed, whether its record has
// this version's layout or another (here, a field more).
func TestDecodeCursorVersion(t *testing.T) {
	kr := mustKeyring(t, wbSecretA)
	rec := cursorRecord{Version: cursorVersion + 1, Alias: "x", After: noBound, Before: noBound, LastID: "b-1"}
	same, err := kr.encodeCursor(&rec)
	if err != nil {
		t.Fatal(err)
	}
	k := kr.signer()
	buf := append(appendCursorRecord(nil, &rec), mpNil)
	buf = append(buf, k.id[:]...)
	buf = cursorMAC(k, buf, buf)
	other := string(b64.AppendEncode(nil, buf))
	for _, c := range []string{same, other} {
		var qe *QueryError
		if _, err := kr.decodeCursor(new(cursorRecord), c, "x"); !errors.As(err, &qe) || qe.Reason != "unsupported version" {
			t.Fatalf("decodeCursor(version %d) = %v; want unsupported version", rec.Version, err)
		}
	}
}
