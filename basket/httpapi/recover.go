package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/basketlab/abandoned/basket"
)

// recoverMessage is the one message of every failed recovery: it does not
// say which check failed.
const recoverMessage = "this recovery link is not valid"

// recoverParams are the parameters of GET /api/checkout/recover.
type recoverParams struct {
	basketID, token string
	utm             []string // "name=value" pairs, escaped, in request order
}

func parseRecover(raw string) recoverParams {
	var p recoverParams
	var fromBasketID, fromBasket, haveToken bool
	rawParams(raw, func(name, value string, ok bool) bool {
		if !ok {
			return true
		}
		switch {
		case name == "basketId": // preferred over its synonym
			if !fromBasketID {
				p.basketID, fromBasketID = value, true
			}
		case name == "basket":
			if !fromBasketID && !fromBasket {
				p.basketID, fromBasket = value, true
			}
		case name == "recover":
			if !haveToken {
				p.token, haveToken = value, true
			}
		case strings.HasPrefix(name, "utm_") && len(p.utm) < 32:
			p.utm = append(p.utm, url.QueryEscape(name)+"="+url.QueryEscape(value))
		}
		return true
	})
	return p
}

// redirectTo returns target with the given parameters appended to its query.
func redirectTo(target *url.URL, params ...string) string {
	var b strings.Builder
	u := *target
	u.RawQuery = ""
	b.WriteString(u.String())
	sep := byte('?')
	if target.RawQuery != "" {
		b.WriteByte('?')
		b.WriteString(target.RawQuery)
		sep = '&'
	}
	for _, p := range params {
		b.WriteByte(sep)
		b.WriteString(p)
		sep = '&'
	}
	return b.String()
}

func (s *Server) handleRecover(w http.ResponseWriter, r *http.Request) {
	p := parseRecover(r.URL.RawQuery)
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Referrer-Policy"] = []string{"no-referrer"} // the link holds a token
	var rec basket.Recovery
	err := basket.ErrTokenMissing
	if p.basketID != "" && p.token != "" {
		rec, err = s.eng.Recover(r.Context(), p.basketID, p.token)
	}
	switch {
	case err == nil:
	case errors.Is(err, basket.ErrTokenMissing):
		s.metrics.recovered.WithLabelValues("missing").Inc()
		s.writeError(w, http.StatusBadRequest, recoverMessage)
		return
	case errors.Is(err, basket.ErrTokenInvalid):
		s.metrics.recovered.WithLabelValues("invalid").Inc()
		s.writeError(w, http.StatusForbidden, recoverMessage)
		return
	case errors.Is(err, basket.ErrTokenExpired):
		s.metrics.recovered.WithLabelValues("expired").Inc()
		s.writeError(w, http.StatusGone, recoverMessage)
		return
	default:
		s.engineError(w, r, err)
		return
	}
	var loc string
	switch rec.Outcome {
	case basket.RecoverCheckout:
		s.metrics.recovered.WithLabelValues("checkout").Inc()
		loc = redirectTo(s.checkout, append([]string{"basket=" + url.QueryEscape(rec.BasketID)}, p.utm...)...)
	case basket.RecoverPurchased:
		s.metrics.recovered.WithLabelValues("purchased").Inc()
		loc = redirectTo(s.purchased, p.utm...)
	case basket.RecoverRepurchase:
		s.metrics.recovered.WithLabelValues("repurchase").Inc()
		params := p.utm
		if rec.OfferPath != "" {
			params = append([]string{"purchase=" + url.QueryEscape(rec.OfferPath)}, p.utm...)
		}
		loc = redirectTo(s.checkout, params...)
	default:
		s.engineError(w, r, errors.New("unknown recovery outcome "+strconv.Itoa(int(rec.Outcome))))
		return
	}
	h["Location"] = []string{loc}
	w.WriteHeader(http.StatusFound)
}
