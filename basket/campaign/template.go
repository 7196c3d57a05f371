package campaign

import (
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"unicode"

	"github.com/basketlab/abandoned/basket"
)

// Templates are the Go templates of a message: Subject and Text with
// text/template, HTML with html/template (which escapes every value for
// its context, so a name like "<script>" shows as text). Each receives a
// MessageData. Empty HTML means a text-only message.
type Templates struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

// DefaultTemplates returns the built-in templates.
func DefaultTemplates() *Templates {
	return &Templates{
		Subject: `{{if .FirstName}}{{.FirstName}}, your{{else}}Your{{end}} basket is waiting{{if .PromoCode}}: an offer inside{{end}}`,
		Text: `Hello{{if .FirstName}} {{.FirstName}}{{end}},

{{if .Offer}}You left "{{.Offer}}" in your basket.{{else}}You left something in your basket.{{end}} Pick up where you left off:
{{.RecoveryURL}}
{{if .PromoURL}}
Or take it with code {{.PromoCode}}:
{{.PromoURL}}
{{end}}
--
To receive no more of these messages: {{.UnsubscribeURL}}
`,
		HTML: `<!doctype html>
<html><body>
<p>Hello{{if .FirstName}} {{.FirstName}}{{end}},</p>
<p>{{if .Offer}}You left &ldquo;{{.Offer}}&rdquo; in your basket.{{else}}You left something in your basket.{{end}}</p>
<p><a href="{{.RecoveryURL}}">Pick up where you left off</a></p>
{{if .PromoURL}}<p><a href="{{.PromoURL}}">Or take it with code {{.PromoCode}}</a></p>
{{end}}<p style="font-size:small"><a href="{{.UnsubscribeURL}}">Unsubscribe</a></p>
</body></html>
`,
	}
}

// MessageData is what templates see.
type MessageData struct {
	FirstName, LastName string // as the customer typed them; may be empty
	Offer               string // the first offer's name
	Offers              []basket.OrderItem
	Step                int // from 1
	Steps               int // the sequence's length
	Campaign            string
	RecoveryURL         string // absolute, with utm_* parameters
	PromoCode           string // empty before PromoFromStep
	PromoURL            string // the purchase link with the code; empty if none
	UnsubscribeURL      string
}

// compiled are parsed templates.
type compiled struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

const maxTemplate = 64 << 10

func (t *Templates) compile() (*compiled, error) {
	if t.Subject == "" || t.Text == "" {
		return nil, fmt.Errorf("%w: subject and text are required", ErrTemplate)
	}
	if len(t.Subject) > 1024 || len(t.Text) > maxTemplate || len(t.HTML) > maxTemplate {
		return nil, fmt.Errorf("%w: too long (subject up to 1 KiB, bodies up to 64 KiB)", ErrTemplate)
	}
	var c compiled
	var err error
	if c.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(t.Subject); err != nil {
		return nil, fmt.Errorf("%w: subject: %v", ErrTemplate, err)
	}
	if c.text, err = texttemplate.New("text").Option("missingkey=error").Parse(t.Text); err != nil {
		return nil, fmt.Errorf("%w: text: %v", ErrTemplate, err)
	}
	if t.HTML != "" {
		if c.html, err = htmltemplate.New("html").Option("missingkey=error").Parse(t.HTML); err != nil {
			return nil, fmt.Errorf("%w: html: %v", ErrTemplate, err)
		}
	}
	// Render once with sample data, so that a template that cannot run
	// (a field that MessageData lacks) is refused at start, not at the
	// first send.
	sample := &MessageData{FirstName: "Ann", Offer: "Offer", Step: 1, Steps: 1, Campaign: "c",
		RecoveryURL: "https://shop.example.com/r", UnsubscribeURL: "https://shop.example.com/u"}
	if _, _, _, err := c.render(sample); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *compiled) render(d *MessageData) (subject, text, html string, err error) {
	var b strings.Builder
	if err := c.subject.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("%w: subject: %v", ErrTemplate, err)
	}
	subject = headerText(b.String())
	b.Reset()
	if err := c.text.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("%w: text: %v", ErrTemplate, err)
	}
	text = b.String()
	if c.html != nil {
		b.Reset()
		if err := c.html.Execute(&b, d); err != nil {
			return "", "", "", fmt.Errorf("%w: html: %v", ErrTemplate, err)
		}
		html = b.String()
	}
	return subject, text, html, nil
}

// headerText makes s safe as a header's text: control characters
// (CR and LF above all, which would start a header of their own) become
// spaces, runs of spaces one, and the result is at most 200 runes.
func headerText(s string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
		if n++; n >= 200 {
			break
		}
	}
	return b.String()
}

// withUTM adds the campaign's utm_* parameters to an absolute URL.
func withUTM(raw, campaign string, step int) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set("utm_source", campaign)
	q.Set("utm_medium", "email")
	q.Set("utm_campaign", campaign)
	q.Set("utm_content", strconv.Itoa(step))
	u.RawQuery = q.Encode()
	return u.String()
}
