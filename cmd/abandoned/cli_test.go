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
		{[]string{"campaign", "report", "-format", "xml"}, "abandoned campaign report: -format: want text, json or html", "campaign report"},
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

// TestClientToken: every command that talks to a server takes its token
// from -token, else ABANDONED_API_TOKEN, else ABANDONED_TOKEN; without one
// it says so, naming the flag and the variable.
func TestClientToken(t *testing.T) {
	const token, other = "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "00112233445566778899aabbccddeeff"
	withEnv(t, map[string]string{})
	r := startServe(t, "-api-token", token)
	for _, tt := range []struct {
		env  map[string]string
		args []string
		code int
	}{
		{map[string]string{"ABANDONED_API_TOKEN": token}, nil, 0},
		{map[string]string{"ABANDONED_TOKEN": token}, nil, 0},
		{map[string]string{"ABANDONED_API_TOKEN": token, "ABANDONED_TOKEN": other}, nil, 0},
		{map[string]string{"ABANDONED_API_TOKEN": other}, []string{"-token", token}, 0},
		{map[string]string{"ABANDONED_API_TOKEN": token}, []string{"-token", other}, 1},
		// A client secret left in the environment does not get in the way
		// of a token.
		{map[string]string{"ABANDONED_API_TOKEN": token, "ABANDONED_CLIENT_SECRET": other}, nil, 0},
		{map[string]string{"ABANDONED_CLIENT_SECRET": other}, []string{"-token", token}, 0},
	} {
		withEnv(t, tt.env)
		var stdout, stderr bytes.Buffer
		args := append([]string{"query", "-retries", "0", "-url", r.url}, tt.args...)
		if code := execute(context.Background(), args, &stdout, &stderr); code != tt.code {
			t.Errorf("query with %v %q: exit %d; want %d; stderr %q", tt.env, tt.args, code, tt.code, stderr.String())
		}
	}
	withEnv(t, map[string]string{"ABANDONED_TOKEN": token})
	var stdout, stderr bytes.Buffer
	if code := execute(context.Background(), []string{"campaign", "run", "-url", r.url, "-shop", "shop.example", "-dry-run", "-once"}, &stdout, &stderr); code != 0 {
		t.Errorf("campaign run with ABANDONED_TOKEN: exit %d; stderr %q", code, stderr.String())
	}

	withEnv(t, map[string]string{})
	for _, args := range [][]string{
		{"query", "-url", r.url},
		{"simulate", "-target", r.url},
		{"loadtest", "-url", r.url},
		{"campaign", "run", "-url", r.url, "-shop", "shop.example", "-dry-run"},
	} {
		var stdout, stderr bytes.Buffer
		code := execute(context.Background(), args, &stdout, &stderr)
		first, _, _ := strings.Cut(stderr.String(), "\n")
		if code != 2 || !strings.Contains(first, "-token") || !strings.Contains(first, "ABANDONED_API_TOKEN") {
			t.Errorf("abandoned %s without a token: exit %d, %q; want 2 and an error naming -token and ABANDONED_API_TOKEN", strings.Join(args, " "), code, stderr.String())
		}
	}
}
