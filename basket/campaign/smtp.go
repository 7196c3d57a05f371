package campaign

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode says how an SMTP sender secures its connection.
type TLSMode uint8

// The TLS modes.
const (
	// StartTLS upgrades the connection with STARTTLS, and fails if the
	// server does not offer it. The default.
	StartTLS TLSMode = iota
	// ImplicitTLS speaks TLS from the start (port 465).
	ImplicitTLS
	// NoTLS sends in the clear: only for a relay on the same machine. It
	// refuses to authenticate.
	NoTLS
)

// SMTP is a Sender that delivers through an SMTP server, one connection
// per message. The Message-ID is derived from the idempotency key, so that
// a repeat is recognisable downstream. Send calls commit just before the
// final dot of DATA: a crash before it delivers nothing (the server drops
// an unfinished message); a failure after it is in doubt.
type SMTP struct {
	Addr      string      // host:port of the server
	TLS       TLSMode     // default StartTLS
	TLSConfig *tls.Config // default: verify the server as the host of Addr
	Username  string      // AUTH PLAIN if set (only over TLS)
	Password  string
	From      string        // the From address, e.g. "Shop <news@shop.example.com>"
	HelloName string        // the EHLO name; default "localhost"
	Timeout   time.Duration // the whole conversation's time limit; default 30s
	IDDomain  string        // the Message-ID's domain; default the From address's
}

// Send delivers m.
func (s *SMTP) Send(ctx context.Context, m *Message, commit func() error) error {
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return &SendError{"smtp", "from", fmt.Errorf("%w: From %q: %v", ErrRejected, truncate(s.From), err)}
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil || strings.ContainsAny(m.To, "\r\n<>") {
		return &SendError{"smtp", "rcpt", fmt.Errorf("%w: the recipient is not an address", ErrBounced)}
	}
	body, err := s.compose(m, from, to)
	if err != nil {
		return &SendError{"smtp", "compose", fmt.Errorf("%w: %v", ErrRejected, err)}
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return &SendError{"smtp", "connect", err}
	}
	// The watcher closes the connection when the context ends, so that no
	// read or write outlives it; Send waits for it before returning.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			conn.Close()
		case <-stop:
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
		conn.Close()
	}()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(s.Addr)
	tcfg := s.TLSConfig
	if tcfg == nil {
		tcfg = &tls.Config{}
	}
	if tcfg.ServerName == "" {
		tcfg = tcfg.Clone()
		tcfg.ServerName = host
	}
	var c *smtp.Client
	switch s.TLS {
	case StartTLS:
		c, err = smtp.NewClientStartTLS(conn, tcfg)
	case ImplicitTLS:
		tc := tls.Client(conn, tcfg)
		if err = tc.HandshakeContext(ctx); err == nil {
			c = smtp.NewClient(tc)
		}
	default:
		c = smtp.NewClient(conn)
	}
	if err != nil {
		return classify("tls", err, ctx)
	}
	c.CommandTimeout, c.SubmissionTimeout = timeout, timeout
	if s.TLS == NoTLS {
		name := s.HelloName
		if name == "" {
			name = "localhost"
		}
		if err := c.Hello(name); err != nil {
			return classify("hello", err, ctx)
		}
	}
	if s.Username != "" {
		if s.TLS == NoTLS {
			return &SendError{"smtp", "auth", fmt.Errorf("%w: refusing to send credentials without TLS", ErrRejected)}
		}
		if err := c.Auth(sasl.NewPlainClient("", s.Username, s.Password)); err != nil {
			return classify("auth", err, ctx)
		}
	}
	if err := c.Mail(from.Address, nil); err != nil {
		return classify("mail", err, ctx)
	}
	if err := c.Rcpt(to.Address, nil); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code >= 500 {
			return &SendError{"smtp", "rcpt", fmt.Errorf("%w: %d %s", ErrBounced, se.Code, truncate(se.Message))}
		}
		return classify("rcpt", err, ctx)
	}
	w, err := c.Data()
	if err != nil {
		return classify("data", err, ctx)
	}
	if _, err := w.Write(body); err != nil {
		return classify("data", err, ctx)
	}
	if err := commit(); err != nil {
		// Give up before the final dot: the server drops the message.
		conn.Close()
		return err
	}
	if err := w.Close(); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return classify("data", err, ctx) // the server answered: it did not take it
		}
		return &SendError{"smtp", "data", fmt.Errorf("%w: %v", ErrInDoubt, err)}
	}
	c.Quit() //nolint:errcheck // the message is accepted; a failed QUIT changes nothing
	return nil
}

