package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/plot"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// asset is an embedded file, served with its content type and a version
// that changes with its content.
type asset struct {
	body    []byte
	ctype   string
	version string
}

var assets = func() map[string]*asset {
	m := map[string]*asset{}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		panic(err) // the build embeds the folder
	}
	for _, e := range entries {
		b, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		ctype := "application/octet-stream"
		switch path.Ext(e.Name()) {
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		m[e.Name()] = &asset{body: b, ctype: ctype, version: hex.EncodeToString(sum[:6])}
	}
	return m
}()

// assetURL is the versioned URL of an embedded file.
func assetURL(name string) string {
	a := assets[name]
	if a == nil {
		panic("console: no asset " + name) // a template names a file that is not embedded
	}
	return Prefix + "assets/" + name + "?v=" + a.version
}

// handleAsset serves an embedded file; with its current version it may be
// cached for a year.
func (c *Console) handleAsset(w http.ResponseWriter, r *http.Request) {
	a := assets[r.PathValue("name")]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+a.version+`"`)
	if r.Header.Get("If-None-Match") == `"`+a.version+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.Write(a.body) //nolint:errcheck // the client went away
}

// pages are the parsed templates, one set per page.
type pages struct{ t map[string]*template.Template }

// pageNames are the templates under templates/, each with layout.html.
var pageNames = []string{"signin", "error", "list", "basket", "feed", "dashboard", "campaign"}

var funcs = template.FuncMap{
	"iso":   func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") },
	"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"short": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"since": since,
	"num":   func(n int) string { return plot.Number(float64(n)) },
	"asset": assetURL,
	"add":   func(a, b int) int { return a + b },
}

func mustParsePages() *pages {
	p := &pages{t: map[string]*template.Template{}}
	for _, name := range pageNames {
		p.t[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/"+name+".html"))
	}
	return p
}

// since writes how long ago t was, for a person: "3 d 4 h", "2 h 5 min",
// "12 min", "under a minute".
func since(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h " + strconv.Itoa(int(d%time.Hour/time.Minute)) + " min"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " d " + strconv.Itoa(int(d%(24*time.Hour)/time.Hour)) + " h"
}

// view is what the layout shows around a page.
type view struct {
	Page     string // the template's name: the navigation marks it
	SignedIn bool
	Subject  string
	ReadOnly bool
	CSRF     string
	Campaign bool // a campaign page exists
	Now      time.Time
	D        any // the page's own data
}

// render writes a page. s may be nil (the sign-in and error pages).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, s *session, d any) {
	v := &view{Page: name, Campaign: c.opts.CampaignDir != "", Now: c.now(), D: d}
	if s != nil {
		v.SignedIn, v.Subject, v.ReadOnly, v.CSRF = true, s.grant.Subject, s.ReadOnly(), s.csrf
	}
	var buf bytes.Buffer
	if err := c.pages.t[name].Execute(&buf, v); err != nil {
		c.log.ErrorContext(r.Context(), "console: rendering a page", "page", name, "err", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

type errorData struct {
	Status  int
	Title   string
	Message string
}

// fail answers an error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	c.render(w, r, status, "error", s, &errorData{Status: status, Title: http.StatusText(status), Message: msg})
}

// engineError answers an error of the engine: the person's fault (a bad
// query) with what was wrong, anything else without detail, logged.
func (c *Console) engineError(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var qe *basket.QueryError
	switch {
	case errors.As(err, &qe):
		c.fail(w, r, s, http.StatusBadRequest, qe.Param+": "+qe.Reason+".")
	case errors.Is(err, basket.ErrNotFound), errors.Is(err, basket.ErrUnknownBasket):
		c.fail(w, r, s, http.StatusNotFound, "There is no such basket (it may have expired or been erased).")
	case errors.Is(err, basket.ErrClosed):
		c.fail(w, r, s, http.StatusServiceUnavailable, "The server is shutting down.")
	case errors.Is(err, basket.ErrCatchingUp):
		w.Header().Set("Retry-After", "1")
		c.fail(w, r, s, http.StatusServiceUnavailable, "This node is catching up with the cluster's log: try again in a moment.")
	case errors.Is(err, basket.ErrStorage):
		c.log.ErrorContext(r.Context(), "console: storage failed", "path", r.URL.Path, "err", err.Error())
		c.fail(w, r, s, http.StatusServiceUnavailable, "Storage failed: the server takes no writes until it is restarted.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		c.fail(w, r, s, http.StatusServiceUnavailable, "The request was cancelled.")
	default:
		c.log.ErrorContext(r.Context(), "console: engine error", "path", r.URL.Path, "err", err.Error())
		c.fail(w, r, s, http.StatusInternalServerError, "Something went wrong; the server's log says what.")
	}
}

// svgStyle is the style element of every plot chart: an inline style,
// which the console's policy forbids. The console's stylesheet has the
// same rule.
const svgStyle = "<style>.hover:hover{fill-opacity:0.08}</style>\n"

// chart returns a chart's SVG for a page, without its inline style.
func chart(svg template.HTML) template.HTML {
	return template.HTML(strings.ReplaceAll(string(svg), svgStyle, "")) // plot's own, escaped output
}
