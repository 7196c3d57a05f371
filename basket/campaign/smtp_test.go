package campaign

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpServer is a real SMTP server on loopback (emersion/go-smtp) that
// offers STARTTLS with a self-signed certificate and requires AUTH PLAIN.
type smtpServer struct {
	addr  string
	roots *x509.CertPool
	ca    []byte // the certificate, DER, for another process to trust

	mu       sync.Mutex
	byID     map[string]int // Message-ID -> deliveries
	msgs     []*mail.Message
	raw      []string
	tlsSeen  bool
	rcptFail map[string]bool       // addresses refused with 550
	onData   func(id string) error // if set, decides DATA's answer after reading it
	block    chan struct{}         // if set, DATA waits on it (a server that stalls)
}

const smtpUser, smtpPass = "mailer", "s3cret-password"

func newSMTPServer(t *testing.T) *smtpServer {
	t.Helper()
	cert, roots := selfSigned(t)
	s := &smtpServer{roots: roots, ca: cert.Leaf.Raw, byID: map[string]int{}, rcptFail: map[string]bool{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s, c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = discardLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln) //nolint:errcheck // ends with Close
	}()
	t.Cleanup(func() {
		s.mu.Lock()
		if s.block != nil {
			select {
			case <-s.block:
			default:
				close(s.block)
			}
		}
		s.mu.Unlock()
		srv.Close()
		// Close closes only the listeners Serve has registered: a Serve that
		// had not started yet would accept forever.
		ln.Close()
		<-done
	})
	return s
}

type discardLog struct{}

func (discardLog) Printf(string, ...interface{}) {}
func (discardLog) Println(...interface{})        {}

// sender returns an SMTP sender for the server.
func (s *smtpServer) sender() *SMTP {
	return &SMTP{Addr: s.addr, TLS: StartTLS, TLSConfig: &tls.Config{RootCAs: s.roots, ServerName: "localhost"},
		Username: smtpUser, Password: smtpPass, From: "Shop <news@shop.example.com>", Timeout: 5 * time.Second}
}

func (s *smtpServer) deliveries() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.byID {
		out[k] = v
	}
	return out
}

type smtpSession struct {
	s    *smtpServer
	c    *smtp.Conn
	auth bool
	to   string
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != smtpUser || password != smtpPass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		ss.auth = true
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.auth {
		return smtp.ErrAuthRequired
	}
	if _, ok := ss.c.TLSConnectionState(); ok {
		ss.s.mu.Lock()
		ss.s.tlsSeen = true
		ss.s.mu.Unlock()
	}
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.rcptFail[to] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	ss.to = to
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	id := m.Header.Get("Message-ID")
	ss.s.mu.Lock()
	block, onData := ss.s.block, ss.s.onData
	ss.s.mu.Unlock()
	if block != nil {
		<-block
	}
	if onData != nil {
		if err := onData(id); err != nil {
			return err
		}
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.byID[id]++
	ss.s.msgs = append(ss.s.msgs, m)
	ss.s.raw = append(ss.s.raw, string(b))
	return nil
}

func (ss *smtpSession) Reset()        {}
func (ss *smtpSession) Logout() error { return nil }

// selfSigned makes a certificate for localhost and 127.0.0.1.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func testMessage(key, to string) *Message {
	return &Message{Key: key, Campaign: "c", BasketID: "b-1", Step: 1, To: to, Subject: "Your basket",
		Text: "Come back: https://shop.example.com/r", HTML: "<p>Come back</p>", At: t0,
		RecoveryURL: "https://shop.example.com/r", UnsubscribeURL: "https://shop.example.com/u?email=a&token=t"}
}

func noCommit() error { return nil }

