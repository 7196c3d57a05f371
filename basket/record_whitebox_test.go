package basket

import (
	"strings"
	"testing"
	"unsafe"
)

// TestRecordSize keeps the record in the 112-byte size class: every live
// basket has one, and a field more puts it in the next class, 16 bytes a
// basket (160 MB at 1e7).
func TestRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(record{}); n > 112 {
		t.Errorf("a record takes %d bytes; want at most 112", n)
	}
}

// TestExtraSize keeps extra in the 48-byte size class: a basket with a
// name has one.
func TestExtraSize(t *testing.T) {
	if n := unsafe.Sizeof(extra{}); n > 48 {
		t.Errorf("an extra takes %d bytes; want at most 48", n)
	}
}

// TestSetNames: the names read back as set, in one string of their own.
func TestSetNames(t *testing.T) {
	for _, c := range [][3]string{{"", "", ""}, {"Ann", "", ""}, {"", "Smith", ""}, {"", "", "Example Ltd"},
		{"Ann", "Smith", "Example Ltd"}, {"Zoë", "", "Ünïcode"}} {
		first := strings.Clone(c[0])
		var x extra
		x.setNames(first, c[1], c[2])
		if got := [3]string{x.firstName(), x.lastName(), x.companyName()}; got != c {
			t.Errorf("setNames(%q) read back %q", c, got)
		}
		if first != "" && unsafe.StringData(x.names) == unsafe.StringData(first) {
			t.Errorf("setNames(%q) kept the first name's memory", c)
		}
	}
}
