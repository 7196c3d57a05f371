// Package campaign runs reminder campaigns over the abandonment feed: it
// sends each abandoned basket's customer a short sequence of messages with
// a way back to their basket, exactly once, and measures what they
// recovered.
//
// A Runner reads the feed of a Source (an engine in process, EngineSource,
// or a server's HTTP API, HTTPSource) from a checkpoint, starting at an
// activation watermark: the feed's newest position at the campaign's first
// turn, so that switching a campaign on never mails the backlog of
// baskets abandoned before (Options.Since asks for it). Each basket taken
// in gets the steps of Options.Steps (default +1h, +24h, +72h after its
// abandonment, none earlier than Options.Delay), and every step, when due,
// is checked again against fresh data before it is sent:
//
//   - completed: the basket was completed; the sequence ends.
//   - ordered_since: the customer completed another basket since this one
//     was created (Options.OrderLookback widens that); the sequence ends.
//   - deduplicated: the customer has a newer abandoned basket (another
//     device, a guest basket and then a logged-in one): messages are about
//     the newest only, and this step is dropped. And at most one message
//     per customer per Options.Window (24h): a step due sooner waits.
//   - suppressed: the address is on the source's suppression list (the
//     engine's: see Unsubscribe below), asked at the moment of sending, or
//     on the campaign's own (Runner.Suppress, Runner.Unsubscribe, and
//     every address an SMTP server refuses for good); the sequence ends.
//   - no_consent: Options.ConsentedOnly and the basket has no consent; the
//     sequence ends.
//   - quiet_hours: it is within Options.QuietHours in the recipient's time
//     zone; the step waits for their end.
//   - expired: the basket expired or is gone (purged, erased), or the last
//     step came too late (Options.LastStepGrace).
//   - overtaken: a later step was already due when this one came up (the
//     backlog of a first run with Options.Since, or a runner that was
//     stopped): of several steps due at once only the latest is sent.
//   - holdout: the customer is in the holdout group (see Holdout below):
//     the step is not sent, and the next one comes up as usual.
//
// Skips and deferrals are counted by reason in the Report. Every time is
// kept in UTC; local times are used only to test quiet hours.
//
// # Time zone and consent
//
// A basket's time zone is tracking["tz"], else customFields["timeZone"],
// else customFields["tz"], an IANA name such as "Europe/Paris"; when
// absent or unknown, Options.TimeZone (UTC by default) is used. Consent is
// customFields[Options.ConsentField] (default "marketingConsent"): true,
// "true", "yes", "1", "granted" or 1; else tracking[ConsentField]; when
// absent the basket has no consent, which matters only in consented-only
// mode.
//
// # Messages
//
// Messages are rendered from Templates: subject and text with
// text/template, HTML with html/template, which escapes every value for
// its context, so a first name of "<script>" is shown, never run. Headers
// are stripped of line breaks. The recovery URL is the shop's base URL
// plus the basket's recovery link, with utm_source and utm_campaign (the
// campaign's name), utm_medium=email and utm_content=<step>. From
// Options.PromoFromStep on, Options.PromoCode adds a purchase link
// (/checkout?purchase=<offer path>&pc=<code>). Every message carries
// its unsubscribe link twice: in the body, and in the headers
// List-Unsubscribe (<link>) and List-Unsubscribe-Post
// (List-Unsubscribe=One-Click), which let a mail client unsubscribe in one
// click (RFC 8058, which large mailbox providers require of bulk senders);
// Message.Headers holds them, for the SMTP sender to write as headers, and
// in the JSON of the webhook and of the outbox's lines.
//
// # Unsubscribe
//
// The link is the shop's base URL plus /api/checkout/unsubscribe (or
// Options.UnsubscribeURL) with an opaque token, never the address. Over a
// source that keeps a suppression list (Suppressions: EngineSource and
// HTTPSource, the engine's list) the runner asks the source at the moment
// of sending, every time: an address on the list is skipped as suppressed,
// and the message carries the token the source gave, which the server's
// POST /api/checkout/unsubscribe takes (the shop forwards that path to it,
// as it does recovery links): a one-click POST puts the address on the
// engine's list, which every campaign then honours. The intent keeps the
// token, so that a repeat of a message is the same message. If the source
// cannot answer, the turn fails and nothing is sent until it can.
//
// Over any other source the runner keeps only its own list, and the token
// is its own: the keyed hash of the address (see below) and a signature
// over it with Options.Tokens, which Runner.Unsubscribe takes; point
// Options.UnsubscribeURL at the endpoint that calls it. The campaign's own
// list (bounces, Runner.Suppress) is honoured over every source.
//
// # Holdout
//
// Options.Holdout (say 10%) keeps a share of the customers from every
// message, to measure what the messages change: a keyed hash of the
// normalised address, under the state's email-hash secret, decides, so the
// same customers are held out on every run and after every restart (a
// runner in memory draws afresh). A held-out customer's steps are decided
// as the others' are, every rule checked, and skipped with reason holdout
// at the moment they would have been sent; their baskets are followed as
// the mailed ones are. Report.Holdout compares the two groups: a basket
// counts as recovered there if it was completed, by whatever path, within
// the attribution window after its first message, or after the moment its
// first message would have been sent; the difference of the two shares
// comes with its standard error (two independent proportions) and a 95%
// interval.
//
// # Reports
//
// Report.WriteText writes a table; WriteJSON one JSON document whose times
// are there only when set and whose durations are Go durations
// ("120h0m0s", which a configuration file reads back); WriteHTML one
// self-contained page with inline SVG charts. In a dry run (the DryRun
// sender) the report says so, and counts what would have been sent
// (StepReport.WouldSend) rather than sent.
//
// # Exactly once
//
// A message's idempotency key (Key) is derived from the campaign, the
// basket and the step. Before sending, the runner records the intent
// durably; senders with a point of no return (SMTP's final dot) call back
// just before it, and the runner records that too; after, it records the
// outcome. A restart finds intents without outcome and asks the sender
// (Sender.Resolve): the outbox file looks the key up; the webhook sends
// again with the same Idempotency-Key header, which the service drops as a
// repeat; SMTP sends again if the point of no return was not passed (the
// server dropped the unfinished message) and otherwise reports the message
// as in doubt, never sending it twice. A sender's failure after the point
// of no return is in doubt only if the sender says so (an SMTP 4xx answer
// to the final dot is not: it is tried again). A message that may have
// left (a webhook's answer lost) is only ever sent again as itself: the
// same key and content, dated at its intent, never replaced by another
// decided afresh; meanwhile it counts in the customer's window. The SMTP
// Message-ID is derived from the key, so a repeat is recognisable
// downstream too.
//
// # Attribution
//
// The runner looks at the baskets it took in every Options.CheckEvery: a
// basket completed within Options.AttributionWindow (5 days) after a
// recovery click that followed a message counts as recovered, and is
// credited to the step whose message came last before the click.
//
// # Suppression list and state directory
//
// The suppression list and the one-message window keep no address: only
// a keyed hash of the normalised address, HMAC-SHA256 under a key derived
// (by a label, never the secret itself) from a secret of the campaign's:
// the file email-hash.secret of a durable runner's state directory (32
// random bytes in hex, mode 0600, written aside, fsynced and renamed under
// the directory's lock at the first run), a random one in memory. Someone
// who reads the state cannot test a list of addresses against it without
// that secret. The holdout's draw is keyed by the same secret, and the
// runner's own unsubscribe tokens carry the keyed hash. The secret is the state's: keep it, and back it up, with
// the directory. It cannot be rotated (the hashes cannot be computed again
// without the addresses), and a state whose secret is missing or another's
// is refused (ErrConfig) rather than run with an unreadable suppression
// list; ReadReport, which only counts, reads it without the secret.
//
// Versions before keyed hashes kept an unkeyed SHA-256 of the address. The
// keyed hash is the HMAC of that unkeyed hash, so the first Open of this
// version keys every entry of such a state, suppressions and windows
// alike, without the addresses (a suppressed address stays suppressed,
// and can be unsuppressed), records the key's id, and snapshots the
// state at once: the log segments that held the unkeyed hashes leave the
// directory. From then on only keyed hashes are written, under record
// kinds an earlier version refuses to replay: going back to one is not
// supported.
//
// # Caveats
//
//   - The engine keeps only a basket's newest recovery click, so a basket
//     clicked twice counts once, at the later click's step.
//   - An HTTPSource cannot look a basket up by id: a basket that left its
//     customer's list (purged, erased, or moved to another address) is
//     skipped as expired, and outcomes are settled from what the customer's
//     baskets showed, Options.Watch after the abandonment. An engine
//     source sees every basket at every moment.
//   - The durable state holds the addresses of baskets under way (not those
//     of the suppression list, which keeps keyed hashes only) until the
//     basket is completed or gone; an erased customer's address leaves the
//     log at the next snapshot.
//   - Opens are known only where a sender reports them (Runner.Opened).
//   - An SMTP message whose connection failed after the final dot is in
//     doubt: reported (Report.InDoubt), not sent again.
//   - The durable state keeps the unsubscribe token of a message under way
//     until its outcome is recorded: anyone who reads the state could
//     unsubscribe that customer.
//   - Changing Options.Holdout changes who is held out (raising it only
//     moves mailed customers into the holdout): compare the groups of one
//     setting.
package campaign
