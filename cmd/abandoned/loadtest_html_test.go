package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket/plot"
)

// TestLoadtestHTML: -format html writes one self-contained page with the
// run over time and by percentile.
func TestLoadtestHTML(t *testing.T) {
	noSignalReset(t)
	withEnv(t, map[string]string{})
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), loadtestArgs("-target", "engine", "-format", "html"), &stdout, &stderr); err != nil {
		t.Fatalf("loadtest -format html: %v; stderr %q", err, stderr.String())
	}
	s := stdout.String()
	if err := plot.CheckSelfContained(s); err != nil {
		t.Error(err)
	}
	for _, want := range []string{"target engine", "<h2>Over time</h2>", ">Throughput</text>", ">query latency</text>",
		">Latency by percentile</text>", "Each point is 1s of the measured run"} {
		if !strings.Contains(s, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
