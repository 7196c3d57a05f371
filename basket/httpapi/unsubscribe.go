package httpapi

import (
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strings"

	"github.com/basketlab/abandoned/basket"
)

// Unsubscribe links (RFC 8058). A message's List-Unsubscribe header names
// /api/checkout/unsubscribe?token=…, and its List-Unsubscribe-Post header
// lets a mailbox provider unsubscribe with one POST. A GET, which mail
// scanners make on every link, only shows a page whose button POSTs: it
// never unsubscribes.

// unsubscribeMessage is the one message of every refused token.
const unsubscribeMessage = "this unsubscribe link is not valid"

// maxSuppressionBody bounds the body of POST /api/checkout/suppression.
const maxSuppressionBody = 4 << 10

// unsubscribePage is the page a person sees: the question (GET), the
// answer (POST from a browser), or a refusal. It loads nothing from
// elsewhere and runs no script.
var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f6f7f9;color:#1d2330;margin:0}
main{max-width:28rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:.5rem;box-shadow:0 1px 3px #0002}
h1{font-size:1.3rem;margin-top:0}
button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#2454d6;color:#fff;cursor:pointer}
</style></head>
<body><main>
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{- if .Form}}
<form method="post" action="?token={{.Token}}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>
{{- end}}
</main></body></html>
`))

type unsubscribeView struct {
	Title, Text string
	Form        bool
	Token       string
}

// writePage answers an HTML page.
func writePage(w http.ResponseWriter, status int, v unsubscribeView) {
	h := w.Header()
	h["Content-Type"] = []string{"text/html; charset=utf-8"}
	h["X-Content-Type-Options"] = hdrNoSniff
	h["Content-Security-Policy"] = []string{"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}
	h["X-Frame-Options"] = []string{"DENY"}
	w.WriteHeader(status)
	unsubscribePage.Execute(w, v) //nolint:errcheck // the client went away; nothing to do
}

// wantsHTML reports whether a request comes from a browser (a form of the
// confirmation page) rather than a mailbox provider's one-click POST.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// unsubscribeToken returns the token parameter (the first), and whether
// there was one.
func unsubscribeToken(raw string) string {
	var token string
	found := false
	rawParams(raw, func(name, value string, ok bool) bool {
		if ok && name == "token" && !found {
			token, found = value, true
		}
		return true
	})
	return token
}

// maskEmail shows enough of an address for its owner to recognise it and
// not much more to anyone the link was forwarded to: a***@example.com.
func maskEmail(norm string) string {
	at := strings.LastIndexByte(norm, '@')
	if at <= 0 {
		return "your address"
	}
	local := []rune(norm[:at])
	return string(local[0]) + "***" + norm[at:]
}

func (s *Server) handleUnsubscribePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Referrer-Policy"] = []string{"no-referrer"} // the link holds a token
	token := unsubscribeToken(r.URL.RawQuery)
	email, err := s.eng.UnsubscribeAddress(token)
	if err != nil {
		s.metrics.unsubscribed.WithLabelValues("invalid").Inc()
		writePage(w, http.StatusForbidden, unsubscribeView{Title: "Link not valid",
			Text: "This unsubscribe link is not valid. Use the link of the latest message you received."})
		return
	}
	writePage(w, http.StatusOK, unsubscribeView{Title: "Unsubscribe",
		Text: "Stop reminder messages to " + maskEmail(email) + "?", Form: true, Token: token})
}

func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Referrer-Policy"] = []string{"no-referrer"}
	// The body (List-Unsubscribe=One-Click, or the page's form) says
	// nothing the token does not; it is read and dropped within a bound.
	io.Copy(io.Discard, io.LimitReader(r.Body, maxSuppressionBody)) //nolint:errcheck // nothing in it is needed
	err := s.eng.Unsubscribe(r.Context(), unsubscribeToken(r.URL.RawQuery))
	html := wantsHTML(r)
	switch {
	case err == nil:
		s.metrics.unsubscribed.WithLabelValues("ok").Inc()
		if html {
			writePage(w, http.StatusOK, unsubscribeView{Title: "Unsubscribed",
				Text: "You will get no more reminder messages. You can close this page."})
			return
		}
		writeJSON(w, http.StatusOK, []byte("{\"unsubscribed\":true}\n"))
	case errors.Is(err, basket.ErrTokenInvalid), errors.Is(err, basket.ErrTokenMissing):
		s.metrics.unsubscribed.WithLabelValues("invalid").Inc()
		if html {
			writePage(w, http.StatusForbidden, unsubscribeView{Title: "Link not valid",
				Text: "This unsubscribe link is not valid. Use the link of the latest message you received."})
			return
		}
		s.writeError(w, http.StatusForbidden, unsubscribeMessage)
	default:
		s.engineError(w, r, err)
	}
}

// handleSuppression answers whether an address is on the suppression list,
// with the token of its unsubscribe link: what a campaign asks before it
// sends. The address travels in the body, never in the URL.
func (s *Server) handleSuppression(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		s.writeError(w, http.StatusUnsupportedMediaType, "Content-Type: want application/json")
		return
	}
	var req struct {
		Email *string `json:"email"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSuppressionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, http.StatusRequestEntityTooLarge, "body larger than 4096 bytes")
			return
		}
		s.writeError(w, http.StatusBadRequest, "body: want a JSON object {\"email\":\"…\"}: "+bodyProblem(err))
		return
	}
	if dec.More() {
		s.writeError(w, http.StatusBadRequest, "body: want one JSON object")
		return
	}
	if req.Email == nil {
		s.writeError(w, http.StatusBadRequest, "email: missing")
		return
	}
	suppressed, token, err := s.eng.Suppression(r.Context(), *req.Email)
	switch {
	case errors.Is(err, basket.ErrInvalidEvent):
		s.writeError(w, http.StatusBadRequest, "email: not a valid address")
		return
	case err != nil:
		s.engineError(w, r, err)
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"suppressed":`...)
	if suppressed {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, `,"token":`...)
	b = appendString(b, token)
	b = append(b, "}\n"...)
	*bp = b
	writeJSON(w, http.StatusOK, b)
}

// bodyProblem describes a JSON decoding error without quoting the input,
// which may hold an address.
func bodyProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "malformed JSON"
	case errors.As(err, &te):
		return te.Field + ": want a " + te.Type.String()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}
