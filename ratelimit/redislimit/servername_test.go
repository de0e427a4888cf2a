package redislimit

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestClusterNodeServerName: over TLS, each cluster node's certificate is
// checked against that node's own host, not the URL's first one.
func TestClusterNodeServerName(t *testing.T) {
	c, err := newClient("rediss://first.example:7001?addr=second.example:7002", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opt := c.(*redis.ClusterClient).Options()
	if opt.TLSConfig == nil || opt.NewClient == nil {
		t.Fatalf("a rediss:// cluster without TLS or a per-node client: %+v", opt)
	}
	node := opt.NewClient(&redis.Options{Addr: "second.example:7002", TLSConfig: opt.TLSConfig})
	defer node.Close()
	if got := node.Options().TLSConfig.ServerName; got != "second.example" {
		t.Fatalf("the node second.example:7002 checks its certificate for %q", got)
	}
	if opt.TLSConfig.ServerName != "first.example" {
		t.Fatalf("the shared TLS config was changed: %q", opt.TLSConfig.ServerName)
	}
}
