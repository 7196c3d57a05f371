package campaign

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/url"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Suppressions is a Source that keeps a suppression list of its own, the
// engine's: addresses unsubscribed through the server's one-click links
// (POST /api/checkout/unsubscribe?token=…). EngineSource is one, and so is
// an HTTPSource. A runner over such a source asks it at the moment of
// sending, every time: a suppressed address is skipped (reason
// suppressed), and the message's unsubscribe link carries the token it
// answered, which the server takes.
//
// Over a source that is not one, the runner keeps only its own list
// (Runner.Suppress, bounces), and its links carry tokens of its own,
// which Runner.Unsubscribe takes. Either way the campaign's own list is
// honoured too, and no link carries the address.
type Suppressions interface {
	// Suppression reports whether the address is on the list, and, if it
	// is not, a fresh opaque token for its unsubscribe link.
	Suppression(ctx context.Context, email string) (suppressed bool, token string, err error)
}

// Header names and the value of one-click unsubscribe (RFC 8058).
const (
	HeaderListUnsubscribe     = "List-Unsubscribe"
	HeaderListUnsubscribePost = "List-Unsubscribe-Post"
	OneClick                  = "List-Unsubscribe=One-Click"
)

// unsubscribeHeaders returns the headers of a message whose unsubscribe
// link is u.
func unsubscribeHeaders(u string) map[string]string {
	return map[string]string{HeaderListUnsubscribe: "<" + u + ">", HeaderListUnsubscribePost: OneClick}
}

// unsubscribeURL returns the unsubscribe link with a token.
func (r *Runner) unsubscribeURL(token string) string {
	sep := "?"
	if strings.Contains(r.cfg.UnsubscribeURL, "?") {
		sep = "&"
	}
	return r.cfg.UnsubscribeURL + sep + url.Values{"token": {token}}.Encode()
}

// ownSubject is what the runner's own unsubscribe tokens are issued for:
// the keyed hash of the address, so that a token names no address, and
// the list it goes on keeps only that hash. The prefix keeps them apart
// from tokens issued for addresses.
const ownSubject = "campaign-email-hash:"

// ownToken returns the runner's own unsubscribe token for an address: the
// keyed hash of the address (see state.hash) and a signature over it with
// the runner's Tokens, valid UnsubscribeValidity from at (so that a repeat
// of a message carries the same token); now is the tokens' clock. "" if
// the runner has no Tokens. r.mu must be held.
func (r *Runner) ownToken(norm string, at, now time.Time) string {
	if r.tokens == nil {
		return ""
	}
	h := r.st.hash(norm)
	return h + "." + r.tokens.IssueToken(basket.PurposeUnsubscribe, ownSubject+h, r.cfg.UnsubscribeValidity-now.Sub(at))
}

// Unsubscribe checks a token of the runner's own unsubscribe links (those
// of a source that is not Suppressions) and puts the address it stands for
// on the campaign's suppression list. A bad token is ErrBadToken, whatever
// was wrong with it, and changes nothing. The address is never needed: the
// token holds its keyed hash, which is what the list keeps.
func (r *Runner) Unsubscribe(ctx context.Context, token string) error {
	h, sig, ok := strings.Cut(token, ".")
	if !ok || len(h) != 32 || !isHex(h) || r.tokens == nil {
		return ErrBadToken
	}
	if err := r.tokens.VerifyToken(basket.PurposeUnsubscribe, ownSubject+h, sig); err != nil {
		return ErrBadToken
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := r.st.Suppressed[h]; ok {
		return nil
	}
	return r.commit(&rec{Kind: kSuppressK, Email: h, Text: "unsubscribed"}, true)
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// holdoutLabel labels the key of the holdout's draw, derived from the
// state's email-hash key.
const holdoutLabel = "basketlab/campaign: holdout v1\x00"

// heldOut reports whether a normalised address is in the holdout group: a
// keyed hash of it, read as a number in [0, 1), below Options.Holdout.
// r.mu must be held.
func (r *Runner) heldOut(norm string) bool {
	if r.cfg.Holdout <= 0 {
		return false
	}
	m := hmac.New(sha256.New, r.st.key)
	m.Write([]byte(holdoutLabel))
	m.Write([]byte(r.cfg.Name))
	k := m.Sum(nil)
	m = hmac.New(sha256.New, k)
	m.Write([]byte(norm))
	u := binary.BigEndian.Uint64(m.Sum(nil))
	return float64(u>>11)/(1<<53) < r.cfg.Holdout
}
