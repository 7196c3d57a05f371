// Command abandoned runs the abandoned-basket engine: a server with the
// query, feed, recovery and ingest API, a client, a simulator, a load tester
// and a reminder campaign runner. Each is a subcommand; run
// "abandoned help" for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is a subcommand. run gets the arguments after the command's name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands holds the subcommands; each file registers its own in init.
var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("abandoned: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks an error whose message is usage already printed.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx: commands stop cleanly and report. Then
	// the default handling is back, so a second one ends the process.
	context.AfterFunc(ctx, stop)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the command line and returns the process's exit code: 0
// for success and for -h, 2 for a bad flag or argument, 1 for another
// error, or the code an exitCoder chooses. Every error is printed.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdout, stderr)
	var ec exitCoder
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage): // printed by run
		return 2
	case errors.As(err, &ec):
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, "abandoned:", err)
	return 1
}

// exitCoder is an error that chooses the process's exit code; its message,
// if any, has been printed already.
type exitCoder interface {
	error
	ExitCode() int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		if len(args) > 1 {
			c := commands[args[1]]
			if c == nil {
				return unknownCommand(args[1], stderr)
			}
			return c.run(ctx, []string{"-h"}, stdout, stderr)
		}
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return flag.ErrHelp
	}
	c := commands[args[0]]
	if c == nil {
		return unknownCommand(args[0], stderr)
	}
	err := c.run(ctx, args[1:], stdout, stderr)
	var ue *usageError
	if errors.As(err, &ue) {
		ue.print(stderr)
	}
	return err
}

func unknownCommand(name string, stderr io.Writer) error {
	fmt.Fprintf(stderr, "abandoned: unknown command %q\nrun 'abandoned help' for the list of commands\n", name)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: abandoned <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "abandoned <command> -h" for a command's flags and examples.`)
}
