package loadtest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// A Pacer is the arrival schedule of an open-model run: a rate of
// operations per second that may change with the time elapsed since the
// start. Pacers are pure values: their answers depend on their arguments
// only, so that the schedule is testable without a clock.
type Pacer interface {
	// Pace returns how long to wait, from elapsed, before the operation
	// numbered hits (counting from 0: hits operations were started before
	// it) is due; 0 if it is due already. stop is true when no operation
	// will ever be due again.
	Pace(elapsed time.Duration, hits uint64) (wait time.Duration, stop bool)
	// Due returns the intended start of operation n (counting from 0),
	// from the start of the run; ok is false if it never comes. Latency is
	// measured from this time, so that a stall is not hidden (coordinated
	// omission).
	Due(n uint64) (at time.Duration, ok bool)
	// Rate returns the rate, in operations per second, at elapsed.
	Rate(elapsed time.Duration) float64
	// String returns the pacer in the form ParseRate reads.
	String() string
}

// MaxRate is the highest rate, in operations per second, a pacer accepts.
const MaxRate = 1e9

// pace derives Pace from Due.
func pace(due func(uint64) (time.Duration, bool), elapsed time.Duration, hits uint64) (time.Duration, bool) {
	at, ok := due(hits)
	if !ok {
		return 0, true
	}
	if at <= elapsed {
		return 0, false
	}
	return at - elapsed, false
}

// seconds converts seconds to a Duration, saturating instead of
// overflowing; ok is false if the time is beyond what a Duration holds.
func seconds(s float64) (time.Duration, bool) {
	ns := s * 1e9
	if math.IsNaN(ns) || ns >= math.MaxInt64 {
		return 0, false
	}
	if ns < 0 {
		ns = 0
	}
	return time.Duration(ns), true
}

// Constant is a constant rate. A rate of 0 starts nothing.
type Constant struct {
	PerSecond float64 // operations per second
}

// Pace implements Pacer.
func (c Constant) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return pace(c.Due, elapsed, hits)
}

// Due implements Pacer: operation n is due at n/PerSecond.
func (c Constant) Due(n uint64) (time.Duration, bool) {
	if !(c.PerSecond > 0) {
		return 0, false
	}
	return seconds(float64(n) / c.PerSecond)
}

// Rate implements Pacer.
func (c Constant) Rate(time.Duration) float64 { return c.PerSecond }

// String implements Pacer: the rate, such as "1000".
func (c Constant) String() string { return formatRate(c.PerSecond) }

// Ramp is a rate that changes linearly from From to To over Over, and stays
// at To afterwards.
type Ramp struct {
	From, To float64 // operations per second
	Over     time.Duration
}

// Pace implements Pacer.
func (r Ramp) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return pace(r.Due, elapsed, hits)
}

// Due implements Pacer.
func (r Ramp) Due(n uint64) (time.Duration, bool) {
	over := r.Over.Seconds()
	if over <= 0 {
		return Constant{r.To}.Due(n)
	}
	m := float64(n)
	ramp := (r.From + r.To) / 2 * over // operations started during the ramp
	if m <= ramp {
		t, ok := solveLinear(r.From, r.To, over, m)
		if !ok {
			return 0, false
		}
		return seconds(t)
	}
	if !(r.To > 0) {
		return 0, false
	}
	return seconds(over + (m-ramp)/r.To)
}

// Rate implements Pacer.
func (r Ramp) Rate(elapsed time.Duration) float64 {
	if elapsed >= r.Over || r.Over <= 0 {
		return r.To
	}
	if elapsed < 0 {
		return r.From
	}
	return r.From + (r.To-r.From)*elapsed.Seconds()/r.Over.Seconds()
}

// String implements Pacer: "ramp:FROM:TO:OVER".
func (r Ramp) String() string {
	return "ramp:" + formatRate(r.From) + ":" + formatRate(r.To) + ":" + r.Over.String()
}

// solveLinear returns the time t in [0, length] at which a rate going
// linearly from r0 to r1 over length seconds has started m operations:
// r0·t + (r1-r0)·t²/(2·length) = m. ok is false if the segment never starts
// that many.
func solveLinear(r0, r1, length, m float64) (float64, bool) {
	if m <= 0 {
		return 0, true
	}
	if r0 == r1 {
		if !(r0 > 0) {
			return 0, false
		}
		return m / r0, true
	}
	a := (r1 - r0) / (2 * length)
	disc := r0*r0 + 4*a*m
	if disc < 0 {
		disc = 0 // rounding at the segment's end
	}
	den := r0 + math.Sqrt(disc)
	if !(den > 0) {
		return 0, false
	}
	t := 2 * m / den
	return min(t, length), true
}

// Sine is a rate that oscillates around Mean by Amplitude with the given
// Period, starting at Mean and rising: Mean + Amplitude·sin(2πt/Period).
// Amplitude is at most Mean, so the rate is never negative.
type Sine struct {
	Mean, Amplitude float64 // operations per second
	Period          time.Duration
}

