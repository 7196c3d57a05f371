package basket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// msgReader reads the msgpack values a snapshot is made of (integers,
// booleans, strings, arrays and maps) from a window of the source that it
// refills, without the reflection and the per-call cost of a general
// decoder. Strings are read as views of the window, valid until the next
// read. It keeps the first error, and after one reads every value as nil.
//
// It is also an io.ByteScanner over the same window, so that a reflective
// msgpack.Decoder can read the values that need one (settings, custom
// fields) without a buffer of its own.
type msgReader struct {
	src io.Reader
	buf []byte // the window: buf[off:] is read from src and not yet consumed
	off int
	err error
	gen int // counts the times bytes in the window moved or were read past it
}

// msgWindow is the size of a msgReader's window.
const msgWindow = 1 << 20

func newMsgReader(src io.Reader) msgReader {
	return msgReader{src: src, buf: make([]byte, 0, msgWindow)}
}

// fill makes at least n bytes available in the window, moving the unread
// ones to its start; it reports false, with m.err set, when the source
// ends first. n is at most the window's size.
func (m *msgReader) fill(n int) bool {
	if m.err != nil {
		return false
	}
	m.gen++
	if m.off > 0 {
		k := copy(m.buf[:cap(m.buf)], m.buf[m.off:])
		m.buf, m.off = m.buf[:k], 0
	}
	for empty := 0; len(m.buf) < n; {
		k, err := m.src.Read(m.buf[len(m.buf):cap(m.buf)])
		m.buf = m.buf[:len(m.buf)+k]
		switch {
		case len(m.buf) >= n:
		case err != nil:
			m.setErr(noEOF(err))
			return false
		case k > 0:
			empty = 0
		default:
			if empty++; empty == 100 {
				m.setErr(io.ErrNoProgress)
				return false
			}
		}
	}
	return true
}

// setErr keeps err and empties the window, so that every later read
// takes the slow path and reads nil.
func (m *msgReader) setErr(err error) {
	if m.err == nil {
		m.err = err
	}
	m.buf, m.off = m.buf[:0], 0
}

func (m *msgReader) fail(what string, c byte) {
	if m.err == nil {
		m.setErr(fmt.Errorf("%s where the snapshot has msgpack code 0x%02x", what, c))
	}
}

func (m *msgReader) code() byte {
	if b := m.buf[m.off:]; len(b) > 0 {
		m.off++
		return b[0]
	}
	return m.codeSlow()
}

//go:noinline
func (m *msgReader) codeSlow() byte {
	if !m.fill(1) {
		return 0xc0
	}
	c := m.buf[m.off]
	m.off++
	return c
}

// peek returns the next byte without reading it; 0xc0 (nil) after an
// error or at the end.
func (m *msgReader) peek() byte {
	if m.off < len(m.buf) || m.fill(1) {
		return m.buf[m.off]
	}
	return 0xc0
}

// noEOF is err, but an end of the data where a value belongs is
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// next returns the next n bytes, a view of the window when they fit in it.
func (m *msgReader) next(n int) []byte {
	if n >= 0 && m.off+n <= len(m.buf) {
		b := m.buf[m.off : m.off+n : m.off+n]
		m.off += n
		return b
	}
	return m.nextSlow(n)
}

func (m *msgReader) nextSlow(n int) []byte {
	if n < 0 {
		m.setErr(errLength) // from len32, on a 32-bit platform
		return nil
	}
	if n <= cap(m.buf) {
		if !m.fill(n) {
			return nil
		}
		b := m.buf[:n:n]
		m.off = n
		return b
	}
	if m.err != nil {
		return nil
	}
	// A value longer than the window is read into a buffer of its own,
	// grown as its bytes arrive: a length read from bad data can be huge.
	m.gen++
	b := append(make([]byte, 0, min(n, 2*cap(m.buf))), m.buf[m.off:]...)
	m.buf, m.off = m.buf[:0], 0
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(n, 2*cap(b))-len(b))
		}
		k, err := io.ReadFull(m.src, b[len(b):min(n, cap(b))])
		b = b[:len(b)+k]
		if err != nil {
			m.setErr(noEOF(err))
			return nil
		}
	}
	return b
}

func (m *msgReader) be(n int) uint64 {
	b := m.next(n)
	if b == nil {
		return 0
	}
	return beUint(b)
}

// beUint returns the big-endian unsigned integer of 1, 2, 4 or 8 bytes b.
func beUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

// errLength is the error of a length a platform's int cannot hold.
var errLength = errors.New("a length of 2^31 or more, which this platform cannot hold")

