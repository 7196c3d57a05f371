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
var cursorBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encodeCursor signs rec with the first key.
func (kr *keyring) encodeCursor(rec *cursorRecord) (string, error) {
	buf := cursorBufs.Get().(*bytes.Buffer)
	defer cursorBufs.Put(buf)
	buf.Reset()
	enc := msgpack.GetEncoder()
	enc.Reset(buf)
	err := enc.Encode(rec)
	msgpack.PutEncoder(enc)
	if err != nil {
		return "", err
	}
	k := kr.signer()
	buf.Write(k.id[:])
	var mac [sha256.Size]byte
	buf.Write(cursorMAC(k, buf.Bytes(), mac[:0]))
	return b64.EncodeToString(buf.Bytes()), nil
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
