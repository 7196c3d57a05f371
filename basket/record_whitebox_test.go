package basket

import (
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
