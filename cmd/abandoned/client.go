package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
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

// apiClient sends requests to a server, retrying what another try may
// mend: server errors (5xx), 429 and failed connections, with a bounded
// exponential backoff. The commands that talk to a server share it.
type apiClient struct {
	base   *url.URL
	http   *http.Client
	bearer string
	// clientID and clientSecret, if set, obtain bearer with the OAuth2
	// client-credentials grant, renewed once when the server refuses it.
	clientID, clientSecret string
	retries                int
	backoff                time.Duration // the first retry's wait; doubles up to maxBackoff
	maxBackoff             time.Duration
}

// parseBaseURL reads a server's base URL given by -url.
func parseBaseURL(cmd, s string) (*url.URL, error) {
	base, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, usagef(cmd, "-url: want an http(s) URL such as http://127.0.0.1:8080")
	}
	return base, nil
}

// httpError is an answer the client does not retry, or the last of those it
// did.
type httpError struct {
	status  int
	message string
	index   int // the event the server named, -1 if none
}

func (e *httpError) Error() string {
	if e.message == "" {
		return fmt.Sprintf("server answered %d %s", e.status, http.StatusText(e.status))
	}
	return fmt.Sprintf("server answered %d: %s", e.status, e.message)
}

// get fetches path with params, retrying what may succeed on another try.
func (c *apiClient) get(ctx context.Context, path string, params url.Values) ([]byte, error) {
	return c.send(ctx, http.MethodGet, path, params, "", nil)
}

// post sends body to path, retrying what may succeed on another try (a
// batch of events may be sent twice: the engine ignores a re-sent event).
func (c *apiClient) post(ctx context.Context, path, contentType string, body []byte) ([]byte, error) {
	return c.send(ctx, http.MethodPost, path, nil, contentType, body)
}

func (c *apiClient) send(ctx context.Context, method, path string, params url.Values, contentType string, body []byte) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = params.Encode()
	renewed := false
	return c.retry(ctx, func() (*http.Request, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.bearer)
		req.Header.Set("Accept", "application/json")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		return req, nil
	}, func(status int) bool {
		// An expired access token: renew it once and try again.
		if status == http.StatusUnauthorized && c.clientID != "" && !renewed {
			renewed = true
			return c.fetchToken(ctx) == nil
		}
		return false
	})
}

// fetchToken obtains an access token with the client-credentials grant.
func (c *apiClient) fetchToken(ctx context.Context) error {
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {c.clientID}, "client_secret": {c.clientSecret},
	}.Encode()
	u := *c.base
	u.Path += "/oauth2/token"
	body, err := c.retry(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, nil
	}, nil)
	if err != nil {
		return fmt.Errorf("obtaining an access token: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return errors.New("obtaining an access token: the answer holds no access_token")
	}
	c.bearer = tok.AccessToken
	return nil
}

// retry sends the request newReq makes until it succeeds (200), fails in a
// way another try will not mend, or c.retries retries are spent. Server
// errors (5xx), 429 and transport errors are retried with exponential
// backoff and jitter (Retry-After, if longer, wins); again, if not nil, may
// ask for an immediate retry of another status.
func (c *apiClient) retry(ctx context.Context, newReq func() (*http.Request, error), again func(status int) bool) ([]byte, error) {
	var last error
	for attempt := 0; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		var wait time.Duration
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = fmt.Errorf("request failed: %w", err)
		} else {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
			resp.Body.Close()
			switch {
			case rerr != nil:
				last = fmt.Errorf("reading the answer: %w", rerr)
			case resp.StatusCode == http.StatusOK:
				return body, nil
			case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
				last = answerError(resp.StatusCode, body)
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
					wait = min(time.Duration(s)*time.Second, time.Minute)
				}
			case again != nil && again(resp.StatusCode):
				continue
			default:
				return nil, answerError(resp.StatusCode, body)
			}
		}
		if attempt >= c.retries {
			return nil, fmt.Errorf("giving up after %d tries: %w", attempt+1, last)
		}
		d := c.backoff << attempt
		if d > c.maxBackoff || d <= 0 {
			d = c.maxBackoff
		}
		d = d/2 + rand.N(d/2+1) // jitter: from half to all of it
		t := time.NewTimer(max(d, wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// answerError reads an error answer, {"message":"…","index":i}.
func answerError(status int, body []byte) *httpError {
	var v struct {
		Message string `json:"message"`
		Index   *int   `json:"index"`
	}
	e := &httpError{status: status, index: -1}
	if json.Unmarshal(body, &v) == nil {
		e.message = v.Message
		if v.Index != nil && *v.Index >= 0 {
			e.index = *v.Index
		}
	}
	return e
}
