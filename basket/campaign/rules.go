package campaign

import (
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Where a basket's time zone and consent come from (see the package
// documentation):
//
//	time zone: tracking["tz"], else customFields["timeZone"], else
//	           customFields["tz"]: an IANA name ("Europe/Paris"); absent
//	           or unknown: Options.TimeZone (UTC by default)
//	consent:   customFields[ConsentField] (true, "true", "yes", "1",
//	           "granted", 1), else tracking[ConsentField]; absent: none

// location returns the recipient's time zone. r.mu must be held.
func (r *Runner) location(b *basket.Basket) *time.Location {
	name := b.Tracking["tz"]
	for _, k := range []string{"timeZone", "tz"} {
		if name != "" {
			break
		}
		if s, ok := b.CustomFields[k].(string); ok {
			name = s
		}
	}
	if name == "" || len(name) > 64 {
		return r.cfg.TimeZone
	}
	if loc, ok := r.locs[name]; ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil || strings.EqualFold(name, "local") {
		loc = r.cfg.TimeZone
	}
	if len(r.locs) < 1024 {
		r.locs[name] = loc
	}
	return loc
}

// consented reports whether a basket carries marketing consent.
func consented(b *basket.Basket, field string) bool {
	if v, ok := b.CustomFields[field]; ok {
		switch x := v.(type) {
		case bool:
			return x
		case string:
			return yes(x)
		case float64:
			return x == 1
		case int:
			return x == 1
		case int64:
			return x == 1
		}
		return false
	}
	return yes(b.Tracking[field])
}

func yes(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1", "granted", "opt-in", "optin":
		return true
	}
	return false
}

// quietUntil reports whether now falls in the quiet hours at loc and, if
// so, the end of those quiet hours (in UTC). Local times are resolved by
// time.Date, so a change of daylight-saving time in between is counted:
// the end is 08:00 on the local clock, whatever the offset is then.
func quietUntil(q QuietHours, now time.Time, loc *time.Location) (time.Time, bool) {
	if q.Start == q.End {
		return time.Time{}, false
	}
	l := now.In(loc)
	m := l.Hour()*60 + l.Minute()
	var in bool
	if q.Start < q.End {
		in = m >= q.Start && m < q.End
	} else {
		in = m >= q.Start || m < q.End
	}
	if !in {
		return time.Time{}, false
	}
	y, mo, d := l.Date()
	if q.Start > q.End && m >= q.Start {
		d++ // the evening part: the quiet hours end tomorrow
	}
	end := time.Date(y, mo, d, q.End/60, q.End%60, 0, 0, loc)
	if !end.After(now) {
		// The end's local time does not exist today (a gap) or came
		// earlier than now by the offset change: wait one more minute.
		end = now.Add(time.Minute)
	}
	return end.UTC(), true
}
