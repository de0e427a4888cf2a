package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/api"
	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/internal/app"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/ratelimit"
)

// node is one Beckon node built by app.New, as `beckon serve` builds it,
// behind a real HTTP server.
type node struct {
	t   *testing.T
	url string
	key string
}

const testMaxLag = 300 * time.Millisecond

func startNode(t *testing.T, primary string, replicas []string, key string) *node {
	t.Helper()
	many := ratelimit.Limit{Rate: 1_000_000, Burst: 1_000_000, Period: time.Second}
	a, err := app.New(context.Background(), app.Config{
		DatabaseURL: primary, DatabaseReadURLs: replicas, ReadMaxLag: testMaxLag, AutoMigrate: true,
		Limits:       api.Limits{PerKey: many, PerRequester: many, PerIP: many},
		InviteLimits: invite.Limits{PerInviterMinute: many, PerTenantDay: many, PerRecipientDay: many, SMSPerCountry: many},
		KeyCacheTTL:  time.Second, PublicURL: "https://beckon.test", SignupURL: "https://beckon.test/signup",
		InviteTTL: 336 * time.Hour, DevOutbox: t.TempDir(),
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if key == "" {
		if _, key, err = auth.NewService(a.DB, time.Now, 0).Create(context.Background(), "all", auth.AllScopes()); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &node{t: t, url: srv.URL, key: key}
}

func (n *node) call(method, path string, body any) (int, map[string]any) {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+n.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (n *node) must(method, path string, body any, want int) map[string]any {
	n.t.Helper()
	code, out := n.call(method, path, body)
	if code != want {
		n.t.Fatalf("%s %s: %d %v, want %d", method, path, code, out, want)
	}
	return out
}

func (n *node) putAccount(id string, ids ...string) {
	n.t.Helper()
	n.must("PUT", "/v1/accounts/"+id, map[string]any{"tenant_id": nil, "display_name": id, "discoverable": true, "identifiers": ids}, 200)
}

// match resolves identifier for requester alice.
func (n *node) match(identifier string) string {
	n.t.Helper()
	out := n.must("POST", "/v1/resolve", map[string]any{"requester": "alice", "identifier": identifier}, 200)
	m, _ := out["match"].(string)
	return m
}

// metric returns the value of the sample named exactly name (with labels).
func (n *node) metric(name string) float64 {
	n.t.Helper()
	resp, err := http.Get(n.url + "/metrics")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		n.t.Fatalf("no metric %s in\n%s", name, b)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func (n *node) reads() (replica, primary float64) {
	return n.metric(`beckon_resolve_reads_total{source="replica"}`), n.metric(`beckon_resolve_reads_total{source="primary"}`)
}

// ready returns /readyz's status and its replica_1 check.
func (n *node) ready() (int, string, string) {
	n.t.Helper()
	resp, err := http.Get(n.url + "/readyz")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Checks map[string]string
	}
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r.Status, r.Checks["replica_1"]
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
	}
}

// TestResolveReadsReplica: two nodes on one primary and its streaming
// replica. Resolve reads the replica; a write through one node is seen by
// a resolve through the other at once, even while the replica is stopped
// (the resolve then reads the primary, and /readyz and /metrics say so);
// once the replica has caught up, resolve reads it again.
func TestResolveReadsReplica(t *testing.T) {
	rep := testenv.PostgresReplica(t)
	a := startNode(t, rep.Primary.URL, []string{rep.URL}, "")
	b := startNode(t, rep.Primary.URL, []string{rep.URL}, a.key)
	a.putAccount("alice", "alice@example.com")
	a.putAccount("bob", "bob@example.com")

	eventually(t, "node b's replica is in use", func() bool { _, _, c := b.ready(); return c == "ok" })
	// Replica, primary: resolve's queries on b. A replica that falls more
	// than MaxLag behind (other tests write to the same server at once)
	// rightly sends resolve to the primary: 20 in a row must read the
	// replica once it keeps up.
	eventually(t, "20 resolves in a row through b read the replica, none the primary", func() bool {
		r0, p0 := b.reads()
		for i := range 20 {
			if got := b.match("bob@example.com"); got != "account" {
				t.Fatalf("resolve %d through b: %s", i, got)
			}
		}
		r1, p1 := b.reads()
		return r1-r0 >= 20 && p1 == p0
	})

	t.Run("read your writes across nodes", func(t *testing.T) {
		// Each write through a is resolved at once through b: the replica
		// answers only once it has replayed the write.
		r0, _ := b.reads()
		for i := range 30 {
			id := fmt.Sprintf("carol%d@example.com", i)
			if got := b.match(id); got != "none" {
				t.Fatalf("%s before it is bound: %s", id, got)
			}
			a.putAccount(fmt.Sprintf("carol%d", i), id)
			if got := b.match(id); got != "account" {
				t.Fatalf("%s right after PUT through a: %s", id, got)
			}
		}
		if r1, _ := b.reads(); r1-r0 < 30 {
			t.Errorf("only %v of 60 resolves read the replica", r1-r0)
		}
	})

	t.Run("replica stopped", func(t *testing.T) {
		rep.PauseReplay(t)
		// Writes through a: a new account, a link, an opt-out, a block and
		// a deletion, each resolved at once through b.
		a.putAccount("dave", "dave@example.com")
		if got := b.match("dave@example.com"); got != "account" {
			t.Fatalf("dave after PUT: %s", got)
		}
		a.must("POST", "/v1/links", map[string]any{"account": map[string]any{"id": "dave", "display_name": "Dave", "discoverable": true},
			"identifier": "dave.pro@example.com"}, 200)
		if got := b.match("dave.pro@example.com"); got != "account" {
			t.Fatalf("dave's linked address: %s", got)
		}
		// The replica really is behind: the answers came from the primary.
		var onReplica int
		if err := rep.DB(t).QueryRow("SELECT count(*) FROM identifiers WHERE value IN ('dave@example.com', 'dave.pro@example.com')").Scan(&onReplica); err != nil || onReplica != 0 {
			t.Fatalf("dave's identifiers on the stopped replica: %d, %v", onReplica, err)
		}
		if code, status, check := b.ready(); code != 200 || status != "degraded" || !strings.HasPrefix(check, "lagging") {
			t.Errorf("readyz of b while the replica is stopped: %d %s %q", code, status, check)
		}
		if v := b.metric(`beckon_db_replica_state{replica="replica_1",state="lagging"}`); v != 1 {
			t.Errorf("lagging state metric: %v", v)
		}
		_, p0 := b.reads()
		a.must("PATCH", "/v1/accounts/bob", map[string]any{"discoverable": false}, 200)
		if got := b.match("bob@example.com"); got != "none" {
			t.Errorf("bob after opting out: %s", got)
		}
		a.must("PATCH", "/v1/accounts/bob", map[string]any{"discoverable": true}, 200)
		a.must("PUT", "/v1/accounts/dave/blocks/alice", nil, 200)
		if got := b.match("dave@example.com"); got != "none" {
			t.Errorf("dave after blocking alice: %s", got)
		}
		a.must("DELETE", "/v1/accounts/carol0", nil, 204)
		if got := b.match("carol0@example.com"); got != "none" {
			t.Errorf("carol0 after deletion: %s", got)
		}
		if _, p1 := b.reads(); p1-p0 < 3 {
			t.Errorf("resolves while the replica is stopped read the primary %v times", p1-p0)
		}
		if lag := b.metric(`beckon_db_replica_lag_seconds{replica="replica_1"}`); lag < testMaxLag.Seconds() {
			t.Errorf("lag metric %v while stopped, want more than %v", lag, testMaxLag.Seconds())
		}

		rep.ResumeReplay(t)
		eventually(t, "b uses the replica again", func() bool { _, s, c := b.ready(); return s == "ok" && c == "ok" })
		r0, _ := b.reads()
		if got := b.match("dave.pro@example.com"); got != "none" {
			t.Errorf("dave.pro after resume (dave blocked alice): %s", got)
		}
		if r1, _ := b.reads(); r1 == r0 {
			t.Error("resolve after the replica caught up did not read it")
		}
	})
}

// TestReplicaDown: a replica that does not answer leaves resolve to the
// primary; the node starts and is ready, /readyz and /metrics say so.
func TestReplicaDown(t *testing.T) {
	rep := testenv.PostgresReplica(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	down := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=1", port)
	n := startNode(t, rep.Primary.URL, []string{down}, "")
	n.putAccount("alice", "alice@example.com")
	n.putAccount("bob", "bob@example.com")
	if got := n.match("bob@example.com"); got != "account" {
		t.Fatalf("resolve: %s", got)
	}
	if r, p := n.reads(); r != 0 || p == 0 {
		t.Errorf("reads: replica %v, primary %v", r, p)
	}
	if code, status, check := n.ready(); code != 200 || status != "degraded" || !strings.HasPrefix(check, "unavailable") {
		t.Errorf("readyz: %d %s %q", code, status, check)
	}
	if v := n.metric(`beckon_db_replica_state{replica="replica_1",state="unavailable"}`); v != 1 {
		t.Errorf("unavailable state metric: %v", v)
	}
}
