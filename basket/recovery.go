package basket

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"net/url"
	"strings"
	"time"

	strictb64 "github.com/basketlab/abandoned/basket/internal/b64"
)

// TokenPurpose separates tokens of different uses: a token issued for one
// purpose never verifies for another.
type TokenPurpose byte

// Token purposes.
const (
	PurposeRecover     TokenPurpose = 'r' // a recovery link
	PurposeUnsubscribe TokenPurpose = 'u' // an unsubscribe link
)

// DefaultRecoveryValidity is how long a recovery token is valid by default.
const DefaultRecoveryValidity = 30 * 24 * time.Hour

// DefaultRecoverPath is the path of the recovery endpoint in recovery links.
const DefaultRecoverPath = "/api/checkout/recover"

// tokenLen is the decoded length of a token: key id, expiry, MAC.
const (
	tokenMACLen = 16
	tokenLen    = 4 + 4 + tokenMACLen
)

var b64 = base64.RawURLEncoding

// issue returns a token for subject valid until exp (unix seconds).
func (k *key) issue(p TokenPurpose, subject string, exp int64) string {
	var buf [tokenLen]byte
	copy(buf[:4], k.id[:])
	binary.BigEndian.PutUint32(buf[4:8], uint32(exp))
	k.tokenMAC((*[tokenMACLen]byte)(buf[8:]), p, subject, buf[:8])
	return b64.EncodeToString(buf[:])
}

// tokenMAC sets *dst to the MAC of a token of purpose p for subject whose
// key id and expiry are head.
func (k *key) tokenMAC(dst *[tokenMACLen]byte, p TokenPurpose, subject string, head []byte) {
	st := k.recoverMACs.get()
	st.in = append(st.in, byte(p))
	st.in = append(st.in, head...)
	st.in = append(st.in, subject...)
	copy(dst[:], st.mac())
	k.recoverMACs.put(st)
}

// verify checks a token and returns its expiry (unix seconds). It reports
// ErrTokenMissing, ErrTokenInvalid or ErrTokenExpired (the last only for an
// authentic token).
func (kr *keyring) verify(p TokenPurpose, subject, token string, now int64) (int64, error) {
	if token == "" {
		return 0, ErrTokenMissing
	}
	if b64.EncodedLen(tokenLen) != len(token) {
		return 0, ErrTokenInvalid
	}
	var buf [tokenLen]byte
	if n, ok := strictb64.Decode(buf[:], token); !ok || n != tokenLen {
		return 0, ErrTokenInvalid
	}
	var mac [tokenMACLen]byte
	k := kr.find(buf[:4], func(k *key) bool {
		k.tokenMAC(&mac, p, subject, buf[:8])
		return hmac.Equal(mac[:], buf[8:])
	})
	if k == nil {
		return 0, ErrTokenInvalid
	}
	exp := int64(binary.BigEndian.Uint32(buf[4:8]))
	if exp <= now {
		return exp, ErrTokenExpired
	}
	return exp, nil
}

// IssueToken returns a token for subject and purpose, signed with the first
// recovery secret and valid for validity from the engine's clock. For
// PurposeRecover the subject is the basket id; for PurposeUnsubscribe it is
// the normalised email.
//
// A recovery token is bound to the basket's last revocation (see Revoke):
// it verifies until the basket's tokens are revoked again, whatever its
// validity.
func (e *Engine) IssueToken(p TokenPurpose, subject string, validity time.Duration) string {
	exp := e.now().Add(validity).Unix()
	if p == PurposeRecover {
		subject = recoverSubject(subject, e.revocation(subject))
	}
	return e.keys.signer().issue(p, subject, exp)
}

// VerifyToken checks a token issued by IssueToken for subject and purpose.
// A recovery token issued before its basket's last revocation is invalid;
// VerifyToken looks at nothing else of a basket (Recover does).
func (e *Engine) VerifyToken(p TokenPurpose, subject, token string) error {
	if p == PurposeRecover {
		subject = recoverSubject(subject, e.revocation(subject))
	}
	_, err := e.keys.verify(p, subject, token, e.now().Unix())
	return err
}

