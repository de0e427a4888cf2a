package api_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/beckon-chat/beckon/api"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, c := range []struct{ peer, xff, want string }{
		{"203.0.113.7:5000", "", "203.0.113.7"},
		{"203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},                  // untrusted peer: the header is ignored
		{"10.0.0.2:5000", "198.51.100.1", "198.51.100.1"},                    // one trusted proxy
		{"10.0.0.2:5000", "1.2.3.4, 198.51.100.1, 10.0.0.9", "198.51.100.1"}, // a spoofed left part, a chain of proxies
		{"10.0.0.2:5000", "", "10.0.0.2"},
		{"10.0.0.2:5000", "not-an-ip", "10.0.0.2"},
		{"[::1]:5000", "2001:db8::1", "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := api.ClientIP(r, trusted); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s; want %s", c.peer, c.xff, got, c.want)
		}
	}
}
