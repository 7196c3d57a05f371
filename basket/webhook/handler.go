package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/basketlab/abandoned/basket/httpapi"
)

// The paths of the handlers, as the HTTP API mounts them (scope checkout).
const (
	DeliveriesPath = "/api/webhooks/deliveries"
	ResumePath     = "/api/webhooks/resume"
)

// Routes returns the deliveries list and the resume endpoint, for
// httpapi.Options.Routes: both need a token of scope checkout.
func (d *Deliverer) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodGet, Path: DeliveriesPath, Scope: httpapi.ScopeCheckout, Handler: d.DeliveriesHandler()},
		{Method: http.MethodPost, Path: ResumePath, Scope: httpapi.ScopeCheckout, Handler: d.ResumeHandler()},
	}
}

// endpointJSON is an endpoint in the answers of the handlers.
type endpointJSON struct {
	ID         string        `json:"id"`
	URL        string        `json:"url"`
	Events     []string      `json:"events"`
	Status     Status        `json:"status,omitempty"`
	Since      string        `json:"since,omitempty"`
	Reason     string        `json:"reason,omitempty"`
	Checkpoint string        `json:"checkpoint"`
	Delivering bool          `json:"delivering"`
	Items      []attemptJSON `json:"items"`
}

type attemptJSON struct {
	Time        string  `json:"time"`
	EventID     string  `json:"eventId,omitempty"`
	Type        string  `json:"type,omitempty"`
	Seq         string  `json:"seq"`
	Attempt     int     `json:"attempt,omitempty"`
	Outcome     string  `json:"outcome"`
	Status      int     `json:"status,omitempty"`
	Error       string  `json:"error,omitempty"`
	LatencyMs   float64 `json:"latencyMs"`
	NextAttempt string  `json:"nextAttempt,omitempty"`
}

func jsonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func toJSON(st *EndpointState) endpointJSON {
	e := endpointJSON{ID: st.ID, URL: st.URL, Events: []string{}, Status: st.Status, Since: jsonTime(st.Since),
		Reason: st.Reason, Checkpoint: strconv.FormatUint(st.Checkpoint, 10), Delivering: st.Delivering,
		Items: []attemptJSON{}}
	for _, t := range st.Events {
		e.Events = append(e.Events, string(t))
	}
	for _, a := range st.Attempts {
		e.Items = append(e.Items, attemptJSON{Time: jsonTime(a.Time), EventID: a.EventID, Type: string(a.Type),
			Seq: strconv.FormatUint(a.Seq, 10), Attempt: a.Attempt, Outcome: a.Outcome, Status: a.Status,
			Error: a.Error, LatencyMs: float64(a.Latency.Microseconds()) / 1000, NextAttempt: jsonTime(a.NextAttempt)})
	}
	return e
}

// DeliveriesHandler answers GET /api/webhooks/deliveries?endpoint=<URL or
// id>: {"endpoints":[{id, url (redacted), events, status, checkpoint,
// delivering, items}]} where items are the endpoint's latest attempts,
// newest first, each with its time, eventId, type, seq, attempt, outcome,
// status (the HTTP status, if an answer came), error and latencyMs.
// Without endpoint it lists every endpoint. It does no authentication: the
// HTTP API mounts it behind its own (scope checkout).
func (d *Deliverer) DeliveriesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ref, ok := endpointParam(w, r, false)
		if !ok {
			return
		}
		sts, err := d.Endpoints(ref)
		if err != nil {
			writeError(w, http.StatusNotFound, "endpoint: no webhook endpoint has this URL or id")
			return
		}
		out := struct {
			Endpoints []endpointJSON `json:"endpoints"`
		}{Endpoints: []endpointJSON{}}
		for i := range sts {
			out.Endpoints = append(out.Endpoints, toJSON(&sts[i]))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// ResumeHandler answers POST /api/webhooks/resume?endpoint=<URL or id>: a
// failing or disabled endpoint becomes active again (Resume), and the
// answer is {"endpoint":{id, url, status, …}}.
func (d *Deliverer) ResumeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ref, ok := endpointParam(w, r, true)
		if !ok {
			return
		}
		_, err := d.Resume(r.Context(), ref)
		switch {
		case errors.Is(err, ErrUnknownEndpoint):
			writeError(w, http.StatusNotFound, "endpoint: no webhook endpoint has this URL or id")
			return
		case errors.Is(err, ErrClosed):
			writeError(w, http.StatusServiceUnavailable, "shutting down")
			return
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, "the delivery state could not be changed; try again")
			return
		}
		sts, err := d.Endpoints(ref)
		if err != nil || len(sts) != 1 {
			writeError(w, http.StatusNotFound, "endpoint: no webhook endpoint has this URL or id")
			return
		}
		st := toJSON(&sts[0])
		st.Items = nil
		writeJSON(w, http.StatusOK, struct {
			Endpoint endpointJSON `json:"endpoint"`
		}{st})
	})
}

// endpointParam reads the endpoint parameter; if it is malformed, or
// missing and required, it answers 400 and reports false.
func endpointParam(w http.ResponseWriter, r *http.Request, required bool) (string, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed query string")
		return "", false
	}
	vs := q["endpoint"]
	switch {
	case len(vs) > 1:
		writeError(w, http.StatusBadRequest, "endpoint: given more than once")
		return "", false
	case len(vs) == 0 || vs[0] == "":
		if required {
			writeError(w, http.StatusBadRequest, "endpoint: missing; give the endpoint's URL or id (wh_…)")
			return "", false
		}
		return "", true
	}
	return vs[0], true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n')) //nolint:errcheck // the client went away
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Message string `json:"message"`
	}{msg})
}
