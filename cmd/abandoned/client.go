package main

import (
	"flag"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket/httpapi"
)

// The environment variables of the API token. Every command that talks to
// a server reads the one serve reads (-api-token); the older name still
// works.
const (
	tokenEnv    = "ABANDONED_API_TOKEN"
	oldTokenEnv = "ABANDONED_TOKEN"
)

// tokenFromEnv sets fs's -token, if the command line did not give it, from
// ABANDONED_API_TOKEN, or else from ABANDONED_TOKEN.
func tokenFromEnv(fs *flag.FlagSet) {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "token" })
	if given {
		return
	}
	for _, name := range []string{tokenEnv, oldTokenEnv} {
		if v, ok := lookupEnv(name); ok && v != "" {
			fs.Set("token", v) //nolint:errcheck // a string flag takes any value
			return
		}
	}
}

// missingToken is the usage error of a command that needs a token and was
// given none; what is the flag that needs it, such as "-url".
func missingToken(cmd, what string) error {
	return usagef(cmd, "%s needs an API token: give -token or set %s", what, tokenEnv)
}

// parseBaseURL reads a server's base URL given by -url.
func parseBaseURL(cmd, s string) (*url.URL, error) {
	base, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, usagef(cmd, "-url: want an http(s) URL such as http://127.0.0.1:8080")
	}
	return base, nil
}

// hostHelp is the help of the -host flag of the commands that call a
// server.
const hostHelp = "the `HOST` header of every request: the environment of a server that holds several (serve -environments), when -url does not name it"

// serverConfig is how a command reaches a server: what its flags say.
type serverConfig struct {
	url                    string // a base URL, or several comma-separated
	host                   string // the Host header, if not the URL's
	token                  string
	clientID, clientSecret string
	scope                  string // of the access tokens asked for
	retries                int    // 0: none
	timeout                time.Duration
	backoff, maxBackoff    time.Duration
}

// newAPIClient returns the API client the commands share: it retries
// server errors (5xx), 429 and failed exchanges with a bounded backoff,
// and authenticates with the token or the client credentials. A bad -url
// is a usage error of cmd.
func newAPIClient(cmd string, c serverConfig) (*httpapi.Client, error) {
	var urls []string
	for _, s := range strings.Split(c.url, ",") {
		base, err := parseBaseURL(cmd, strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		urls = append(urls, base.String())
	}
	retries := c.retries
	if retries == 0 {
		retries = -1 // the client's "none"
	}
	var scopes []string
	if c.clientID != "" && c.scope != "" {
		scopes = []string{c.scope}
	}
	if c.clientID == "" {
		// A client secret without its id (ABANDONED_CLIENT_SECRET left in
		// the environment of a command given -token) is not used.
		c.clientSecret = ""
	}
	api, err := httpapi.NewClient(strings.Join(urls, ","), &httpapi.ClientOptions{
		Token: c.token, ClientID: c.clientID, ClientSecret: c.clientSecret, Scopes: scopes, Host: c.host,
		HTTPClient: &http.Client{Timeout: c.timeout},
		Retries:    retries, MinBackoff: c.backoff, MaxBackoff: max(c.maxBackoff, c.backoff),
	})
	if err != nil {
		// The client's words for its options, in the flags' names.
		msg := strings.TrimPrefix(err.Error(), "httpapi: client ")
		if strings.HasPrefix(msg, "URL") {
			msg = "-url: " + msg
		}
		if strings.HasPrefix(msg, "Host") {
			msg = "-host" + strings.TrimPrefix(msg, "Host")
		}
		msg = strings.NewReplacer("ClientSecret", "-client-secret", "ClientID", "-client-id", "Token", "-token").Replace(msg)
		return nil, usagef(cmd, "%s", msg)
	}
	return api, nil
}
