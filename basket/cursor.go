package basket

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync"

	strictb64 "github.com/basketlab/abandoned/basket/internal/b64"
)

// cursorVersion is the version of the cursor record. A cursor of another
// version is rejected as invalid.
const cursorVersion = 1

const (
	cursorMACLen = 16
	maxCursorLen = 4096 // encoded bytes
	noBound      = int64(-1 << 63)
)

// cursorRecord is what a cursor carries: the query it continues and the
// position after which it continues. Encoded with msgpack as an array.
type cursorRecord struct {
	_msgpack    struct{} `msgpack:",as_array"`
	Version     uint8
	Alias       string
	After       int64  // createdAfter, unix ms; noBound if none
	Before      int64  // createdBefore, unix ms; noBound if none
	Email       []byte // the normalised email, sealed; nil if none
	Tag         string
	LastCreated int64
	LastID      string
}

// cursorBufs holds the buffers cursors are encoded in.
var cursorBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// maxPooledCursorBuf is the largest buffer put back in cursorBufs.
const maxPooledCursorBuf = 8 << 10

// encodeCursor signs rec with the first key.
func (kr *keyring) encodeCursor(rec *cursorRecord) (string, error) {
	bp := cursorBufs.Get().(*[]byte)
	buf := appendCursorRecord((*bp)[:0], rec)
	k := kr.signer()
	buf = append(buf, k.id[:]...)
	buf = cursorMAC(k, buf, buf)
	// The base64 text goes after the record in the same buffer: the string
	// is the only allocation.
	n := len(buf)
	buf = b64.AppendEncode(buf, buf)
	s := string(buf[n:])
	if cap(buf) <= maxPooledCursorBuf {
		*bp = buf[:0]
		cursorBufs.Put(bp)
	}
	return s, nil
}

// Codes of the msgpack format used by cursor records.
const (
	mpFixArray = 0x90
	mpFixStr   = 0xa0
	mpNil      = 0xc0
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpUint8    = 0xcc
	mpInt64    = 0xd3
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
)

// appendCursorRecord appends rec encoded as msgpack's reflective Encoder
// encodes a cursorRecord (as_array, integers at their declared width, no
// compact integers), byte for byte: cursors issued before keep decoding,
// and the same record gives the same cursor. TestCursorRecordEncoding
// checks it against msgpack.
func appendCursorRecord(dst []byte, rec *cursorRecord) []byte {
	dst = append(dst, mpFixArray|8, mpUint8, rec.Version)
	dst = appendMsgpackString(dst, rec.Alias)
	dst = appendMsgpackInt64(dst, rec.After)
	dst = appendMsgpackInt64(dst, rec.Before)
	if rec.Email == nil {
		dst = append(dst, mpNil)
	} else {
		dst = appendMsgpackLen(dst, len(rec.Email), 0, mpBin8, mpBin16, mpBin32)
		dst = append(dst, rec.Email...)
	}
	dst = appendMsgpackString(dst, rec.Tag)
	dst = appendMsgpackInt64(dst, rec.LastCreated)
	return appendMsgpackString(dst, rec.LastID)
}

