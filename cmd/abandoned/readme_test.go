package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeExamples returns the command lines of the first sh block of the
// README's "Command line" section, continuations joined.
func readmeExamples(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i := strings.Index(s, "\n## Command line\n")
	if i < 0 {
		t.Fatal(`README.md has no "Command line" section`)
	}
	s = s[i:]
	if j := strings.Index(s[1:], "\n## "); j >= 0 {
		s = s[:j+1]
	}
	a := strings.Index(s, "```sh\n")
	if a < 0 {
		t.Fatal(`the "Command line" section has no sh block`)
	}
	block := s[a+len("```sh\n"):]
	block = block[:strings.Index(block, "```")]
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// shellWords splits a command line as sh would for the examples: words,
// single and double quotes, $NAME and $(openssl rand -hex N) expanded
// from env, a comment from an unquoted #.
func shellWords(t *testing.T, line string, env map[string]string) []string {
	t.Helper()
	if m := regexp.MustCompile(`\$\(openssl rand -hex (\d+)\)`).FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[1])
		b := make([]byte, n)
		rand.Read(b)
		line = strings.Replace(line, m[0], hex.EncodeToString(b), 1)
	}
	expand := func(s string) string { return os.Expand(s, func(k string) string { return env[k] }) }
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(line[i+1:], '"')
			w.WriteString(expand(line[i+1 : i+1+j]))
			i += j + 1
			inWord = true
		case c == '#' && !inWord:
			i = len(line)
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			j := strings.IndexAny(line[i:], " \t'\"")
			if j < 0 {
				j = len(line) - i
			}
			w.WriteString(expand(line[i : i+j]))
			i += j - 1
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// TestREADMECommandLine runs the README's command-line example, line by
// line, as a user pasting it would, against a server started in process:
// the README cannot go stale unnoticed.
func TestREADMECommandLine(t *testing.T) {
	lines := readmeExamples(t)
	dir := t.TempDir()
	t.Chdir(dir)
	env := map[string]string{}
	withEnv(t, env)
	var srv *running
	// The README's addresses are the default; the test's server is on a
	// port of its own.
	addr := func(s string) string {
		if srv == nil {
			return s
		}
		host := strings.TrimPrefix(srv.url, "http://")
		return strings.NewReplacer("127.0.0.1:8080", host, "localhost:8080", host).Replace(s)
	}
	for _, line := range lines {
		words := shellWords(t, line, env)
		if len(words) == 0 {
			continue
		}
		for i := range words {
			words[i] = addr(words[i])
			if strings.HasPrefix(words[i], "/tmp/") {
				words[i] = filepath.Join(dir, words[i][len("/tmp/"):])
			}
		}
		switch {
		case strings.Join(words, " ") == "go build -o abandoned ./cmd/abandoned":
			// The test binary is the command.
		case words[0] == "export":
			for _, kv := range words[1:] {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case words[0] == "./abandoned" && len(words) > 1 && words[1] == "serve":
			if words[len(words)-1] != "&" || srv != nil {
				t.Fatalf("%s: want one serve, in the background (&)", line)
			}
			srv = startServe(t, words[2:len(words)-1]...)
		case words[0] == "./abandoned":
			args := words[1:]
			var out io.Writer = io.Discard
			var outBuf bytes.Buffer
			if n := len(args); n >= 2 && args[n-2] == ">" {
				f, err := os.Create(args[n-1])
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				out, args = f, args[:n-2]
			} else {
				out = &outBuf
			}
			var errBuf bytes.Buffer
			if code := execute(context.Background(), args, out, &errBuf); code != 0 {
				t.Fatalf("%s: exit %d\nstdout %s\nstderr %s", line, code, outBuf.String(), errBuf.String())
			}
			if args[0] == "ingest" && !regexp.MustCompile(`^ingest [1-9]\d* events applied in \d+ batches`).MatchString(outBuf.String()) {
				t.Errorf("%s: %q; want events applied", line, outBuf.String())
			}
		case words[0] == "curl":
			req, err := http.NewRequest(http.MethodGet, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i < len(words); i++ {
				if words[i] == "-H" {
					k, v, _ := strings.Cut(words[i+1], ": ")
					req.Header.Set(k, v)
					i++
					continue
				}
				u := words[i]
				if !strings.Contains(u, "://") {
					u = "http://" + u
				}
				if req, err = http.NewRequest(http.MethodGet, u, nil); err != nil {
					t.Fatal(err)
				}
				for j := 1; j < i; j += 2 {
					k, v, _ := strings.Cut(words[j+1], ": ")
					req.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"items":[{`)) {
				t.Errorf("%s: %d %.200s; want a page of baskets", line, resp.StatusCode, body)
			}
		default:
			t.Fatalf("README line %q: the test does not know how to run it", line)
		}
	}
	if srv == nil {
		t.Fatal("the README's example starts no server")
	}
	if st, err := os.Stat("baskets.jsonl"); err != nil || st.Size() == 0 {
		t.Errorf("baskets.jsonl: %v; want the baskets the query wrote", err)
	}
}
