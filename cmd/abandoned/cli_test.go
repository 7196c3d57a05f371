package main

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestHelpExitsZero: -h on every command and subcommand prints its help
// and exits 0.
func TestHelpExitsZero(t *testing.T) {
	withEnv(t, map[string]string{})
	cmds := [][]string{{"-h"}, {"help"}, {"help", "serve"}, {"campaign", "-h"}, {"campaign", "run", "-h"}, {"campaign", "report", "-h"}}
	for name := range commands {
		cmds = append(cmds, []string{name, "-h"}, []string{name, "--help"})
	}
	for _, args := range cmds {
		var stdout, stderr bytes.Buffer
		if code := execute(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Errorf("abandoned %s: exit %d; want 0; stderr %q", strings.Join(args, " "), code, stderr.String())
		}
		if !strings.HasPrefix(stderr.String(), "Usage: abandoned") {
			t.Errorf("abandoned %s: stderr %q; want the help", strings.Join(args, " "), stderr.String())
		}
	}
}

// TestBadFlagsExitTwo: a bad flag, flag value or argument exits 2 with the
// error first and a one-line hint, not the whole help.
func TestBadFlagsExitTwo(t *testing.T) {
	withEnv(t, map[string]string{})
	for _, tt := range []struct {
		args  []string
		first string // the first line of stderr
		hint  string
	}{
		{[]string{"serve", "-ttl", "2weeks"}, `abandoned serve: -ttl "2weeks": want a duration such as 90s, 15m or 336h`, "serve"},
		{[]string{"serve", "-fsync", "sometimes"}, `abandoned serve: -fsync: "sometimes": want always, interval or never`, "serve"},
		{[]string{"serve", "-nope"}, "abandoned serve: flag provided but not defined: -nope", "serve"},
		{[]string{"serve", "stray"}, `abandoned serve: unexpected argument "stray"`, "serve"},
		{[]string{"serve", "-max-body", "lots"}, `abandoned serve: invalid value "lots" for flag -max-body: want a positive size such as 16MiB, 512KiB or 1048576`, "serve"},
		{[]string{"query", "-limit", "many"}, `abandoned query: -limit "many": want a whole number`, "query"},
		{[]string{"query", "-token", "00112233445566778899aabbccddeeff", "-limit", "0"}, "abandoned query: -limit: must be from 1 to 1000", "query"},
		{[]string{"simulate", "-rate", "x"}, `abandoned simulate: -rate "x": want a number`, "simulate"},
		{[]string{"demo", "-no-serve=maybe"}, `abandoned demo: -no-serve "maybe": want true or false`, "demo"},
		{[]string{"loadtest", "-duration", "0"}, "abandoned loadtest: -duration 0s: want a positive duration of at most 24h0m0s", "loadtest"},
		{[]string{"campaign", "run", "-every", "0"}, "abandoned campaign run: give -data-dir or -url", "campaign run"},
		{[]string{"campaign", "report", "-format", "xml"}, "abandoned campaign report: -format: want text or json", "campaign report"},
		{[]string{"campaign", "fly"}, `abandoned campaign: unknown subcommand "fly": want run or report`, "campaign"},
		{[]string{"version", "extra"}, `abandoned version: unexpected argument "extra"`, "version"},
	} {
		var stdout, stderr bytes.Buffer
		code := execute(context.Background(), tt.args, &stdout, &stderr)
		want := tt.first + "\nrun 'abandoned " + tt.hint + " -h' for help\n"
		if code != 2 || stderr.String() != want || stdout.Len() != 0 {
			t.Errorf("abandoned %s: exit %d, stderr %q, stdout %q; want exit 2, stderr %q", strings.Join(tt.args, " "), code, stderr.String(), stdout.String(), want)
		}
	}
	for _, args := range [][]string{{"nosuch"}, {"help", "nosuch"}} {
		var stderr bytes.Buffer
		want := "abandoned: unknown command \"nosuch\"\nrun 'abandoned help' for the list of commands\n"
		if code := execute(context.Background(), args, &stderr, &stderr); code != 2 || stderr.String() != want {
			t.Errorf("abandoned %s: exit %d, %q; want 2, %q", strings.Join(args, " "), code, stderr.String(), want)
		}
	}
	var stderr bytes.Buffer
	if code := execute(context.Background(), nil, &stderr, &stderr); code != 2 || !strings.Contains(stderr.String(), "Commands:") {
		t.Errorf("abandoned without a command: exit %d, %q; want 2 and the list of commands", code, stderr.String())
	}
}

func TestVersion(t *testing.T) {
	old := readBuildInfo
	t.Cleanup(func() { readBuildInfo = old })
	readBuildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Path: "github.com/basketlab/abandoned", Version: "v1.4.2"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	var stdout, stderr bytes.Buffer
	if code := execute(context.Background(), []string{"version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("version: exit %d, %q", code, stderr.String())
	}
	want := "abandoned v1.4.2 go1.99.1 " + runtime.GOOS + "/" + runtime.GOARCH + " commit 0123456789ab (modified)\n"
	if stdout.String() != want {
		t.Errorf("version = %q; want %q", stdout.String(), want)
	}
	// The test binary's own build information: its Go version at least.
	readBuildInfo = old
	stdout.Reset()
	if code := execute(context.Background(), []string{"version"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), " "+runtime.Version()+" ") {
		t.Errorf("version = %q; want the Go version %s", stdout.String(), runtime.Version())
	}
}
