package plot

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// svgNamespace is the one address a self-contained page may hold.
const svgNamespace = "http://www.w3.org/2000/svg"

// CheckSelfContained returns an error if doc, an SVG document or an HTML
// page with inline SVG, is not what this package's charts promise: an
// <svg> element at least, each of them well-formed XML, and nothing
// loaded from elsewhere: no script, no address (http:// or https://, the
// SVG namespace excepted), no href, src, url() or @import. Tests of the
// pages call it.
func CheckSelfContained(doc string) error {
	rest := strings.ReplaceAll(doc, `xmlns="`+svgNamespace+`"`, "")
	lower := strings.ToLower(rest)
	for _, bad := range []string{"<script", "http://", "https://", "href=", "src=", "url(", "@import", "<link", "<iframe", "<object", "<embed"} {
		if i := strings.Index(lower, bad); i >= 0 {
			return fmt.Errorf("plot: the page holds %q, at %q: it must load nothing from elsewhere", bad, excerpt(rest, i))
		}
	}
	n := 0
	for s := doc; ; {
		i := strings.Index(s, "<svg")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "</svg>")
		if j < 0 {
			return errors.New("plot: an <svg> element is not closed")
		}
		n++
		part := s[i : i+j+len("</svg>")]
		if err := wellFormed(part); err != nil {
			return fmt.Errorf("plot: SVG element %d is not well-formed XML: %w", n, err)
		}
		s = s[i+j:]
	}
	if n == 0 {
		return errors.New("plot: the page has no <svg element")
	}
	return nil
}

// wellFormed returns an error if doc is not one well-formed XML element.
func wellFormed(doc string) error {
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 || depth != 0 {
		return fmt.Errorf("%d root elements; want 1", roots)
	}
	return nil
}

func excerpt(s string, i int) string {
	lo, hi := max(0, i-20), min(len(s), i+40)
	return s[lo:hi]
}