// Pace implements Pacer.
func (s Sine) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return pace(s.Due, elapsed, hits)
}

// count returns the operations started by t seconds into a period.
func (s Sine) count(t, p float64) float64 {
	w := 2 * math.Pi / p
	return s.Mean*t + s.Amplitude/w*(1-math.Cos(w*t))
}

// Due implements Pacer. It solves the cumulative count for the time by
// Newton's method, safeguarded by bisection, within one period.
func (s Sine) Due(n uint64) (time.Duration, bool) {
	p := s.Period.Seconds()
	if !(s.Mean > 0) {
		return 0, false
	}
	if p <= 0 || s.Amplitude == 0 {
		return Constant{s.Mean}.Due(n)
	}
	perPeriod := s.Mean * p
	k := math.Floor(float64(n) / perPeriod)
	m := float64(n) - k*perPeriod
	lo, hi := 0.0, p
	t := m / s.Mean
	for range 64 {
		if t <= lo || t >= hi {
			t = (lo + hi) / 2
		}
		f := s.count(t, p) - m
		if f > 0 {
			hi = t
		} else {
			lo = t
		}
		if hi-lo < 1e-12*p || f == 0 {
			break
		}
		rate := s.Rate(time.Duration(t * 1e9))
		if rate > 0 {
			t -= f / rate
		} else {
			t = (lo + hi) / 2
		}
	}
	return seconds(k*p + t)
}

// Rate implements Pacer.
func (s Sine) Rate(elapsed time.Duration) float64 {
	if s.Period <= 0 {
		return s.Mean
	}
	return s.Mean + s.Amplitude*math.Sin(2*math.Pi*elapsed.Seconds()/s.Period.Seconds())
}

// String implements Pacer: "sine:MEAN:AMPLITUDE:PERIOD".
func (s Sine) String() string {
	return "sine:" + formatRate(s.Mean) + ":" + formatRate(s.Amplitude) + ":" + s.Period.String()
}

// Hourly profiles of the diurnal pacer, midnight first, before
// normalisation to a mean of 1: the hour-of-day shapes of the simulator's
// calibration (the simulator's published figures).
var profiles = map[string][24]float64{
	// Retail: SaleCycle's index, trough 0.2 at 4-5 am, high from noon to
	// 10 pm.
	"retail": {0.85, 0.55, 0.35, 0.25, 0.20, 0.22, 0.35, 0.55, 0.70, 0.80, 0.95, 1.15,
		1.40, 1.50, 1.45, 1.45, 1.35, 1.30, 1.30, 1.35, 1.40, 1.40, 1.30, 1.20},
	// News: morning peak at 7-9 am, trough at 4 am.
	"news": {0.45, 0.30, 0.22, 0.20, 0.20, 0.30, 0.80, 1.50, 1.60, 1.60, 1.40, 1.35,
		1.45, 1.35, 1.20, 1.15, 1.15, 1.20, 1.20, 1.20, 1.25, 1.15, 0.90, 0.65},
}

// Diurnal is the hour-of-day shape of checkout traffic (from published figures)
// compressed into Day: a day of 24 s plays each hour in a second. The rate
// goes linearly from each hour's level to the next's, starts at midnight,
// repeats every Day, and averages Mean.
type Diurnal struct {
	Mean    float64 // operations per second, on average over a day
	Day     time.Duration
	Profile string // "retail" (default when empty) or "news"
}

// levels returns the rate at the start of each hour.
func (d Diurnal) levels() ([24]float64, bool) {
	name := d.Profile
	if name == "" {
		name = "retail"
	}
	p, ok := profiles[name]
	if !ok {
		return p, false
	}
	var sum float64
	for _, v := range p {
		sum += v
	}
	for i := range p {
		p[i] *= d.Mean * 24 / sum
	}
	return p, true
}

// Pace implements Pacer.
func (d Diurnal) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return pace(d.Due, elapsed, hits)
}

// Due implements Pacer.
func (d Diurnal) Due(n uint64) (time.Duration, bool) {
	lv, ok := d.levels()
	day := d.Day.Seconds()
	if !ok || !(d.Mean > 0) || day <= 0 {
		return 0, false
	}
	perDay := d.Mean * day
	k := math.Floor(float64(n) / perDay)
	m := float64(n) - k*perDay
	hour := day / 24
	for i := range 24 {
		r0, r1 := lv[i], lv[(i+1)%24]
		c := (r0 + r1) / 2 * hour
		if m <= c || i == 23 {
			t, ok := solveLinear(r0, r1, hour, min(m, c))
			if !ok {
				return 0, false
			}
			return seconds(k*day + float64(i)*hour + t)
		}
		m -= c
	}
	panic("unreachable")
}

// Rate implements Pacer.
func (d Diurnal) Rate(elapsed time.Duration) float64 {
	lv, ok := d.levels()
	if !ok || d.Day <= 0 {
		return 0
	}
	f := math.Mod(elapsed.Seconds()/d.Day.Seconds(), 1)
	if f < 0 {
		f++
	}
	h := f * 24
	i := min(int(h), 23)
	return lv[i] + (lv[(i+1)%24]-lv[i])*(h-float64(i))
}

