package basket

import (
	"errors"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length bounds of an email address (RFC 5321, section 4.5.3.1).
const (
	maxEmailLen    = 254
	maxEmailLocal  = 64
	maxEmailDomain = 253
)

// ValidateEmail reports whether s is a usable email address: an RFC 5322
// addr-spec (no display name, no angle brackets), at most 254 bytes with a
// local part of at most 64, valid UTF-8 without control characters, and a
// domain with at least one dot. Surrounding white space is ignored.
func ValidateEmail(s string) error {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return errors.New("empty email")
	case len(s) > maxEmailLen:
		return errors.New("email longer than 254 bytes")
	case !utf8.ValidString(s):
		return errors.New("email is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return errors.New("email contains a control or space character")
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return errors.New("email needs a local part and a domain")
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > maxEmailLocal {
		return errors.New("email local part longer than 64 bytes")
	}
	if len(domain) > maxEmailDomain || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return errors.New("email domain is malformed")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return errors.New("email is not an RFC 5322 address")
	}
	return nil
}

// NormalizeEmail returns the form in which emails are compared: trimmed and
// case-folded. It does not validate.
func NormalizeEmail(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.ToLower(s)
		}
	}
	return s
}
