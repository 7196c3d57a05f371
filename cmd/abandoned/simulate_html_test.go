package main

import (
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket/plot"
)

// TestSimulateHTML: -format html writes one self-contained page of the
// run's charts on stdout.
func TestSimulateHTML(t *testing.T) {
	out, errOut, err := simRun(t, "-days", "2", "-rate", "100", "-seed", "3", "-format", "html")
	if err != nil {
		t.Fatalf("simulate -format html = %v; stderr %s", err, errOut)
	}
	if !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.HasSuffix(out, "</html>\n") {
		t.Errorf("stdout is not one HTML page: %.200q … %.100q", out, out[max(0, len(out)-100):])
	}
	if err := plot.CheckSelfContained(out); err != nil {
		t.Error(err)
	}
	for _, want := range []string{
		"Simulated 2025-01-06 00:00 to 2025-01-08 00:00 UTC (2 days), seed 3, 100 baskets",
		">Funnel</text>", ">Baskets created by hour of day</text>", ">By channel</text>", ">By device</text>",
		"The engine now holds",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestSimulateHTMLWithOut: with -out - the events take stdout and the page
// goes to stderr.
func TestSimulateHTMLWithOut(t *testing.T) {
	out, errOut, err := simRun(t, "-days", "1", "-rate", "50", "-format", "html", "-out", "-")
	if err != nil {
		t.Fatalf("simulate = %v; stderr %s", err, errOut)
	}
	if strings.Contains(out, "<svg") || !strings.HasPrefix(out, "{") {
		t.Errorf("stdout holds more than the events: %.200q", out)
	}
	if err := plot.CheckSelfContained(errOut); err != nil {
		t.Errorf("stderr: %v", err)
	}
}

func TestSimulateFormatFlag(t *testing.T) {
	_, errOut, err := simRun(t, "-format", "pdf")
	if err == nil || !strings.Contains(errOut+err.Error(), `-format "pdf" is not text, json or html`) {
		t.Errorf("simulate -format pdf = %v, stderr %q; want a usage error naming text, json and html", err, errOut)
	}
	_, errOut, err = simRun(t, "-h")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut, "text, json or html") || !strings.Contains(errOut, "-format html > funnel.html") {
		t.Errorf("simulate -h = %v, %q; want the html format described", err, errOut)
	}
}
