package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/internal/app"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// TestPostgresRestartUnderLoad stops and starts a PostgreSQL server of the
// test's own while clients create invites and resolve through a node built
// by app.New with its delivery workers running. While the database is
// down: only 503 unavailable with Retry-After, /readyz 503; after: /readyz
// 200 without restarting the node, every invite answered 201 (before,
// during or after) is delivered, and the log holds a few lines about it,
// not one per request or round. The webhook dispatcher goes on too.
func TestPostgresRestartUnderLoad(t *testing.T) {
	pg := testenv.StartPostgres(t)
	logs := &testenv.SyncBuffer{}
	var hooks atomic.Int64 // webhook deliveries
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hooks.Add(1) }))
	defer hook.Close()
	node, err := app.New(context.Background(), app.Config{
		DatabaseURL: pg.URL, AutoMigrate: true, Limits: generous, InviteLimits: inviteLimits,
		KeyCacheTTL: time.Second, PublicURL: "https://beckon.test", SignupURL: "https://beckon.test/signup",
		InviteTTL: 336 * time.Hour, DevOutbox: t.TempDir(), Workers: 2,
		Lease:      3 * time.Second, // what a round claimed but could not record goes again soon
		WebhookURL: hook.URL, WebhookSecret: "whsec_test",
	}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ts := httptest.NewServer(node.Handler())
	defer ts.Close()
	doc := loadDoc(t)
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: node.DB, app: node, handler: node.Handler(), srv: node.Server, url: ts.URL, router: router,
		logs: &bytes.Buffer{}, keys: map[auth.Scope]string{}}
	if _, h.key, err = auth.NewService(node.DB, time.Now, 0).Create(context.Background(), "all", auth.AllScopes()); err != nil {
		t.Fatal(err)
	}
	h.seed()
	if r := h.do("PUT", "/v1/tenants/contoso", map[string]any{"name": "Contoso", "domains": []string{"contoso.com"}, "region": "FR",
		"policy": map[string]any{"invites_per_user_per_day": 100000}}); r.Status != 200 {
		t.Fatalf("policy: %d %s", r.Status, r.Body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	workersDone := make(chan struct{})
	go func() { defer close(workersDone); node.RunWorkers(ctx) }()
	defer func() { cancel(); <-workersDone }()

	// send is goroutine-safe: it reports problems with t.Errorf.
	client := &http.Client{Timeout: 10 * time.Second}
	send := func(method, path string, body any) (response, bool) {
		req, _ := http.NewRequest(method, ts.URL+path, bytes.NewReader(jsonBody(t, body)))
		req.Header.Set("Authorization", "Bearer "+h.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return response{}, false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out := response{Status: resp.StatusCode, Header: resp.Header, Body: b}
		h.validate(req, out)
		if out.Status == http.StatusServiceUnavailable && (out.code() != "unavailable" || out.Header.Get("Retry-After") == "") {
			t.Errorf("%s %s: 503 without its code or Retry-After: %v %s", method, path, out.Header, b)
		}
		return out, true
	}

	var (
		mu       sync.Mutex
		created  []string // ids answered 201
		statuses = map[string]int{}
	)
	count := func(what string, r response) {
		mu.Lock()
		defer mu.Unlock()
		statuses[fmt.Sprintf("%s %d", what, r.Status)]++
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if g%2 == 0 { // invites
					r, ok := send("POST", "/v1/invites", inviteBody("alice", fmt.Sprintf("guest-%d-%d@example.org", g, i)))
					if !ok {
						return
					}
					count("invite", r)
					switch r.Status {
					case 201:
						var inv struct{ ID string }
						_ = json.Unmarshal(r.Body, &inv)
						mu.Lock()
						created = append(created, inv.ID)
						mu.Unlock()
					case 503:
					default:
						t.Errorf("create invite: %d %s", r.Status, r.Body)
					}
				} else { // resolves
					r, ok := send("POST", "/v1/resolve", resolveBody("alice", "bob@example.org"))
					if !ok {
						return
					}
					count("resolve", r)
					if r.Status != 200 && r.Status != 503 {
						t.Errorf("resolve: %d %s", r.Status, r.Body)
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	ready := func() (int, string) {
		resp, err := client.Get(ts.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	time.Sleep(time.Second)
	pg.Stop()
	stoppedAt := time.Now()
	if code, body := ready(); code != 503 || !strings.Contains(body, `"database":"unavailable"`) {
		t.Errorf("readyz while PostgreSQL is down: %d %s", code, body)
	}
	time.Sleep(1500 * time.Millisecond)
	pg.Start()
	hooksBefore := hooks.Load()
	t.Logf("PostgreSQL was down for %v", time.Since(stoppedAt).Round(time.Millisecond))
	backBy := time.Now().Add(30 * time.Second)
	for code, body := ready(); code != 200; code, body = ready() {
		if time.Now().After(backBy) {
			t.Fatalf("readyz after the restart: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // load after the restart
	close(stop)
	wg.Wait()

	mu.Lock()
	t.Logf("answers: %v", statuses)
	if statuses["invite 503"]+statuses["resolve 503"] == 0 || statuses["invite 201"] == 0 || statuses["resolve 200"] == 0 {
		t.Errorf("the load did not meet the outage: %v", statuses)
	}
	ids := append([]string(nil), created...)
	mu.Unlock()

	// Every acknowledged invite exists and is delivered, by workers that
	// were never restarted.
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for {
			r := h.do("GET", "/v1/invites/"+id, nil)
			var inv struct{ Delivery string }
			_ = json.Unmarshal(r.Body, &inv)
			if r.Status == 200 && (inv.Delivery == "sent" || inv.Delivery == "delivered") {
				break
			}
			if r.Status != 200 || time.Now().After(deadline) {
				t.Fatalf("invite %s answered 201 is not delivered: %d %s", id, r.Status, r.Body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	t.Logf("delivered all %d in %v", len(ids), time.Since(deadline.Add(-30*time.Second)).Round(time.Millisecond))
	if hooks.Load() == hooksBefore {
		t.Error("the webhook dispatcher delivered nothing after the restart")
	}
	log := logs.String()
	for what, most := range map[string]int{"answering 503": 2, "outbox round failed": 1, "webhook round failed": 1,
		"held-message report failed": 1, "internal error": 0} {
		if n := strings.Count(log, what); n > most {
			t.Errorf("%d log lines with %q (want at most %d):\n%s", n, what, most, log)
		}
	}
	if !strings.Contains(log, "outbox round works again") {
		t.Errorf("the workers did not say they recovered:\n%s", log)
	}
}