func appendMsgpackInt64(dst []byte, v int64) []byte {
	u := uint64(v)
	return append(dst, mpInt64, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
		byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

func appendMsgpackString(dst []byte, s string) []byte {
	dst = appendMsgpackLen(dst, len(s), mpFixStr, mpStr8, mpStr16, mpStr32)
	return append(dst, s...)
}

// msgpackLenHeader is the length of the header appendMsgpackLen writes
// for n bytes.
func msgpackLenHeader(n int, fix byte) int {
	switch {
	case fix != 0 && n < 32:
		return 1
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	}
	return 5
}

// appendMsgpackLen appends the header of a string or binary of n bytes:
// fix (if not 0) below 32 bytes, else the 8, 16 or 32-bit form.
func appendMsgpackLen(dst []byte, n int, fix, c8, c16, c32 byte) []byte {
	switch {
	case fix != 0 && n < 32:
		return append(dst, fix|byte(n))
	case n < 1<<8:
		return append(dst, c8, byte(n))
	case n < 1<<16:
		return append(dst, c16, byte(n>>8), byte(n))
	}
	return append(dst, c32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// cursorMAC appends the MAC of msg to dst.
func cursorMAC(k *key, msg, dst []byte) []byte {
	return k.cursorMACs.sum(dst, msg)[:len(dst)+cursorMACLen]
}

// decodeCursor verifies and decodes a cursor into *rec, and returns the
// key that signed it. Every failure is a *QueryError for ErrInvalidCursor;
// *rec is then undefined.
func (kr *keyring) decodeCursor(rec *cursorRecord, s, alias string) (*key, error) {
	bad := func(reason string) error {
		return &QueryError{Param: "queryMore", Reason: reason, Err: ErrInvalidCursor}
	}
	if len(s) > maxCursorLen {
		return nil, bad("too long")
	}
	// Cursors are mostly short: a buffer for the longest would be 3 KiB
	// of stack to clear for each page.
	var rawBuf [512]byte
	dst := rawBuf[:]
	if len(s)*3/4 > len(dst) {
		dst = make([]byte, len(s)*3/4)
	}
	n, ok := strictb64.Decode(dst, s)
	if !ok {
		return nil, bad("not base64url")
	}
	raw := dst[:n]
	if len(raw) < 4+cursorMACLen+1 {
		return nil, bad("truncated")
	}
	body, tag := raw[:len(raw)-cursorMACLen], raw[len(raw)-cursorMACLen:]
	var mac [sha256.Size]byte
	k := kr.find(body[len(body)-4:], func(k *key) bool { return hmac.Equal(cursorMAC(k, body, mac[:0]), tag) })
	if k == nil {
		return nil, bad("not a cursor issued by this service, or altered")
	}
	if b := body[:len(body)-4]; !parseCursorRecord(rec, b, alias) {
		if len(b) >= 3 && b[1] == mpUint8 && b[2] != cursorVersion {
			return nil, bad("unsupported version")
		}
		return nil, bad("malformed")
	}
	if rec.Version != cursorVersion {
		return nil, bad("unsupported version")
	}
	if rec.Alias != alias {
		return nil, bad("issued for another environment")
	}
	return k, nil
}

// parseCursorRecord reads into rec the record appendCursorRecord wrote as
// b, and reports whether b is exactly such a record. It reads that one
// form only: the bytes are under the cursor's MAC, and every encoder that
// signed cursors wrote that form (TestCursorRecordEncoding), so a record
// of another form was never issued. FuzzParseCursorRecord compares it with
// msgpack's reflective Decoder. An alias equal to alias is not copied.
func parseCursorRecord(rec *cursorRecord, b []byte, alias string) bool {
	if len(b) < 3 || b[0] != mpFixArray|8 || b[1] != mpUint8 {
		return false
	}
	rec.Version = b[2]
	b = b[3:]
	var s []byte
	var ok bool
	if s, b, ok = cutMsgpackLen(b, mpFixStr, mpStr8, mpStr16, mpStr32); !ok {
		return false
	}
	if rec.Alias = alias; string(s) != alias {
		rec.Alias = string(s)
	}
	if rec.After, b, ok = cutMsgpackInt64(b); !ok {
		return false
	}
	if rec.Before, b, ok = cutMsgpackInt64(b); !ok {
		return false
	}
	switch {
	case len(b) > 0 && b[0] == mpNil:
		rec.Email, b = nil, b[1:]
	default:
		if s, b, ok = cutMsgpackLen(b, 0, mpBin8, mpBin16, mpBin32); !ok {
			return false
		}
		rec.Email = append([]byte{}, s...)
	}
	if s, b, ok = cutMsgpackLen(b, mpFixStr, mpStr8, mpStr16, mpStr32); !ok {
		return false
	}
	rec.Tag = string(s)
	if rec.LastCreated, b, ok = cutMsgpackInt64(b); !ok {
		return false
	}
	if s, b, ok = cutMsgpackLen(b, mpFixStr, mpStr8, mpStr16, mpStr32); !ok || len(b) != 0 {
		return false
	}
	rec.LastID = string(s)
	return true
}

// cutMsgpackInt64 reads the int64 appendMsgpackInt64 writes at the start
// of b, and returns what follows it.
func cutMsgpackInt64(b []byte) (int64, []byte, bool) {
	if len(b) < 9 || b[0] != mpInt64 {
		return 0, b, false
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), b[9:], true
}

// cutMsgpackLen reads the string or binary that appendMsgpackLen's header
// with the same codes begins at the start of b: its bytes, and what follows
// them. A header longer than the length needs is not that form, and is
// refused.
func cutMsgpackLen(b []byte, fix, c8, c16, c32 byte) (body, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, b, false
	}
	n, h := 0, 0
	switch c := b[0]; {
	case fix != 0 && c&0xe0 == fix:
		n, h = int(c&0x1f), 1
	case c == c8 && len(b) >= 2:
		n, h = int(b[1]), 2
	case c == c16 && len(b) >= 3:
		n, h = int(binary.BigEndian.Uint16(b[1:3])), 3
	case c == c32 && len(b) >= 5:
		n, h = int(binary.BigEndian.Uint32(b[1:5])), 5
	default:
		return nil, b, false
	}
	if h != msgpackLenHeader(n, fix) || len(b)-h < n {
		return nil, b, false
	}
	return b[h : h+n], b[h+n:], true
}
