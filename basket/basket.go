package basket

import (
	"time"
)

// State is the life-cycle state of a basket.
type State uint8

// The states of a basket. Abandonment is not a state of its own: an abandoned
// basket is a contactable one that has been idle long enough.
const (
	StateOpen        State = iota + 1 // created, nobody known
	StateContactable                  // has an email or an SSO identity
	StateCompleted                    // order placed; terminal
	StateExpired                      // past its time to live; terminal
)

var stateNames = [...]string{"", "open", "contactable", "completed", "expired"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + string(rune('0'+s)) + ")"
}

// CustomerDetails are what the checkout knows of the customer. Email is the
// customer's own spelling; comparisons use NormalizeEmail.
type CustomerDetails struct {
	Email       string `json:"email" msgpack:"e,omitempty"`
	FirstName   string `json:"firstName,omitempty" msgpack:"f,omitempty"`
	LastName    string `json:"lastName,omitempty" msgpack:"l,omitempty"`
	CompanyName string `json:"companyName,omitempty" msgpack:"c,omitempty"`
}

// Product is one product of an offer.
type Product struct {
	Path        string `json:"path" msgpack:"p"`
	ProductCode string `json:"productCode" msgpack:"c"`
}

// OrderItem is an offer in a basket.
type OrderItem struct {
	Name     string    `json:"name" msgpack:"n"`
	Path     string    `json:"path" msgpack:"p"`
	Products []Product `json:"products" msgpack:"r"`
}

// Identity is an identity linked to a basket by an SSO login.
type Identity struct {
	Sub     string `json:"sub" msgpack:"s"`
	Iss     string `json:"iss" msgpack:"i"`
	Service string `json:"service" msgpack:"v"`
	Type    string `json:"type" msgpack:"t"`
}

// Basket is a materialised view of a basket, as queries return it. Its
// slices and maps are shared with the engine and must not be modified.
type Basket struct {
	ID              string            `json:"id"`
	Created         time.Time         `json:"created"`
	CustomerDetails CustomerDetails   `json:"customerDetails"`
	OrderItems      []OrderItem       `json:"orderItems"`
	Tracking        map[string]string `json:"tracking"`
	Identities      []Identity        `json:"identities"`
	Entry           string            `json:"entry"`
	Completed       bool              `json:"completed"`
	CustomFields    map[string]any    `json:"customFields,omitempty"`

	// RecoveryLink is the path of the basket's recovery link
	// ("/api/checkout/recover?basketId=…&recover=…"); set only while the
	// basket is abandoned.
	RecoveryLink string `json:"recoveryLink,omitempty"`

	State        State     `json:"-"`
	LastActivity time.Time `json:"-"` // the newest event's time
	RecoveredAt  time.Time `json:"-"` // the newest recovery click; zero if none
	CompletedAt  time.Time `json:"-"` // the completion's time; zero if not completed
	Abandoned    bool      `json:"-"` // abandoned now
	AbandonedAt  time.Time `json:"-"` // when it became abandoned; zero if not abandoned
	FeedPosition uint64    `json:"-"` // its position in the feed; 0 if not abandoned
	FollowedUpAt time.Time `json:"-"` // when it was marked followed up (FollowUp); zero if never
	FollowUpNote string    `json:"-"` // the note of that follow-up
}

// Tag returns the sales channel, tracking.tag.
func (b *Basket) Tag() string { return b.Tracking["tag"] }
