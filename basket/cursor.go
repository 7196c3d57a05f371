package basket

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

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

// decodeCursor verifies and decodes a cursor. It also returns the key that
// signed it. Every failure is a *QueryError for ErrInvalidCursor.
func (kr *keyring) decodeCursor(s, alias string) (*cursorRecord, *key, error) {
	bad := func(reason string) error {
		return &QueryError{Param: "queryMore", Reason: reason, Err: ErrInvalidCursor}
	}
	if len(s) > maxCursorLen {
		return nil, nil, bad("too long")
	}
	var rawBuf [maxCursorLen * 3 / 4]byte
	n, ok := strictb64.Decode(rawBuf[:], s)
	if !ok {
		return nil, nil, bad("not base64url")
	}
	raw := rawBuf[:n]
	if len(raw) < 4+cursorMACLen+1 {
		return nil, nil, bad("truncated")
	}
	body, tag := raw[:len(raw)-cursorMACLen], raw[len(raw)-cursorMACLen:]
	var mac [sha256.Size]byte
	k := kr.find(body[len(body)-4:], func(k *key) bool { return hmac.Equal(cursorMAC(k, body, mac[:0]), tag) })
	if k == nil {
		return nil, nil, bad("not a cursor issued by this service, or altered")
	}
	var rec cursorRecord
	dec := msgpack.NewDecoder(bytes.NewReader(body[:len(body)-4]))
	if err := dec.Decode(&rec); err != nil {
		return nil, nil, bad("malformed")
	}
	if rec.Version != cursorVersion {
		return nil, nil, bad("unsupported version")
	}
	if rec.Alias != alias {
		return nil, nil, bad("issued for another environment")
	}
	return &rec, k, nil
}