func TestSMTPSend(t *testing.T) {
	s := newSMTPServer(t)
	snd := s.sender()
	m := testMessage("c1-abc", "ann@example.com")
	m.Subject = "Ann\r\nBcc: evil@example.com, your basket"
	committed := false
	if err := snd.Send(context.Background(), m, func() error { committed = true; return nil }); err != nil {
		t.Fatalf("Send = %v; want nil", err)
	}
	if !committed {
		t.Error("Send did not call commit before the final dot")
	}
	if got := s.deliveries(); got["<c1-abc@shop.example.com>"] != 1 || len(got) != 1 {
		t.Errorf("deliveries = %v; want one, Message-ID from the key", got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tlsSeen {
		t.Error("the message did not travel over STARTTLS")
	}
	h := s.msgs[0].Header
	if h.Get("Bcc") != "" || strings.Contains(s.raw[0], "\r\nBcc:") {
		t.Errorf("a line break in the subject made a header: %q", s.raw[0])
	}
	dec := new(mimeDecoder)
	if subj := dec.header(h.Get("Subject")); subj != "Ann Bcc: evil@example.com, your basket" {
		t.Errorf("Subject = %q; want the line break as a space", subj)
	}
	if h.Get("List-Unsubscribe") != "<https://shop.example.com/u?email=a&token=t>" {
		t.Errorf("List-Unsubscribe = %q", h.Get("List-Unsubscribe"))
	}
}

func TestSMTPFailures(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(s *smtpServer, snd *SMTP)
		to     string
		want   error // errors.Is target; nil means a temporary error
		commit bool  // whether commit was called
	}{
		{"wrong password", func(s *smtpServer, snd *SMTP) { snd.Password = "nope" }, "ann@example.com", ErrRejected, false},
		{"recipient refused", func(s *smtpServer, snd *SMTP) { s.rcptFail["gone@example.com"] = true }, "gone@example.com", ErrBounced, false},
		{"message refused", func(s *smtpServer, snd *SMTP) {
			s.onData = func(string) error { return &smtp.SMTPError{Code: 554, Message: "spam"} }
		}, "ann@example.com", ErrRejected, true},
		{"busy", func(s *smtpServer, snd *SMTP) {
			s.onData = func(string) error { return &smtp.SMTPError{Code: 451, Message: "try later"} }
		}, "ann@example.com", nil, true},
		{"connection refused", func(s *smtpServer, snd *SMTP) { snd.Addr = closedPort(t) }, "ann@example.com", nil, false},
		{"no STARTTLS", func(s *smtpServer, snd *SMTP) { snd.Addr = plainServer(t) }, "ann@example.com", nil, false},
		{"stalls after the dot", func(s *smtpServer, snd *SMTP) {
			s.block = make(chan struct{})
			snd.Timeout = 300 * time.Millisecond
		}, "ann@example.com", ErrInDoubt, true},
		{"never greets", func(s *smtpServer, snd *SMTP) {
			snd.Addr = silentServer(t)
			snd.Timeout = 300 * time.Millisecond
		}, "ann@example.com", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSMTPServer(t)
			snd := s.sender()
			s.mu.Lock()
			tc.setup(s, snd)
			s.mu.Unlock()
			committed := false
			err := snd.Send(context.Background(), testMessage("c1-x", tc.to), func() error { committed = true; return nil })
			switch {
			case err == nil:
				t.Fatalf("Send = nil; want an error")
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("Send = %v; want %v", err, tc.want)
			case tc.want == nil && (errors.Is(err, ErrRejected) || errors.Is(err, ErrInDoubt)):
				t.Errorf("Send = %v; want a temporary error", err)
			}
			if committed != tc.commit {
				t.Errorf("commit called: %v; want %v", committed, tc.commit)
			}
			if strings.Contains(err.Error(), smtpPass) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// closedPort returns an address nobody listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentServer accepts connections and never says a word.
func silentServer(t *testing.T) string {
	return rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
}

// plainServer greets and answers EHLO without STARTTLS.
func plainServer(t *testing.T) string {
	return rawServer(t, func(c net.Conn) {
		io.WriteString(c, "220 localhost ESMTP\r\n")
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(string(buf[:n])); {
			case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
				io.WriteString(c, "250-localhost\r\n250 8BITMIME\r\n")
			case strings.HasPrefix(cmd, "QUIT"):
				io.WriteString(c, "221 bye\r\n")
				return
			default:
				io.WriteString(c, "502 no\r\n")
			}
		}
	})
}

func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
