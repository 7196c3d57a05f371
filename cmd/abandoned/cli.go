package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"time"
)

// usageError is a bad flag, argument or flag value of a command. run
// prints it, with a hint, and the process exits 2. It is errUsage to
// errors.Is.
type usageError struct {
	cmd string // the command's name, e.g. "serve" or "campaign run"
	msg string
}

func (e *usageError) Error() string     { return e.cmd + ": " + e.msg }
func (e *usageError) Is(t error) bool   { return t == errUsage }
func (e *usageError) hint() string      { return "run 'abandoned " + e.cmd + " -h' for help" }
func (e *usageError) print(w io.Writer) { fmt.Fprintf(w, "abandoned %s\n%s\n", e.Error(), e.hint()) }

// usagef returns a *usageError of the command cmd.
func usagef(cmd, format string, a ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, a...)}
}

// newFlagSet returns the flag set of the command cmd ("serve", "campaign
// run"), whose -h prints help and then the flags' defaults on stderr.
func newFlagSet(cmd, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("abandoned "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs, made by newFlagSet for cmd. -h prints
// the help and returns flag.ErrHelp; a flag that is not defined or a bad
// value of one is a *usageError, printed by run (not the whole help).
// maxArgs is how many arguments may follow the flags.
func parseFlags(cmd string, fs *flag.FlagSet, args []string, maxArgs int) error {
	out := fs.Output()
	fs.SetOutput(io.Discard) // the flag package would print the whole help
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return flag.ErrHelp
	case err != nil:
		return &usageError{cmd: cmd, msg: explainFlagError(fs, err)}
	case fs.NArg() > maxArgs:
		return usagef(cmd, "unexpected argument %q", fs.Arg(maxArgs))
	}
	return nil
}

var badValue = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-(\S+): parse error$`)

// explainFlagError replaces the flag package's "parse error" of a bad
// number, duration or boolean with what the flag wants.
func explainFlagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	m := badValue.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	f := fs.Lookup(m[2])
	if f == nil {
		return msg
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return msg
	}
	want := ""
	switch g.Get().(type) {
	case time.Duration:
		want = "want a duration such as 90s, 15m or 336h"
	case int, int64, uint, uint64:
		want = "want a whole number"
	case float64:
		want = "want a number"
	case bool:
		want = "want true or false"
	default:
		return msg
	}
	return fmt.Sprintf("-%s %q: %s", m[2], m[1], want)
}