// String implements Pacer: "diurnal:MEAN:DAY:PROFILE".
func (d Diurnal) String() string {
	p := d.Profile
	if p == "" {
		p = "retail"
	}
	return "diurnal:" + formatRate(d.Mean) + ":" + d.Day.String() + ":" + p
}

// ErrBadRate is the error of a rate that ParseRate cannot read.
var ErrBadRate = errors.New("bad rate")

// ParseRate reads a rate shape:
//
//	1000                     a constant 1000 operations per second
//	500/100ms, 60/1m         a constant rate per another unit of time
//	ramp:FROM:TO:OVER        linear from FROM to TO over OVER, then TO
//	sine:MEAN:AMP:PERIOD     MEAN + AMP·sin(2πt/PERIOD), AMP ≤ MEAN
//	diurnal:MEAN:DAY[:NAME]  the hour-of-day shape "retail" or "news",
//	                         a day compressed into DAY, averaging MEAN
//
// Each rate is a number of operations per second, or per the unit after a
// slash; OVER, PERIOD and DAY are Go durations ("30s", "2m"). Errors wrap
// ErrBadRate.
func ParseRate(s string) (Pacer, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %q: %s", ErrBadRate, truncate(s), fmt.Sprintf(format, args...))
	}
	kind, rest, hasKind := strings.Cut(s, ":")
	if !hasKind {
		r, err := parseRateValue(s)
		if err != nil {
			return nil, bad("%v", err)
		}
		return Constant{r}, nil
	}
	parts := strings.Split(rest, ":")
	switch kind {
	case "constant":
		if len(parts) != 1 {
			return nil, bad("want constant:RATE")
		}
		r, err := parseRateValue(parts[0])
		if err != nil {
			return nil, bad("%v", err)
		}
		return Constant{r}, nil
	case "ramp":
		if len(parts) != 3 {
			return nil, bad("want ramp:FROM:TO:OVER")
		}
		from, err1 := parseRateValue(parts[0])
		to, err2 := parseRateValue(parts[1])
		over, err3 := parsePositiveDuration(parts[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, bad("%v", firstErr(err1, err2, err3))
		}
		return Ramp{From: from, To: to, Over: over}, nil
	case "sine":
		if len(parts) != 3 {
			return nil, bad("want sine:MEAN:AMPLITUDE:PERIOD")
		}
		mean, err1 := parseRateValue(parts[0])
		amp, err2 := parseRateValue(parts[1])
		period, err3 := parsePositiveDuration(parts[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, bad("%v", firstErr(err1, err2, err3))
		}
		if amp > mean {
			return nil, bad("the amplitude exceeds the mean: the rate would go negative")
		}
		return Sine{Mean: mean, Amplitude: amp, Period: period}, nil
	case "diurnal":
		if len(parts) != 2 && len(parts) != 3 {
			return nil, bad("want diurnal:MEAN:DAY or diurnal:MEAN:DAY:PROFILE")
		}
		mean, err1 := parseRateValue(parts[0])
		day, err2 := parsePositiveDuration(parts[1])
		if err := errors.Join(err1, err2); err != nil {
			return nil, bad("%v", firstErr(err1, err2))
		}
		profile := "retail"
		if len(parts) == 3 {
			profile = parts[2]
		}
		if _, ok := profiles[profile]; !ok {
			return nil, bad("profile %q: want retail or news", truncate(profile))
		}
		return Diurnal{Mean: mean, Day: day, Profile: profile}, nil
	}
	return nil, bad("unknown shape %q: want a number, ramp, sine or diurnal", truncate(kind))
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// parseRateValue reads "N" (per second) or "N/UNIT" where UNIT is a Go
// duration or a bare unit ("s", "ms", "m", "h").
func parseRateValue(s string) (float64, error) {
	num, unit, hasUnit := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("rate %q: want a number of operations, 0 or more", truncate(num))
	}
	per := time.Second
	if hasUnit {
		if unit != "" && (unit[0] < '0' || unit[0] > '9') && unit[0] != '.' {
			unit = "1" + unit
		}
		per, err = time.ParseDuration(unit)
		if err != nil || per <= 0 {
			return 0, fmt.Errorf("rate unit %q: want a positive duration such as s, 100ms or 1m", truncate(unit))
		}
	}
	r := v / per.Seconds()
	if r > MaxRate {
		return 0, fmt.Errorf("rate %q: more than %g per second", truncate(s), float64(MaxRate))
	}
	return r, nil
}

// parsePositiveDuration reads a Go duration greater than zero.
func parsePositiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("duration %q: want a positive Go duration such as 30s", truncate(s))
	}
	return d, nil
}

// formatRate writes a rate so that parseRateValue reads it back exactly.
func formatRate(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }

// truncate shortens user input quoted in an error.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
