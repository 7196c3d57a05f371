package basket

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// EventType names an event as it appears on the wire.
type EventType string

// The events of a basket's life.
const (
	EventCreated                EventType = "created"
	EventItemsChanged           EventType = "itemsChanged"
	EventIdentified             EventType = "identified"
	EventEmailCaptured          EventType = "emailCaptured"
	EventCustomerDetailsChanged EventType = "customerDetailsChanged"
	EventCompleted              EventType = "completed"
	EventRecovered              EventType = "recovered"
	EventErased                 EventType = "erased" // every basket of Email created at or before At
)

// Limits on event fields.
const (
	MaxIDLen      = 256  // bytes of a basket id
	MaxFieldLen   = 2048 // bytes of any other string
	MaxOrderItems = 100
	MaxProducts   = 100  // per order item
	MaxMapEntries = 100  // tracking and customFields
	MaxIdentities = 16   // identities kept per basket
	minEventYear  = 2000 // events before are rejected
	maxEventYear  = 9999
)

// Event is the engine's only way in. The JSON form is the wire format of the
// ingest endpoint.
type Event struct {
	Type            EventType         `json:"type" msgpack:"t"`
	BasketID        string            `json:"basketId,omitempty" msgpack:"b,omitempty"`
	At              time.Time         `json:"at" msgpack:"a"`
	Entry           string            `json:"entry,omitempty" msgpack:"en,omitempty"`
	OrderItems      []OrderItem       `json:"orderItems,omitempty" msgpack:"o,omitempty"`
	Tracking        map[string]string `json:"tracking,omitempty" msgpack:"tr,omitempty"`
	CustomFields    map[string]any    `json:"customFields,omitempty" msgpack:"cf,omitempty"`
	Identity        *Identity         `json:"identity,omitempty" msgpack:"i,omitempty"`
	CustomerDetails *CustomerDetails  `json:"customerDetails,omitempty" msgpack:"cd,omitempty"`
	Email           string            `json:"email,omitempty" msgpack:"e,omitempty"`
}

// Validate checks an event's fields without looking at any basket. The error
// is an *EventError with Index 0.
func (ev *Event) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &EventError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch ev.Type {
	case EventCreated, EventItemsChanged, EventIdentified, EventEmailCaptured,
		EventCustomerDetailsChanged, EventCompleted, EventRecovered, EventErased:
	case "":
		return bad("type", "missing")
	default:
		return bad("type", "unknown event type %q", truncate(string(ev.Type)))
	}
	if ev.At.IsZero() {
		return bad("at", "missing")
	}
	if y := ev.At.UTC().Year(); y < minEventYear || y > maxEventYear {
		return bad("at", "year %d out of range", y)
	}
	if len(ev.CustomFields) > 0 {
		// Checked as written, so that what the engine takes it reads back.
		b, err := msgpack.Marshal(ev.CustomFields)
		if err != nil {
			return bad("customFields", "cannot be encoded: %v", err)
		}
		if checkMsg(b, MaxValueDepth+1) != nil { // the map of fields is a level
			return bad("customFields", "nests arrays and maps more than %d deep", MaxValueDepth)
		}
	}
	if ev.Type == EventErased {
		if ev.BasketID != "" {
			return bad("basketId", "erased takes an email, not a basket id")
		}
		if err := ValidateEmail(ev.Email); err != nil {
			return bad("email", "%v", err)
		}
		return nil
	}
	if err := checkID(ev.BasketID); err != nil {
		return bad("basketId", "%v", err)
	}
	switch ev.Type {
	case EventCreated:
		if err := checkString(ev.Entry); err != nil {
			return bad("entry", "%v", err)
		}
		if err := checkItems(ev.OrderItems); err != nil {
			return bad("orderItems", "%v", err)
		}
		if err := checkStringMap(ev.Tracking); err != nil {
			return bad("tracking", "%v", err)
		}
		if len(ev.CustomFields) > MaxMapEntries {
			return bad("customFields", "more than %d entries", MaxMapEntries)
		}
	case EventItemsChanged:
		if ev.OrderItems == nil {
			return bad("orderItems", "missing")
		}
		if err := checkItems(ev.OrderItems); err != nil {
			return bad("orderItems", "%v", err)
		}
	case EventIdentified:
		if ev.Identity == nil {
			return bad("identity", "missing")
		}
		id := ev.Identity
		if id.Sub == "" {
			return bad("identity.sub", "missing")
		}
		for _, f := range [...]struct{ name, v string }{
			{"identity.sub", id.Sub}, {"identity.iss", id.Iss},
			{"identity.service", id.Service}, {"identity.type", id.Type},
		} {
			if err := checkString(f.v); err != nil {
				return bad(f.name, "%v", err)
			}
		}
		if ev.CustomerDetails != nil {
			if err := checkDetails(ev.CustomerDetails, false); err != nil {
				return bad("customerDetails."+err.field, "%s", err.reason)
			}
		}
	case EventEmailCaptured:
		if err := ValidateEmail(ev.Email); err != nil {
			return bad("email", "%v", err)
		}
	case EventCustomerDetailsChanged:
		if ev.CustomerDetails == nil {
			return bad("customerDetails", "missing")
		}
		if err := checkDetails(ev.CustomerDetails, false); err != nil {
			return bad("customerDetails."+err.field, "%s", err.reason)
		}
	}
	return nil
}

