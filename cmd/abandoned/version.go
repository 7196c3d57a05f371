package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print the version of abandoned and of the Go it was built with",
		run:     runVersion,
	})
}

const versionUsage = `Usage: abandoned version

Prints the module's version ((devel) for a build from a working tree,
with its commit when the build recorded one) and the Go version it was
built with.

Example:

  abandoned version

`

// readBuildInfo reads the binary's build information; tests replace it.
var readBuildInfo = debug.ReadBuildInfo

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", versionUsage, stderr)
	if err := parseFlags("version", fs, args, 0); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, versionLine())
	return err
}

// versionLine is "abandoned VERSION GOVERSION OS/ARCH", with the commit
// when the build recorded one.
func versionLine() string {
	version, goVersion, commit, modified := "(unknown)", runtime.Version(), "", false
	if bi, ok := readBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	line := fmt.Sprintf("abandoned %s %s %s/%s", version, goVersion, runtime.GOOS, runtime.GOARCH)
	if commit != "" {
		if len(commit) > 12 {
			commit = commit[:12]
		}
		line += " commit " + commit
		if modified {
			line += " (modified)"
		}
	}
	return line
}