// revocation returns the stamp of a basket's last revocation; 0 if none,
// or if the basket is not live.
func (e *Engine) revocation(basketID string) uint32 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if r := e.recs.get(basketID); r != nil {
		return r.revokedUntil()
	}
	return 0
}

// recoverSubject is what a recovery token of a basket is a MAC over: the
// basket id and, once its tokens were revoked, the revocation's stamp, so
// that no token issued before a revocation verifies after it, whatever the
// validity it was issued with. Basket ids hold no NUL: the two forms are
// distinct.
func recoverSubject(id string, stamp uint32) string {
	if stamp == 0 {
		return id
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], stamp)
	return id + "\x00" + string(b[:])
}

// RecoveryOutcome says where a recovery link leads.
type RecoveryOutcome uint8

// The outcomes of a valid recovery link.
const (
	// RecoverCheckout: back into the checkout with the same basket.
	RecoverCheckout RecoveryOutcome = iota + 1
	// RecoverPurchased: the order was completed; the "already purchased" page.
	RecoverPurchased
	// RecoverRepurchase: the basket expired; a purchase link for its offer.
	RecoverRepurchase
)

// Recovery is the result of a valid recovery link.
type Recovery struct {
	Outcome   RecoveryOutcome
	BasketID  string
	OfferPath string // the first offer's path, for RecoverRepurchase
}

// Recover verifies a recovery token for a basket and, when the basket can be
// recovered, records a recovered event (customer activity). It returns
// ErrTokenMissing, ErrTokenInvalid (also for an erased basket or a revoked
// token) or ErrTokenExpired.
func (e *Engine) Recover(ctx context.Context, basketID, token string) (Recovery, error) {
	if err := ctx.Err(); err != nil {
		return Recovery{}, err
	}
	if token == "" {
		return Recovery{}, ErrTokenMissing
	}
	now := e.now()
	if err := e.beforeRead(ctx); err != nil {
		return Recovery{}, err
	}
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return Recovery{}, ErrClosed
	}
	if _, gone := e.erased.Get(basketID); gone {
		e.mu.RUnlock()
		return Recovery{}, ErrTokenInvalid
	}
	r := e.recs.get(basketID)
	var tb tomb
	var tombed bool
	var stamp uint32 // a tomb keeps none: its tokens verify as never revoked
	if r == nil {
		tb, tombed = e.tombs.Get(basketID)
	} else {
		stamp = r.revokedUntil()
	}
	e.mu.RUnlock()
	if r == nil && !tombed {
		return Recovery{}, ErrTokenInvalid
	}
	_, err := e.keys.verify(PurposeRecover, recoverSubject(basketID, stamp), token, now.Unix())
	switch {
	case err != nil && err != ErrTokenExpired:
		return Recovery{}, err // ErrTokenInvalid: also a token issued before a revocation
	case err != nil:
		return Recovery{}, err
	case r == nil && tb.completed:
		return Recovery{Outcome: RecoverPurchased, BasketID: basketID}, nil
	case r == nil:
		return Recovery{Outcome: RecoverRepurchase, BasketID: basketID, OfferPath: tb.offerPath}, nil
	case r.state == StateCompleted:
		return Recovery{Outcome: RecoverPurchased, BasketID: basketID}, nil
	}
	_, err = e.Apply(ctx, Event{Type: EventRecovered, BasketID: basketID, At: now})
	switch {
	case err == nil:
		return Recovery{Outcome: RecoverCheckout, BasketID: basketID}, nil
	case errors.Is(err, ErrCompleted):
		return Recovery{Outcome: RecoverPurchased, BasketID: basketID}, nil
	case errors.Is(err, ErrExpired):
		return Recovery{Outcome: RecoverRepurchase, BasketID: basketID, OfferPath: r.firstOfferPath()}, nil
	case errors.Is(err, ErrUnknownBasket):
		return Recovery{}, ErrTokenInvalid
	}
	return Recovery{}, err
}