// len32 reads a 32-bit length, which on a 32-bit platform may not fit in
// an int: that is an error, not a negative length.
func (m *msgReader) len32() int {
	n := m.be(4)
	if uint64(int(n)) != n || int(n) < 0 {
		m.setErr(errLength)
		return 0
	}
	return int(n)
}

// int reads an integer of any width, or nil as 0. Small ones and 64-bit
// ones (the times) are read inline.
func (m *msgReader) int() int64 {
	if m.off+9 <= len(m.buf) {
		switch c := m.buf[m.off]; {
		case c <= 0x7f:
			m.off++
			return int64(c)
		case c == 0xcf || c == 0xd3:
			v := binary.BigEndian.Uint64(m.buf[m.off+1:])
			m.off += 9
			return int64(v)
		}
	}
	return m.intSlow()
}

func (m *msgReader) intSlow() int64 {
	c := m.code()
	switch {
	case c <= 0x7f:
		return int64(c)
	case c >= 0xe0:
		return int64(int8(c))
	}
	switch c {
	case 0xc0:
		return 0
	case 0xcc:
		return int64(m.be(1))
	case 0xcd:
		return int64(m.be(2))
	case 0xce:
		return int64(m.be(4))
	case 0xcf:
		return int64(m.be(8))
	case 0xd0:
		return int64(int8(m.be(1)))
	case 0xd1:
		return int64(int16(m.be(2)))
	case 0xd2:
		return int64(int32(m.be(4)))
	case 0xd3:
		return int64(m.be(8))
	}
	m.fail("an integer", c)
	return 0
}

func (m *msgReader) uint() uint64 { return uint64(m.int()) }

func (m *msgReader) bool() bool {
	switch c := m.code(); c {
	case 0xc2, 0xc0:
		return false
	case 0xc3:
		return true
	default:
		m.fail("a boolean", c)
	}
	return false
}

// strBytes reads a string (or binary) as a view of the window; nil reads
// as empty. Short strings in the window are read inline.
func (m *msgReader) strBytes() []byte {
	if m.off < len(m.buf) {
		if c := m.buf[m.off]; c >= 0xa0 && c <= 0xbf {
			if i, j := m.off+1, m.off+1+int(c&0x1f); j <= len(m.buf) {
				m.off = j
				return m.buf[i:j:j]
			}
		}
	}
	return m.strBytesSlow()
}

func (m *msgReader) strBytesSlow() []byte {
	c := m.code()
	var n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == 0xc0:
		return nil
	case c == 0xd9 || c == 0xc4:
		n = int(m.be(1))
	case c == 0xda || c == 0xc5:
		n = int(m.be(2))
	case c == 0xdb || c == 0xc6:
		n = m.len32()
	default:
		m.fail("a string", c)
		return nil
	}
	return m.next(n)
}

func (m *msgReader) str() string { return string(m.strBytes()) }

// arrayLen reads an array's header; nil reads as -1.
func (m *msgReader) arrayLen() int {
	if b := m.buf[m.off:]; len(b) > 0 && b[0]&0xf0 == 0x90 {
		m.off++
		return int(b[0] & 0x0f)
	}
	return m.arrayLenSlow()
}

func (m *msgReader) arrayLenSlow() int {
	c := m.code()
	switch {
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f)
	case c == 0xc0:
		return -1
	case c == 0xdc:
		return int(m.be(2))
	case c == 0xdd:
		return m.len32()
	}
	m.fail("an array", c)
	return 0
}

// mapLen reads a map's header; nil reads as -1.
func (m *msgReader) mapLen() int {
	c := m.code()
	switch {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f)
	case c == 0xc0:
		return -1
	case c == 0xde:
		return int(m.be(2))
	case c == 0xdf:
		return m.len32()
	}
	m.fail("a map", c)
	return 0
}

// Read, ReadByte and UnreadByte serve the reflective decoder from the
// window. Their errors are the source's, and are kept.

func (m *msgReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if m.off == len(m.buf) && !m.fill(1) {
		return 0, m.readErr()
	}
	n := copy(p, m.buf[m.off:])
	m.off += n
	return n, nil
}

func (m *msgReader) ReadByte() (byte, error) {
	if m.off == len(m.buf) && !m.fill(1) {
		return 0, m.readErr()
	}
	c := m.buf[m.off]
	m.off++
	return c, nil
}

func (m *msgReader) UnreadByte() error {
	if m.off == 0 {
		return fmt.Errorf("msgReader: no byte to unread")
	}
	m.off--
	return nil
}

// readErr is the error an io.Reader returns at the end of the source: the
// decoder calling it says where a value was cut short.
func (m *msgReader) readErr() error {
	if m.err == io.ErrUnexpectedEOF {
		return io.EOF
	}
	return m.err
}
