// Package httpapi serves the abandoned-basket engine over HTTP: a drop-in
// for the hosted abandoned-basket API, plus the abandonment feed, the
// ingest endpoint, recovery links, OAuth2 client credentials, health and
// Prometheus metrics.
//
// Endpoints:
//
//	GET  /api/checkout/abandoned       abandoned baskets by (created, id); scope checkout
//	GET  /api/checkout/abandoned/feed  baskets in the order they became abandoned; scope checkout
//	GET  /api/checkout/recover         recovery links: 302 to the checkout; public
//	POST /api/baskets/events           a batch of events, JSON array or NDJSON; scope ingest
//	POST /oauth2/token                 client-credentials grant; public
//	GET  /healthz                      liveness; public
//	GET  /metrics                      Prometheus text format; public
//
// Handlers are thin over basket.Engine; Serve runs them with timeouts and a
// graceful shutdown. Pages are written as JSON by hand
// (no reflection), into pooled buffers, in exactly the shape of the hosted
// API: times in RFC 3339 UTC with milliseconds, customerDetails.email
// always present, optional fields omitted when empty, tracking always an
// object and identities and orderItems always arrays.
//
// Every error answers {"message":"…"} (ingest errors add "index"); a
// message names the parameter or field at fault and never repeats an
// email, a token or a secret. The access log names the path and never the
// query string.
//
// # Caveats
//
//   - Access tokens are signed with keys derived from the engine's recovery
//     secrets: with a generated secret they do not outlive the process, and
//     rotating the first secret out invalidates them, as it does cursors.
//   - GET /metrics is public: it shows counts, never baskets; put it behind
//     the network's own controls if counts are sensitive.
//   - Events are decoded by a hand-written decoder for their usual form,
//     and by encoding/json wherever it declines (escapes in strings,
//     non-empty customFields, keys differing only in case, malformed JSON);
//     a fuzz test holds the two to the same results. The decoded events'
//     strings share one copy of each event's text: the engine clones what it
//     keeps, so that copy is not retained.
package httpapi
