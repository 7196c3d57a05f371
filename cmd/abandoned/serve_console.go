package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/console"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// consoleConfig is what the web console's flags of serve say.
type consoleConfig struct {
	enabled  bool   // -console
	campaign string // -console-campaign
}

// flags adds the web console's flags to serve's.
func (c *consoleConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.enabled, "console", true, "serve the web console at /console/ (sign in with an API token or an OAuth2 client); -console=false turns it off")
	fs.StringVar(&c.campaign, "console-campaign", "", "a campaign's state `DIR` (campaign run -state-dir, or DATA-DIR/campaign): the console shows its report")
}

// mount serves the console inside srv, unless -console=false, and says
// where it is. checkoutURL is -checkout-url.
func (c *consoleConfig) mount(srv *httpapi.Server, eng *basket.Engine, checkoutURL string, ln net.Listener, logger *slog.Logger, stderr io.Writer) error {
	if !c.enabled {
		return nil
	}
	if err := c.attach(srv, eng, checkoutURL, logger); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(stderr, "abandoned serve: the console is at http://%s%s (sign in with an API token)\n", ln.Addr(), console.Prefix)
	return nil
}

// attach serves a console over eng inside srv, unless -console=false:
// one per environment with -environments, its sign-in that environment's
// credentials.
func (c *consoleConfig) attach(srv *httpapi.Server, eng *basket.Engine, checkoutURL string, logger *slog.Logger) error {
	if !c.enabled {
		return nil
	}
	con, err := console.New(eng, &console.Options{
		Auth:        srv,
		ShopURL:     shopOf(checkoutURL),
		CampaignDir: c.campaign,
		Logger:      logger,
	})
	if err != nil {
		return err
	}
	srv.Handle(console.Prefix, con)
	return nil
}

// shopOf is the shop's base URL for the console's recovery links: the
// scheme and host of an absolute -checkout-url (the shop forwards
// recovery links to the server, as for campaigns); "" for a path.
func shopOf(checkout string) string {
	u, err := url.Parse(checkout)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
