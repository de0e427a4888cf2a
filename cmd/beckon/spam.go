package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const spamUsage = `usage: beckon spam domains <command>

commands (they talk to a running server: BECKON_URL, default http://127.0.0.1:8080,
with the key in BECKON_API_KEY, which needs the admin scope):
  list                  the bad link domains of the spam screen
  add DOMAIN...         list domains: links to them or their subdomains are spam
  remove DOMAIN...      take domains off the list

Every node applies a change within BECKON_SPAM_DOMAINS_TTL (default 5s).`

// spamCmd is `beckon spam domains`: a client of the running server's
// /v1/spam/domains.
func spamCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 || args[0] != "domains" {
		fmt.Fprintln(stdout, spamUsage)
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errors.New("usage: beckon spam domains list|add|remove")
	}
	base := strings.TrimRight(getenv("BECKON_URL"), "/")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	key := getenv("BECKON_API_KEY")
	if key == "" {
		return errors.New("set BECKON_API_KEY to a key with the admin scope (beckon keys create --name NAME --scopes admin)")
	}
	c := &tplClient{ctx: ctx, base: base, key: key, http: &http.Client{Timeout: 30 * time.Second}}
	cmd, names := args[1], args[2:]
	switch cmd {
	case "list":
		var list struct {
			Items []struct {
				Domain  string    `json:"domain"`
				AddedAt time.Time `json:"added_at"`
			} `json:"items"`
		}
		if err := c.do(http.MethodGet, "/v1/spam/domains", nil, &list); err != nil {
			return err
		}
		for _, d := range list.Items {
			fmt.Fprintf(stdout, "%s\t%s\n", d.Domain, d.AddedAt.Format(time.RFC3339))
		}
		return nil
	case "add", "remove":
		if len(names) == 0 {
			return fmt.Errorf("usage: beckon spam domains %s DOMAIN...", cmd)
		}
		method := map[string]string{"add": http.MethodPut, "remove": http.MethodDelete}[cmd]
		for _, n := range names {
			var d struct {
				Domain string `json:"domain"`
			}
			var out any = &d
			if cmd == "remove" {
				out = nil // 204, no body
			}
			if err := c.do(method, "/v1/spam/domains/"+url.PathEscape(n), nil, out); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			if cmd == "add" {
				fmt.Fprintf(stdout, "listed %s\n", d.Domain)
			} else {
				fmt.Fprintf(stdout, "removed %s\n", n)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown command %q (list, add, remove)", cmd)
}