type fieldErr struct{ field, reason string }

func checkDetails(d *CustomerDetails, needEmail bool) *fieldErr {
	if d.Email != "" || needEmail {
		if err := ValidateEmail(d.Email); err != nil {
			return &fieldErr{"email", err.Error()}
		}
	}
	for _, f := range [...]struct{ name, v string }{
		{"firstName", d.FirstName}, {"lastName", d.LastName}, {"companyName", d.CompanyName},
	} {
		if err := checkString(f.v); err != nil {
			return &fieldErr{f.name, err.Error()}
		}
	}
	return nil
}

func checkID(id string) error {
	if id == "" {
		return fmt.Errorf("missing")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("longer than %d bytes", MaxIDLen)
	}
	if plainASCII(id, true) {
		return nil
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("contains a control or space character")
		}
	}
	return nil
}

func checkString(s string) error {
	if len(s) > MaxFieldLen {
		return fmt.Errorf("longer than %d bytes", MaxFieldLen)
	}
	if plainASCII(s, false) {
		return nil
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains a control character")
		}
	}
	return nil
}

// plainASCII reports whether s is printable ASCII (and, with noSpace,
// without spaces): the usual case, which needs no rune-by-rune check.
func plainASCII(s string, noSpace bool) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || (noSpace && c == ' ') {
			return false
		}
	}
	return true
}

func checkStringMap(m map[string]string) error {
	if len(m) > MaxMapEntries {
		return fmt.Errorf("more than %d entries", MaxMapEntries)
	}
	for k, v := range m {
		if err := checkString(k); err != nil {
			return fmt.Errorf("key: %v", err)
		}
		if err := checkString(v); err != nil {
			return fmt.Errorf("%s: %v", truncate(k), err)
		}
	}
	return nil
}

func checkItems(items []OrderItem) error {
	if len(items) > MaxOrderItems {
		return fmt.Errorf("more than %d items", MaxOrderItems)
	}
	for i := range items {
		it := &items[i]
		if err := checkString(it.Name); err != nil {
			return fmt.Errorf("[%d].name: %v", i, err)
		}
		if err := checkString(it.Path); err != nil {
			return fmt.Errorf("[%d].path: %v", i, err)
		}
		if len(it.Products) > MaxProducts {
			return fmt.Errorf("[%d].products: more than %d", i, MaxProducts)
		}
		for j := range it.Products {
			if err := checkString(it.Products[j].Path); err != nil {
				return fmt.Errorf("[%d].products[%d].path: %v", i, j, err)
			}
			if err := checkString(it.Products[j].ProductCode); err != nil {
				return fmt.Errorf("[%d].products[%d].productCode: %v", i, j, err)
			}
		}
	}
	return nil
}

// truncate shortens outside input quoted in an error message.
func truncate(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	for i := n; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}
