package basket

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// msgReader reads the msgpack values a snapshot is made of (integers,
// booleans, strings, arrays and maps) straight from its buffer, without the
// reflection and the per-call cost of a general decoder. Strings are read as
// views of the buffer, valid until the next read. It keeps the first error.
type msgReader struct {
	r   *bufio.Reader
	err error
}

func (m *msgReader) fail(what string, c byte) {
	if m.err == nil {
		m.err = fmt.Errorf("%s where the snapshot has msgpack code 0x%02x", what, c)
	}
}

func (m *msgReader) code() byte {
	if m.err != nil {
		return 0xc0
	}
	c, err := m.r.ReadByte()
	if err != nil {
		m.err = noEOF(err)
		return 0xc0
	}
	return c
}

// noEOF is err, but an end of the data where a value belongs is
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// next returns the next n bytes, a view of the buffer when they fit in it.
func (m *msgReader) next(n int) []byte {
	if m.err != nil {
		return nil
	}
	if n <= m.r.Size() {
		b, err := m.r.Peek(n)
		if err != nil {
			m.err = noEOF(err)
			return nil
		}
		m.r.Discard(n) //nolint:errcheck // the n bytes are buffered
		return b
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(m.r, b); err != nil {
		m.err = noEOF(err)
		return nil
	}
	return b
}

func (m *msgReader) be(n int) uint64 {
	b := m.next(n)
	if b == nil {
		return 0
	}
	switch n {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

// int reads an integer of any width, or nil as 0.
func (m *msgReader) int() int64 {
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

// strBytes reads a string (or binary) as a view of the buffer; nil reads as
// empty.
func (m *msgReader) strBytes() []byte {
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
		n = int(m.be(4))
	default:
		m.fail("a string", c)
		return nil
	}
	return m.next(n)
}

func (m *msgReader) str() string { return string(m.strBytes()) }

// arrayLen reads an array's header; nil reads as -1.
func (m *msgReader) arrayLen() int {
	c := m.code()
	switch {
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f)
	case c == 0xc0:
		return -1
	case c == 0xdc:
		return int(m.be(2))
	case c == 0xdd:
		return int(m.be(4))
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
		return int(m.be(4))
	}
	m.fail("a map", c)
	return 0
}
