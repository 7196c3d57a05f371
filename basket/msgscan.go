package basket

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// MaxValueDepth is how deeply a custom field's value may nest arrays and
// maps, as msgpack writes it (Event.Validate refuses a deeper one): the
// depth encoding/json lets a request's body reach.
const MaxValueDepth = 10_000

// maxScanDepth is the deepest nesting checkMsg and copyValue accept when
// they read what the engine wrote: far past MaxValueDepth, so that a log or
// snapshot from before that bound still reads, and near enough that
// msgpack's recursive decoder keeps well within a goroutine's stack.
const maxScanDepth = 1 << 17

// scanValue reads one msgpack value through take, which returns the next n
// bytes, or nil if there are not that many, and checks that it is well
// formed: every string, binary and extension has the bytes its length
// says, every array and map the values its count says, and nothing nests
// deeper than maxDepth. It allocates nothing in proportion to a length or
// count it reads: a count is only counted down, one value read at a time,
// so bad data ends in an error once the bytes run out. What msgpack's
// decoder allocates for a value it accepts is then proportional to the
// value's bytes (by up to the size of a slice's element, a few hundred
// bytes for an empty event), where for a bad one it is not: it sizes a
// slice by the count it reads, 64 GiB for a 5-byte array header.
func scanValue(take func(n int) []byte, maxDepth int) error {
	// left[i] is the values still to read in the container at depth i+1.
	var left []uint64
	for todo := uint64(1); ; {
		if todo == 0 {
			if len(left) == 0 {
				return nil
			}
			todo, left = left[len(left)-1], left[:len(left)-1]
			continue
		}
		todo--
		b := take(1)
		if b == nil {
			return io.ErrUnexpectedEOF
		}
		c := b[0]
		var skip, count uint64 // bytes to skip; values in a container
		container := false
		switch {
		case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
			// a fixint, nil or a boolean
		case c <= 0x8f:
			count, container = 2*uint64(c&0x0f), true
		case c <= 0x9f:
			count, container = uint64(c&0x0f), true
		case c <= 0xbf:
			skip = uint64(c & 0x1f)
		default:
			var err error
			skip, count, container, err = scanHeader(c, take)
			if err != nil {
				return err
			}
		}
		if skip > 0 && take(int(min(skip, math.MaxInt))) == nil {
			return io.ErrUnexpectedEOF
		}
		if container && count > 0 {
			if len(left) >= maxDepth {
				return fmt.Errorf("a value nested more than %d deep", maxDepth)
			}
			left = append(left, todo)
			todo = count
		}
	}
}

// scanHeader reads the rest of the header of a value whose first byte is c,
// past the fixed-size forms: the bytes to skip, or the values the
// container holds.
func scanHeader(c byte, take func(n int) []byte) (skip, count uint64, container bool, err error) {
	size := func(n int) uint64 {
		b := take(n)
		if b == nil {
			err = io.ErrUnexpectedEOF
			return 0
		}
		return beUint(b)
	}
	switch c {
	case 0xc4, 0xc5, 0xc6: // bin 8, 16, 32
		skip = size(1 << (c - 0xc4))
	case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32: a length, then the type
		skip = size(1<<(c-0xc7)) + 1
	case 0xca, 0xcb: // float 32, 64
		skip = 4 << (c - 0xca)
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8 to 64
		skip = 1 << (c - 0xcc)
	case 0xd0, 0xd1, 0xd2, 0xd3: // int 8 to 64
		skip = 1 << (c - 0xd0)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1 to 16, after the type
		skip = 1 + 1<<(c-0xd4)
	case 0xd9, 0xda, 0xdb: // str 8, 16, 32
		skip = size(1 << (c - 0xd9))
	case 0xdc, 0xdd: // array 16, 32
		count, container = size(2<<(c-0xdc)), true
	case 0xde, 0xdf: // map 16, 32
		count, container = 2*size(2<<(c-0xde)), true
	default: // 0xc1, never used
		return 0, 0, false, fmt.Errorf("msgpack: the unused code 0x%x", c)
	}
	return skip, count, container, err
}

// checkMsg reports whether b begins with one well-formed msgpack value
// (see scanValue) nested at most maxDepth deep.
func checkMsg(b []byte, maxDepth int) error {
	err := scanValue(func(n int) []byte {
		if n < 0 || n > len(b) {
			return nil
		}
		v := b[:n]
		b = b[n:]
		return v
	}, maxDepth)
	if err != nil {
		return fmt.Errorf("malformed msgpack: %w", err)
	}
	return nil
}

// copyValue appends the next msgpack value of m to dst, checked as
// scanValue checks it.
func (m *msgReader) copyValue(dst []byte) ([]byte, error) {
	err := scanValue(func(n int) []byte {
		v := m.next(n)
		if v != nil {
			dst = append(dst, v...)
		}
		return v
	}, maxScanDepth)
	if m.err != nil {
		err = m.err
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("malformed msgpack: %w", err)
	}
	return dst, err
}