// Revoke revokes every recovery token issued for a basket so far.
func (e *Engine) Revoke(ctx context.Context, basketID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.RLock()
	closed, known := e.closed, e.recs.get(basketID) != nil
	e.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case !known:
		return &TransitionError{Index: 0, BasketID: basketID, Event: "revoke", Err: ErrUnknownBasket}
	}
	_, err := e.submit(ctx, &walRecord{Revoke: basketID})
	return err
}

// revokeLocked revokes the tokens of a basket issued up to now (unix ms),
// whatever their validity: it gives the basket a new revocation stamp (the
// time in unix seconds, above the previous stamp), which the tokens issued
// from now on carry in their MAC and those issued before do not. e.mu must
// be held for writing.
func (e *Engine) revokeLocked(now int64, basketID string) error {
	h, r := e.recs.lookup(basketID)
	if r == nil {
		return &TransitionError{Index: 0, BasketID: basketID, Event: "revoke", Err: ErrUnknownBasket}
	}
	c := *r
	stamp := max(now/1000, int64(r.revokedUntil())+1, 1)
	if stamp > math.MaxUint32 {
		stamp = math.MaxUint32 // in 2106; a later revocation reuses it
	}
	c.ext().revokedUntil = uint32(stamp)
	c.dropLink()
	e.replace(h, r, &c)
	return nil
}

// issueLink issues c's recovery token, valid until exp (unix seconds) and
// bound to c's last revocation, and keeps its MAC: the link is spelled out
// from it when read (writeRecoveryLink).
func (e *Engine) issueLink(c *record, exp int64) {
	var tok [tokenLen]byte
	e.signLink(&tok, c, uint32(exp))
	copy(c.linkMAC[:], tok[8:])
	c.linkExp, c.linkKey = uint32(exp), 0
}

// linkKeyID is the key id of r's cached link: the position of its key in
// the keyring when it signed.
func (r *record) linkKeyID() [4]byte {
	var id [4]byte
	binary.BigEndian.PutUint32(id[:], uint32(r.linkKey))
	return id
}

// dropLink forgets r's cached link.
func (r *record) dropLink() {
	r.linkExp, r.linkKey, r.linkMAC = 0, 0, [tokenMACLen]byte{}
}

// freshLink reports whether r's cached link has more than half its
// validity left, so that no reader is handed a link about to expire.
func (e *Engine) freshLink(r *record, nowSec int64) bool {
	return freshFor(r, nowSec, e.recoveryValidity)
}

// freshFor is freshLink with links valid for validity.
func freshFor(r *record, nowSec int64, validity time.Duration) bool {
	return r.linkExp != 0 && int64(r.linkExp)-nowSec > int64(validity/time.Second)/2
}

// writeRecoveryLink writes the recovery path of an abandoned record to sb:
// the link cached when it became abandoned while it is fresh; a new one,
// valid for validity, otherwise. It reads nothing that changes, so that it
// runs without e.mu held, given the validity read under it.
func (e *Engine) writeRecoveryLink(sb *strings.Builder, r *record, nowSec int64, validity time.Duration) {
	if freshFor(r, nowSec, validity) {
		e.writeLink(sb, r.id, r.linkKeyID(), r.linkExp, r.linkMAC[:])
		return
	}
	var tok [tokenLen]byte
	exp := uint32(nowSec + int64(validity/time.Second))
	e.signLink(&tok, r, exp)
	e.writeLink(sb, r.id, [4]byte(tok[:4]), exp, tok[8:])
}

// signLink makes r's recovery token valid until exp (unix seconds), signed
// by the first key and bound to r's last revocation. It is apart so that
// the token of a cached link, which needs no MAC, stays on the stack.
func (e *Engine) signLink(tok *[tokenLen]byte, r *record, exp uint32) {
	var head [8]byte
	k := e.keys.signer()
	copy(head[:4], k.id[:])
	binary.BigEndian.PutUint32(head[4:], exp)
	copy(tok[:8], head[:])
	k.tokenMAC((*[tokenMACLen]byte)(tok[8:]), PurposeRecover, recoverSubject(r.id, r.revokedUntil()), head[:])
}

