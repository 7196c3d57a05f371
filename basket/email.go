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
	if simpleEmail(s) {
		return nil
	}
	return validateEmail(s)
}

// validateEmail is the full check of a trimmed address.
func validateEmail(s string) error {
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

// simpleEmail reports whether s is a plain ASCII address of the usual form:
// a dot-atom local part and a domain of letters, digits and hyphens with at
// least one dot, within the length bounds. Every such address passes the
// full check; anything else is left to it.
func simpleEmail(s string) bool {
	if len(s) > maxEmailLen {
		return false
	}
	at := -1
	prev := byte('.') // no leading dot
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '@':
			if at >= 0 || prev == '.' || i > maxEmailLocal {
				return false
			}
			at, prev = i, '.' // a domain starts like a local part: no leading dot
			continue
		case c == '.':
			if prev == '.' {
				return false
			}
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
		case at < 0 && strings.IndexByte("!#$%&'*+/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
		prev = c
	}
	return at > 0 && prev != '.' && strings.IndexByte(s[at+1:], '.') > 0
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
