package httpapi

import "github.com/basketlab/abandoned/basket"

// AppendItem appends b as one item of the query API's pages, the JSON the
// API itself answers: with feed, the feed's shape (adding "abandonedAt" and
// "position"). It is what outgoing webhooks carry as their data, so that a
// receiver reads the same object it would pull.
func AppendItem(dst []byte, b *basket.Basket, feed bool) []byte {
	return appendBasket(dst, b, feed)
}
