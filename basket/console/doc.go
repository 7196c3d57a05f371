// Package console is the web console of abandoned serve: pages for the
// people who inspect abandoned baskets and follow them up by hand (sales,
// RevOps, support), served under /console/ beside the HTTP API.
//
// Pages:
//
//	/console/signin     sign in with an API token, an OAuth2 access token, or a client's id and secret
//	/console/baskets    the abandoned baskets, filtered by created range, email and channel, paged, with the exact total
//	/console/baskets/ID one basket: items, customer, identities, state and its times, the recovery link, follow-up
//	/console/feed       the abandonment feed, newest first, live with JavaScript
//	/console/dashboard  charts: abandoned and recovered per day, by channel and device, the funnel
//	/console/campaign   a campaign's report, when Options.CampaignDir names its state
//
// Pages are rendered on the server with html/template and work without
// JavaScript; one small embedded script shows times in the viewer's zone,
// copies links and makes the feed live. Every file is embedded: nothing is
// loaded from elsewhere, and the Content-Security-Policy allows the
// console's own files only, no inline script or style.
//
// # Sessions
//
// A sign-in is checked by Options.Auth (an *httpapi.Server: the API's own
// checks, and its backoff of failed authentications per address). The
// session lives on the server, in memory: the cookie (HttpOnly,
// SameSite=Strict, Secure over TLS, Path=/console/) holds only a random
// id, kept by its SHA-256 with the session's expiry (Options.SessionLifetime,
// 12 hours; an access token's own expiry if sooner) and its CSRF token,
// which every form that changes something carries. Signing out deletes the
// session on the server. Credentials with the checkout scope only (an
// access token asked with scope=checkout) sign in read-only: they see
// everything and mark nothing.
//
// A list's filters, the email among them, never show in a URL: the filter
// form is a POST, and the pages' links carry the filters and the engine's
// cursor sealed (AES-256-GCM under a key of the process).
//
// # Caveats
//
//   - Sessions and sealed links do not survive a restart: everybody signs
//     in again, and an old page's link says it no longer works.
//   - The dashboard reads at most Options.DashboardScan abandoned baskets
//     (the most recently created) once a minute, and says so when there
//     are more. It sees the baskets abandoned now: a basket recovered and
//     then completed counts as completed, not as recovered, and days are
//     UTC days.
//   - The campaign page reads the campaign's state directory; while the
//     campaign runs it holds the directory and the page says so. A
//     campaign starting in the instant the console reads its state finds
//     it in use and must be started again.
package console
