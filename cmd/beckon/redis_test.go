package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// TestServeRedisTLSAndCluster: BECKON_REDIS_URL names Redis over TLS
// (trusting BECKON_REDIS_CA_FILE) or a Redis Cluster, and the limits are
// kept there: the third new identifier resolved in a minute is refused, /readyz says ok.
func TestServeRedisTLSAndCluster(t *testing.T) {
	tlsURL, caFile := testenv.RedisTLS(t)
	for name, redis := range map[string]map[string]string{
		"tls":     {"BECKON_REDIS_URL": tlsURL, "BECKON_REDIS_CA_FILE": caFile},
		"cluster": {"BECKON_REDIS_URL": testenv.RedisCluster(t)},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": freeAddr(t),
				"BECKON_LIMIT_RESOLVE_PER_REQUESTER": "2/m"}
			for k, v := range redis {
				env[k] = v
			}
			key := createKey(t, env, "directory,resolve")
			base, _ := startServer(t, env)
			c := client{t: t, base: base, key: key}
			bob := fmt.Sprintf("bob%d", time.Now().UnixNano()) // Redis outlives the test
			if code, m := c.do("PUT", "/v1/accounts/"+bob, `{"display_name":"Bob","identifiers":["`+bob+`@example.org"]}`); code != 200 {
				t.Fatalf("%d %v", code, m)
			}
			// Two new identifiers a minute; one looked up already is free.
			for i, s := range []struct {
				id   string
				want int
			}{{"x1", 200}, {"x2", 200}, {"x3", 429}, {"x1", 200}} {
				if code, m := c.do("POST", "/v1/resolve", `{"requester":"`+bob+`","identifier":"`+s.id+`@example.com"}`); code != s.want {
					t.Fatalf("resolve %d: %d %v", i+1, code, m)
				}
			}
			if code, body := get(t, base+"/readyz"); code != 200 || !strings.Contains(body, `"redis":"ok"`) {
				t.Fatalf("readyz: %d %s", code, body)
			}
		})
	}
}