// A recovery link is the recovery path, linkIDParam and the escaped
// basket id, then linkTokenParam and the token's text: appendLink and
// writeLink spell it, linkLen measures it, parseLink reads it back.
const (
	linkIDParam    = "?basketId="
	linkTokenParam = "&recover="
)

// tokenTextLen is the length of a token in base64 without padding:
// b64.EncodedLen(tokenLen) (TestLinkSpelling checks it).
const tokenTextLen = (tokenLen*8 + 5) / 6

// appendLink appends a recovery path with the token of key id kid, expiry
// exp and MAC mac. writeLink writes the same.
func (e *Engine) appendLink(dst []byte, id string, kid [4]byte, exp uint32, mac []byte) []byte {
	dst = append(dst, e.recoverPath...)
	dst = append(dst, linkIDParam...)
	dst = append(dst, queryEscape(id)...)
	dst = append(dst, linkTokenParam...)
	var text [tokenTextLen]byte
	return append(dst, linkToken(&text, kid, exp, mac)...)
}

// writeLink writes to sb the recovery path appendLink appends, without a
// buffer between: a page's links are written straight into the one string
// they share.
func (e *Engine) writeLink(sb *strings.Builder, id string, kid [4]byte, exp uint32, mac []byte) {
	sb.WriteString(e.recoverPath)
	sb.WriteString(linkIDParam)
	sb.WriteString(queryEscape(id))
	sb.WriteString(linkTokenParam)
	var text [tokenTextLen]byte
	sb.Write(linkToken(&text, kid, exp, mac))
}

// linkToken returns the base64 text of the token of key id kid, expiry exp
// and MAC mac, in text.
func linkToken(text *[tokenTextLen]byte, kid [4]byte, exp uint32, mac []byte) []byte {
	var tok [tokenLen]byte
	copy(tok[:4], kid[:])
	binary.BigEndian.PutUint32(tok[4:8], exp)
	copy(tok[8:], mac)
	return b64.AppendEncode(text[:0], tok[:])
}

// linkLen is the length of r's recovery link when its id needs no
// escaping.
func (e *Engine) linkLen(r *record) int {
	return len(e.recoverPath) + len(linkIDParam) + len(r.id) + len(linkTokenParam) + tokenTextLen
}

// parseLink takes a link cached in a snapshot back into r: its MAC, expiry
// and the position of its key, if it is a link this engine spells out the
// same and that position is in the keyring (a link cached before the
// secrets changed verifies, or not, as it did). Otherwise r keeps no link,
// and one is issued afresh when needed.
func (e *Engine) parseLink(r *record, link []byte) {
	r.dropLink()
	rest, ok := cutPrefix(link, e.recoverPath)
	if ok {
		rest, ok = cutPrefix(rest, linkIDParam)
	}
	if ok {
		rest, ok = cutPrefix(rest, queryEscape(r.id))
	}
	if ok {
		rest, ok = cutPrefix(rest, linkTokenParam)
	}
	if !ok || len(rest) != b64.EncodedLen(tokenLen) {
		return
	}
	var buf [tokenLen]byte
	if n, err := b64.Decode(buf[:], rest); err != nil || n != tokenLen {
		return
	}
	pos := binary.BigEndian.Uint32(buf[:4])
	if pos >= uint32(len(e.keys.keys)) || pos > math.MaxUint8 {
		return
	}
	copy(r.linkMAC[:], buf[8:])
	r.linkExp, r.linkKey = binary.BigEndian.Uint32(buf[4:8]), uint8(pos)
	if r.linkExp == 0 {
		r.dropLink()
	}
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return b, false
	}
	return b[len(prefix):], true
}

// queryEscape is url.QueryEscape without its cost for the usual id, which
// needs no escaping.
func queryEscape(s string) string {
	for i := 0; i < len(s); i++ {
		if !unreserved[s[i]] {
			return url.QueryEscape(s)
		}
	}
	return s
}

// unreserved holds the bytes a query value keeps as they are.
var unreserved = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
	}
	return t
}()
