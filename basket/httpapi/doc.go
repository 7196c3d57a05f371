// Package httpapi serves the abandoned-basket engine over HTTP: a drop-in
// for the hosted abandoned-basket API, plus the abandonment feed, the
// ingest endpoint, recovery and unsubscribe links, OAuth2 client
// credentials, health, Prometheus metrics and the API's OpenAPI document.
//
// Endpoints:
//
//	GET  /api/checkout/abandoned       abandoned baskets by (created, id); scope checkout
//	GET  /api/checkout/abandoned/feed  baskets in the order they became abandoned; scope checkout
//	GET  /api/checkout/customer        every live basket of one customer (?email=); scope checkout
//	GET  /api/checkout/recover         recovery links: 302 to the checkout; public
//	GET  /api/checkout/unsubscribe     an unsubscribe link's confirmation page, which never unsubscribes; public
//	POST /api/checkout/unsubscribe     unsubscribe (RFC 8058 one-click): the address is suppressed; public
//	POST /api/checkout/suppression     whether an address ({"email"}) is suppressed, and its unsubscribe token; scope checkout
//	POST /api/baskets/events           a batch of events, JSON array or NDJSON; scope ingest
//	GET  /api/webhooks/deliveries      outgoing webhooks: each endpoint's state and latest attempts (?endpoint=); scope checkout
//	POST /api/webhooks/resume          outgoing webhooks: a failing or disabled endpoint delivers again (?endpoint=); scope checkout
//	POST /oauth2/token                 client-credentials grant; public
//	GET  /healthz                      liveness; public
//	GET  /metrics                      Prometheus text format; public
//	GET  /openapi.json                 the OpenAPI 3.1 document of these endpoints (OpenAPI); public
//
// The two /api/webhooks endpoints are served only by a server that delivers
// outgoing webhooks: package webhook's Deliverer.Routes, in Options.Routes
// (abandoned serve -webhook). Another method on one of these paths is a
// 405 naming the path's methods in Allow; any other path is a 404.
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
// # Metrics
//
// GET /metrics serves these, beside the Go runtime's and the process's. A
// labelled series shows once something was counted in it.
//
//	abandoned_http_requests_total{route,code,method}  requests answered; route is the endpoint's path, or other
//	abandoned_http_request_duration_seconds{route}    time to answer, a histogram
//	abandoned_http_auth_failures_total{kind}          failed authentications: bearer (a token), client (OAuth2)
//	abandoned_http_auth_throttled_total               requests answered 429, their address having failed too often
//	abandoned_baskets{state}                          live baskets: open, contactable, completed, abandoned, pending
//	abandoned_baskets_expired_total                   baskets purged at their time to live
//	abandoned_baskets_erased                          basket ids erased
//	abandoned_feed_position                           the newest position of the feed
//	abandoned_log_applied, abandoned_log_lag          a node of a cluster: its place in the cluster's log
//	abandoned_ingest_events_total                     events applied (harmless re-sends included)
//	abandoned_ingest_batches_total{outcome}           applied, invalid, conflict, too_large, error
//	abandoned_query_pages_total{endpoint}             pages answered: query, feed
//	abandoned_query_items_total{endpoint}             baskets in those pages
//	abandoned_recovery_links_total{outcome}           checkout, purchased, repurchase, missing, invalid, expired
//	abandoned_unsubscribes_total{outcome}             ok, invalid
//	abandoned_oauth2_tokens_total{outcome}            issued, or the OAuth2 error answered
//
// # Caveats
//
//   - Access tokens are signed with Options.AccessSecrets, none of which
//     signs anything a customer holds: by default one random secret per
//     Server, so that they do not outlive it. Cursors are signed with the
//     engine's recovery secrets. A secret removed from either list (rather
//     than moved down it) invalidates what it signed.
//   - GET /metrics is public: it shows counts, never baskets; put it behind
//     the network's own controls if counts are sensitive.
//   - Events are decoded by a hand-written decoder for their usual form,
//     and by encoding/json wherever it declines (escapes in strings,
//     non-empty customFields, keys differing only in case, malformed JSON);
//     a fuzz test holds the two to the same results. The decoded events'
//     strings share one copy of each event's text: the engine clones what it
//     keeps, so that copy is not retained.
package httpapi