// classify wraps an error before the point of no return: 5xx is final,
// anything else temporary.
func classify(stage string, err error, ctx context.Context) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return &SendError{"smtp", stage, fmt.Errorf("%w: %d %s", ErrRejected, se.Code, truncate(se.Message))}
	}
	if ctx.Err() != nil && !errors.As(err, &se) {
		err = fmt.Errorf("%v (%w)", err, ctx.Err())
	}
	return &SendError{"smtp", stage, err}
}

// Resolve: before the point of no return nothing was delivered; after it,
// SMTP gives no way to ask, so it is Unknown.
func (s *SMTP) Resolve(_ context.Context, _ *Message, committed bool) (Resolution, error) {
	if committed {
		return Unknown, nil
	}
	return SendAgain, nil
}

// MessageID returns the Message-ID header of a message with the key.
func (s *SMTP) MessageID(key string) string {
	dom := s.IDDomain
	if dom == "" {
		if a, err := mail.ParseAddress(s.From); err == nil {
			if _, d, ok := strings.Cut(a.Address, "@"); ok {
				dom = d
			}
		}
	}
	if dom == "" {
		dom = "campaign.invalid"
	}
	return "<" + key + "@" + dom + ">"
}

// ownHeaders are the headers compose writes itself, lower case: a
// Message's Headers do not replace them.
var ownHeaders = map[string]bool{"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "date": true,
	"message-id": true, "mime-version": true, "content-type": true, "content-transfer-encoding": true, "x-campaign-key": true}

// headerName reports whether s is a header field name (RFC 5322: printable
// ASCII but the colon).
func headerName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// compose writes the message in RFC 5322 form: multipart/alternative
// (text, and HTML if any), quoted-printable, headers encoded.
func (s *SMTP) compose(m *Message, from, to *mail.Address) ([]byte, error) {
	var b bytes.Buffer
	hdr := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	hdr("From", from.String())
	hdr("To", (&mail.Address{Address: to.Address}).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", headerText(m.Subject)))
	hdr("Date", m.At.Format(time.RFC1123Z))
	hdr("Message-ID", s.MessageID(m.Key))
	hdr("MIME-Version", "1.0")
	extra := m.Headers
	if _, ok := extra[HeaderListUnsubscribe]; !ok && m.UnsubscribeURL != "" {
		extra = maps.Clone(extra)
		if extra == nil {
			extra = map[string]string{}
		}
		maps.Copy(extra, unsubscribeHeaders(m.UnsubscribeURL))
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		v := extra[k]
		if !headerName(k) || ownHeaders[strings.ToLower(k)] || strings.ContainsAny(v, "\r\n") {
			continue // never a header that breaks the message or replaces one of ours
		}
		hdr(k, v)
	}
	hdr("X-Campaign-Key", m.Key)
	part := func(ctype, content string) error {
		hdr("Content-Type", ctype+"; charset=utf-8")
		hdr("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		qw := quotedprintable.NewWriter(&b)
		if _, err := qw.Write([]byte(content)); err != nil {
			return err
		}
		if err := qw.Close(); err != nil {
			return err
		}
		b.WriteString("\r\n")
		return nil
	}
	if m.HTML == "" {
		if err := part("text/plain", m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	boundary := "=_" + hex.EncodeToString(rnd[:])
	hdr("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, p := range []struct{ ctype, content string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		b.WriteString("--" + boundary + "\r\n")
		if err := part(p.ctype, p.content); err != nil {
			return nil, err
		}
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), nil
}
