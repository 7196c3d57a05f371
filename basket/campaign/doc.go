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
//   - suppressed: the address is on the suppression list (Runner.Suppress,
//     Runner.Unsubscribe, and every address an SMTP server refuses for
//     good); the sequence ends.
//   - no_consent: Options.ConsentedOnly and the basket has no consent; the
//     sequence ends.
//   - quiet_hours: it is within Options.QuietHours in the recipient's time
//     zone; the step waits for their end.
//   - expired: the basket expired or is gone (purged, erased), or the step
//     came too late: when several steps are due at once (the runner was
//     stopped) only the latest is sent.
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
// (/checkout?purchase=<offer path>&pc=<code>). The unsubscribe link
// carries the address and a token of its own (basket.PurposeUnsubscribe).
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
// that secret. The secret is the state's: keep it, and back it up, with
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
package campaign
