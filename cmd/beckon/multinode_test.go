package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// The shape of TestMultiNode: how many invites, from how many clients,
// through how many `beckon serve` processes.
const (
	mnNodes   = 3
	mnClients = 40
	mnInvites = 1500
	mnWorkers = 2 // BECKON_WORKERS on each node
)

// TestMultiNode runs the production shape: three `beckon serve` processes
// (the real binary) on one PostgreSQL database, Redis for the limits, a
// real SMTP server and a webhook receiver. 40 clients create 1,500 invites
// across the nodes while a consumer follows GET /v1/events; one node is
// killed (SIGKILL) half-way and started again. Then: every acknowledged
// invite is delivered, at most one message per worker of the killed node
// goes out twice, the consumer and the webhook saw every event of the feed
// in its order, one Idempotency-Key sent to three nodes at once makes one
// invite, and two links of one identifier through two nodes have one
// winner. The same runs through PgBouncer (transaction pooling).
func TestMultiNode(t *testing.T) {
	bin := buildBinary(t)
	t.Run("postgres", func(t *testing.T) { multiNode(t, bin, testenv.Postgres(t)) })
	t.Run("pgbouncer", func(t *testing.T) { multiNode(t, bin, testenv.PgBouncer(t)) })
}

// mnNode is one `beckon serve` process; its log goes to a file that is
// shown (its errors) when the test fails.
type mnNode struct {
	t    *testing.T
	name string
	bin  string
	env  map[string]string
	base string
	log  *os.File
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func newNode(t *testing.T, bin, name string, env map[string]string) *mnNode {
	t.Helper()
	n := &mnNode{t: t, name: name, bin: bin, env: env, base: "http://" + env["BECKON_ADDR"]}
	f, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	n.log = f
	t.Cleanup(func() {
		n.kill()
		f.Close()
		if t.Failed() {
			showErrors(t, name, f.Name())
		}
	})
	return n
}

// start runs the process and waits for /healthz.
func (n *mnNode) start() {
	n.t.Helper()
	n.cmd = beckonCmd(n.bin, n.env, "serve")
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	exited := make(chan struct{})
	n.done = exited
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(exited) }(n.cmd)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(n.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-exited:
			n.t.Fatalf("%s exited at start; see %s", n.name, n.log.Name())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s did not come up", n.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (n *mnNode) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	n.cmd = nil
}

// beckonCmd is `beckon args...` with env over the test's environment
// (and no stray .env).
func beckonCmd(bin string, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "BECKON_ENV_FILE="+os.DevNull)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// showErrors logs the error lines of a node's log.
func showErrors(t *testing.T, name, path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	shown := 0
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() && shown < 20 {
		if strings.Contains(s.Text(), `"level":"ERROR"`) || strings.Contains(s.Text(), "panic") {
			t.Logf("%s: %s", name, s.Text())
			shown++
		}
	}
}

// mnClient speaks to the nodes' API with one API key over kept-alive
// connections.
type mnClient struct {
	key  string
	http *http.Client
}

// call sends a request; err is set when no answer came (a node down).
func (c mnClient) call(method, u, body, idemKey string) (status int, resp []byte, err error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	r, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer r.Body.Close()
	resp, err = io.ReadAll(r.Body)
	return r.StatusCode, resp, err
}

// errCode is the error code of an API error body.
func errCode(body []byte) string {
	var e struct {
		Error struct{ Code string }
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}

// feedPage reads one page of GET /v1/events after cursor.
func (c mnClient) feedPage(base, after string) ([]string, []string, error) {
	status, body, err := c.call("GET", base+"/v1/events?limit=100&after="+url.QueryEscape(after), "", "")
	if err != nil {
		return nil, nil, err
	}
	if status != 200 {
		return nil, nil, fmt.Errorf("feed: %d %s", status, body)
	}
	var page struct {
		Items []struct{ ID, Type string }
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, nil, err
	}
	var ids, types []string
	for _, it := range page.Items {
		ids, types = append(ids, it.ID), append(types, it.Type)
	}
	return ids, types, nil
}

// feedFromStart reads the whole feed from its start.
func (c mnClient) feedFromStart(t *testing.T, base string) (ids []string, types map[string]string) {
	t.Helper()
	types = map[string]string{}
	after := ""
	for {
		page, pageTypes, err := c.feedPage(base, after)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range page {
			types[id] = pageTypes[i]
		}
		ids = append(ids, page...)
		if len(page) < 100 {
			return ids, types
		}
		after = page[len(page)-1]
	}
}

// tailer follows the feed as a consumer does: from its last event id,
// never from the start again, through whichever node answers.
type tailer struct {
	mu   sync.Mutex
	ids  []string
	seen map[string]int // how often each id came
}

func (tl *tailer) run(c mnClient, nodes []*mnNode, stop <-chan struct{}) {
	after := ""
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		ids, _, err := c.feedPage(nodes[i%len(nodes)].base, after)
		if err != nil {
			continue // that node is down: the next one
		}
		tl.mu.Lock()
		for _, id := range ids {
			tl.ids = append(tl.ids, id)
			tl.seen[id]++
		}
		tl.mu.Unlock()
		if len(ids) > 0 {
			after = ids[len(ids)-1]
		}
		if len(ids) < 100 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (tl *tailer) snapshot() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.ids)
}

// firstArrivals is the webhook's events, each id once, in the order they
// first came.
func (h *hookReceiver) firstArrivals() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, e := range h.events {
		id, _ := e["id"].(string)
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// compareFeed says how got (a consumer's view) differs from want (the
// feed read from its start at the end): events missing (by type), events
// seen twice, events not in the feed, and whether the order differs.
func compareFeed(got, want []string, types map[string]string) (missing map[string]int, twice, unknown int, sameOrder bool) {
	missing = map[string]int{}
	inGot := map[string]int{}
	for _, id := range got {
		inGot[id]++
	}
	inWant := map[string]bool{}
	for _, id := range want {
		inWant[id] = true
		if inGot[id] == 0 {
			missing[types[id]]++
		}
	}
	var gotKnown []string
	for id, n := range inGot {
		if n > 1 {
			twice += n - 1
		}
		if !inWant[id] {
			unknown++
		}
	}
	for _, id := range got {
		if inWant[id] {
			gotKnown = append(gotKnown, id)
		}
	}
	var wantSeen []string
	for _, id := range want {
		if inGot[id] > 0 {
			wantSeen = append(wantSeen, id)
		}
	}
	return missing, twice, unknown, slices.Equal(gotKnown, wantSeen)
}

// waitFor polls cond until it holds or d passes; it reports which.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func multiNode(t *testing.T, bin string, e testenv.Engine) {
	began := time.Now()
	redisURL := testenv.Redis(t)
	db, err := sql.Open("pgx", e.DirectURL) // the test's own look at the database
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mailer := testenv.StartSMTP(t)
	mailer.SetDelay(5 * time.Millisecond) // as a remote server: the kill finds messages on the wire
	hook := &hookReceiver{secret: "a-webhook-secret-of-length"}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	// Redis outlives the test: names of this run keep earlier runs' counts out.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)

	var nodes []*mnNode
	for i := range mnNodes {
		env := map[string]string{
			"BECKON_DATABASE_URL": e.URL, "BECKON_AUTO_MIGRATE": "false", "BECKON_ADDR": freeAddr(t),
			"BECKON_REDIS_URL": redisURL, "BECKON_LOG_LEVEL": "warn",
			"BECKON_SMTP_URL": "smtp://" + mailer.Addr + "?tls=none", "BECKON_MAIL_FROM": "Beckon <invites@beckon.test>",
			"BECKON_DEV_OUTBOX": t.TempDir(), "BECKON_WORKERS": strconv.Itoa(mnWorkers),
			// What the killed node had claimed comes back soon.
			"BECKON_DELIVERY_LEASE": "3s",
			"BECKON_WEBHOOK_URL":    hookSrv.URL, "BECKON_WEBHOOK_SECRET": hook.secret,
			// High enough that every invite of the burst is accepted.
			"BECKON_LIMIT_PER_KEY": "100000/s", "BECKON_INVITE_LIMIT_PER_INVITER": "100000/m",
			"BECKON_INVITE_LIMIT_PER_TENANT": "100000/d", "BECKON_INVITE_LIMIT_PER_RECIPIENT": "1000/d",
		}
		nodes = append(nodes, newNode(t, bin, fmt.Sprintf("node%d", i), env))
	}
	// Pages are served by node0 (never killed): the links in emails lead there.
	for _, n := range nodes {
		n.env["BECKON_PUBLIC_URL"] = nodes[0].base
	}
	if out, err := beckonCmd(bin, nodes[0].env, "migrate").CombinedOutput(); err != nil {
		t.Fatalf("beckon migrate: %v\n%s", err, out)
	}
	out, err := beckonCmd(bin, nodes[0].env, "keys", "create", "--name", "multinode", "--scopes", "directory,invite,link,requests").Output()
	if err != nil {
		t.Fatalf("beckon keys create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	c := mnClient{key: lines[len(lines)-1], http: &http.Client{Timeout: 15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * mnClients}}}

	// node0 starts alone and takes the webhook lease; node1, which is
	// killed, never holds it. (Killing its holder would stop the webhook
	// for its lease, 15 s: webhook.TestLeaseTakenOver shows the takeover.)
	nodes[0].start()
	if !waitFor(10*time.Second, func() bool {
		var holder sql.NullString
		_ = db.QueryRow("SELECT locked_by FROM webhook_state WHERE id = 1").Scan(&holder)
		return holder.Valid && holder.String != ""
	}) {
		t.Fatal("node0 did not take the webhook lease")
	}
	for _, n := range nodes[1:] {
		n.start()
	}
	started := time.Now()

	tenant := "mn_" + run
	if status, body, err := c.call("PUT", nodes[0].base+"/v1/tenants/"+tenant, `{"name":"Multi","domains":["multi.example"],"region":"FR","policy":{"invites_per_user_per_day":100000}}`, ""); err != nil || status != 200 {
		t.Fatalf("tenant: %v %d %s", err, status, body)
	}
	inviters := make([]string, mnClients)
	for i := range inviters {
		inviters[i] = fmt.Sprintf("inv%02d_%s", i, run)
		body := fmt.Sprintf(`{"tenant_id":%q,"display_name":"Inviter %d","identifiers":["inv%02d.%s@multi.example"]}`, tenant, i, i, run)
		if status, resp, err := c.call("PUT", nodes[i%mnNodes].base+"/v1/accounts/"+inviters[i], body, ""); err != nil || status != 200 {
			t.Fatalf("account: %v %d %s", err, status, resp)
		}
	}

	// The pre-acceptance gate: 60 checks at once, spread over the nodes,
	// deliver exactly the limit (10, a personal recipient's).
	gateTo := "gate_" + run
	if status, resp, err := c.call("PUT", nodes[0].base+"/v1/accounts/"+gateTo, `{"tenant_id":null,"display_name":"Gate","identifiers":["gate.`+run+`@example.org"]}`, ""); err != nil || status != 200 {
		t.Fatalf("gate account: %v %d %s", err, status, resp)
	}
	var (
		gateMu  sync.Mutex
		reasons = map[string]int{}
		gw      sync.WaitGroup
		go0     = make(chan struct{})
	)
	for i := range 60 {
		gw.Add(1)
		go func() {
			defer gw.Done()
			body := fmt.Sprintf(`{"sender":%q,"recipient":%q,"chat_id":"gate","text":"message %d"}`, inviters[0], gateTo, i)
			<-go0
			status, resp, err := c.call("POST", nodes[i%mnNodes].base+"/v1/requests/check", body, "")
			var d struct{ Reason string }
			_ = json.Unmarshal(resp, &d)
			gateMu.Lock()
			defer gateMu.Unlock()
			if err != nil || status != 200 {
				reasons[fmt.Sprintf("error %d %v", status, err)]++
				return
			}
			reasons[d.Reason]++
		}()
	}
	close(go0)
	gw.Wait()
	t.Logf("gate: 60 checks over %d nodes: %v", mnNodes, reasons)
	if reasons["pre_acceptance"] != 10 || reasons["limit_reached"] != 50 {
		t.Errorf("60 checks at once over %d nodes: %v; want exactly 10 pre_acceptance and 50 limit_reached", mnNodes, reasons)
	}

	stopTail := make(chan struct{})
	tail := &tailer{seen: map[string]int{}}
	tailDone := make(chan struct{})
	go func() { tail.run(c, nodes, stopTail); close(tailDone) }()
	defer func() {
		select {
		case <-stopTail:
		default:
			close(stopTail)
		}
		<-tailDone
	}()

	// The burst: each invite carries an Idempotency-Key; a client whose
	// node does not answer retries on the next node with the same key, as
	// a client behind a load balancer does.
	var (
		mu       sync.Mutex
		acked    = map[string]bool{} // recipients of invites answered 201
		stuck    int                 // still idempotency_key_in_use after retrying
		lost     int                 // no node answered in time
		odd      = map[string]int{}  // unexpected answers, by status and code
		next     atomic.Int64
		ackCount atomic.Int64
		wg       sync.WaitGroup
	)
	invite := func(i int) {
		to := fmt.Sprintf("r%04d.%s@example.org", i, run)
		body := fmt.Sprintf(`{"inviter":%q,"identifier":%q,"chat":{"id":"chat_%d","kind":"one_on_one"}}`, inviters[i%mnClients], to, i)
		key := "burst-" + strconv.Itoa(i)
		deadline := time.Now().Add(5 * time.Second)
		inUse := false
		for try := i; ; try++ {
			status, resp, err := c.call("POST", nodes[try%mnNodes].base+"/v1/invites", body, key)
			switch {
			case err == nil && status == 201:
				mu.Lock()
				acked[to] = true
				mu.Unlock()
				ackCount.Add(1)
				return
			case err == nil && status == 409 && errCode(resp) == "idempotency_key_in_use":
				inUse = true
				time.Sleep(100 * time.Millisecond)
			case err != nil:
				inUse = false
				time.Sleep(20 * time.Millisecond)
			default:
				mu.Lock()
				odd[fmt.Sprintf("%d %s", status, errCode(resp))]++
				mu.Unlock()
				return
			}
			if time.Now().After(deadline) {
				mu.Lock()
				if inUse {
					stuck++
				} else {
					lost++
				}
				mu.Unlock()
				return
			}
		}
	}
	for range mnClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= mnInvites {
					return
				}
				invite(i)
			}
		}()
	}
	if !waitFor(30*time.Second, func() bool { return ackCount.Load() >= mnInvites/2 }) {
		t.Fatalf("half the burst not acknowledged in 30 s (%d)", ackCount.Load())
	}
	killedAt := time.Since(started)
	mailsAtKill := len(mailer.Mails())
	nodes[1].kill()
	nodes[1].start()
	restarted := time.Since(started)
	wg.Wait()
	burst := time.Since(started)
	t.Logf("burst: %d invites acknowledged of %d in %v (node1 killed at %v, back at %v); %d stuck in idempotency_key_in_use, %d lost",
		len(acked), mnInvites, burst.Round(time.Millisecond), killedAt.Round(time.Millisecond), restarted.Round(time.Millisecond), stuck, lost)
	if len(odd) > 0 {
		t.Errorf("unexpected answers during the burst: %v", odd)
	}
	if lost > 0 {
		t.Errorf("%d invites got no answer from any node in 5 s", lost)
	}

	// The same Idempotency-Key to three nodes at once: one invite, and the
	// same answer from all (a request that finds the first still running
	// is told to retry shortly, and does).
	for round := range 3 {
		to := fmt.Sprintf("idem%d.%s@example.org", round, run)
		body := fmt.Sprintf(`{"inviter":%q,"identifier":%q,"chat":{"id":"chat_idem","kind":"one_on_one"}}`, inviters[0], to)
		key := fmt.Sprintf("same-%s-%d", run, round)
		var (
			start   = make(chan struct{})
			answers [mnNodes]string
			codes   [mnNodes]int
			rw      sync.WaitGroup
		)
		for n := range mnNodes {
			rw.Add(1)
			go func() {
				defer rw.Done()
				<-start
				for range 100 {
					status, resp, err := c.call("POST", nodes[n].base+"/v1/invites", body, key)
					codes[n], answers[n] = status, string(resp)
					if err != nil || (status == 409 && errCode(resp) == "idempotency_key_in_use") {
						time.Sleep(20 * time.Millisecond)
						continue
					}
					return
				}
			}()
		}
		close(start)
		rw.Wait()
		var made int
		if err := db.QueryRow("SELECT count(*) FROM invites WHERE recipient_value = $1", to).Scan(&made); err != nil {
			t.Fatal(err)
		}
		if made != 1 || codes != [mnNodes]int{201, 201, 201} || answers[0] != answers[1] || answers[1] != answers[2] {
			t.Errorf("one Idempotency-Key to three nodes at once: %d invites; answers %v %q", made, codes, answers)
		} else {
			acked[to] = true
		}
	}

	// Two links of one identifier through two nodes at once: one winner.
	race := func(what, id, ticket string) (winner []byte) {
		var (
			start  = make(chan struct{})
			status [2]int
			resp   [2][]byte
			errs   [2]error
			rw     sync.WaitGroup
		)
		accounts := [2]string{"la_" + run + "_" + what, "lb_" + run + "_" + what}
		for k := range 2 {
			rw.Add(1)
			go func() {
				defer rw.Done()
				body := fmt.Sprintf(`{"account":{"id":%q,"tenant_id":null,"display_name":"L"},"identifier":%q,"invite_ticket":%q}`, accounts[k], id, ticket)
				if ticket == "" {
					body = fmt.Sprintf(`{"account":{"id":%q,"tenant_id":null,"display_name":"L"},"identifier":%q}`, accounts[k], id)
				}
				<-start
				status[k], resp[k], errs[k] = c.call("POST", nodes[1+k].base+"/v1/links", body, "")
			}()
		}
		close(start)
		rw.Wait()
		for k := range 2 {
			if errs[k] != nil {
				t.Errorf("link %s: %v", what, errs[k])
				return nil
			}
		}
		for k := range 2 {
			if status[k] == 200 && status[1-k] == 409 && errCode(resp[1-k]) == "identifier_taken" {
				return resp[k]
			}
		}
		t.Errorf("two links of %s at once: %d %s / %d %s; want one 200 and one 409 identifier_taken", what, status[0], resp[0], status[1], resp[1])
		return nil
	}
	for round := range 5 {
		race(strconv.Itoa(round), fmt.Sprintf("link%d.%s@example.org", round, run), "")
	}
	// With an invite ticket, as after "accept" on the invitation's page.
	ticketTo := "ticket." + run + "@example.org"
	ticketBody := fmt.Sprintf(`{"inviter":%q,"identifier":%q,"chat":{"id":"chat_ticket","kind":"group","title":"T"}}`, inviters[1], ticketTo)
	if status, resp, err := c.call("POST", nodes[2].base+"/v1/invites", ticketBody, ""); err != nil || status != 201 {
		t.Fatalf("invite for the ticket: %v %d %s", err, status, resp)
	}
	acked[ticketTo] = true
	if !waitFor(30*time.Second, func() bool { return mailsTo(mailer, ticketTo) > 0 }) {
		t.Fatal("no email for the ticket's invite")
	}
	if won := race("ticket", ticketTo, acceptTicket(t, mailer, ticketTo)); won != nil {
		var linked struct{ Accepted []map[string]any }
		if err := json.Unmarshal(won, &linked); err != nil || len(linked.Accepted) != 1 {
			t.Errorf("the winning link with the ticket accepted %v: %s", err, won)
		}
	}

	// Quiescence: every acknowledged invite mailed, the outbox empty, and
	// the tail and the webhook no longer behind the feed.
	delivered := waitFor(40*time.Second, func() bool {
		got := map[string]bool{}
		for _, m := range mailer.Mails() {
			got[m.To[0]] = true
		}
		for to := range acked {
			if !got[to] {
				return false
			}
		}
		return true
	})
	waitFor(20*time.Second, func() bool {
		var busy int
		_ = db.QueryRow("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')").Scan(&busy)
		return busy == 0
	})
	var full []string
	var types map[string]string
	caughtUp := waitFor(20*time.Second, func() bool {
		full, types = c.feedFromStart(t, nodes[0].base)
		got := tail.snapshot()
		return len(full) > 0 && len(got) > 0 && got[len(got)-1] == full[len(full)-1] && len(hook.firstArrivals()) >= len(full)
	})
	close(stopTail)
	<-tailDone
	full, types = c.feedFromStart(t, nodes[2].base)
	settled := time.Since(started)

	// Every acknowledged invite delivered; duplicates bounded.
	sent := map[string]int{}
	for _, m := range mailer.Mails() {
		sent[m.To[0]]++
	}
	var undelivered, twice int
	for to := range acked {
		if sent[to] == 0 {
			undelivered++
		}
	}
	for _, n := range sent {
		twice += n - 1
	}
	t.Logf("mail: %d acknowledged, %d undelivered, %d emails, %d recipients got one twice or more (%d extra emails)",
		len(acked), undelivered, len(mailer.Mails()), countOver(sent, 1), twice)
	if !delivered || undelivered > 0 {
		t.Errorf("%d acknowledged invites never delivered", undelivered)
	}
	if twice > mnWorkers {
		// Where they come from: those sent twice before the kill cannot be
		// the killed workers' doing.
		before := map[string]int{}
		extraBefore := 0
		for _, m := range mailer.Mails()[:mailsAtKill] {
			if before[m.To[0]]++; before[m.To[0]] > 1 {
				extraBefore++
			}
		}
		var reclaimed int
		_ = db.QueryRow("SELECT count(*) FROM outbox WHERE attempts > 1").Scan(&reclaimed)
		t.Logf("duplicates: %d of the extra emails went out before the kill; %d outbox messages were claimed more than once", extraBefore, reclaimed)
		t.Errorf("%d emails sent twice after one node was killed; at most one per worker of that node (%d) was on the wire", twice, mnWorkers)
	}

	// The feed: the consumer that followed it saw all of it, in order.
	got := tail.snapshot()
	missing, dup, unknown, sameOrder := compareFeed(got, full, types)
	t.Logf("feed: %d events at the end; the tail saw %d (missing %v, %d twice, %d not in the feed, same order %v)",
		len(full), len(got), missing, dup, unknown, sameOrder)
	if !caughtUp || len(missing) > 0 || dup > 0 || unknown > 0 || !sameOrder {
		t.Errorf("the consumer following the feed missed %v, saw %d twice and %d unknown, same order: %v", missing, dup, unknown, sameOrder)
	}
	// The webhook: every event at least once, first arrivals in the feed's order.
	arrived := hook.firstArrivals()
	hook.mu.Lock()
	posts, bad := len(hook.events), hook.bad
	hook.mu.Unlock()
	wmissing, _, wunknown, wsameOrder := compareFeed(arrived, full, types)
	t.Logf("webhook: %d posts, %d distinct events (missing %v, %d not in the feed, same order %v), %d bad signatures",
		posts, len(arrived), wmissing, wunknown, wsameOrder, bad)
	if bad > 0 || len(wmissing) > 0 || wunknown > 0 || !wsameOrder {
		t.Errorf("the webhook missed %v, got %d unknown and %d badly signed events; first arrivals in the feed's order: %v", wmissing, wunknown, bad, wsameOrder)
	}
	t.Logf("timing: nodes up to settled %v; whole subtest %v", settled.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// countOver counts the entries of m above n.
func countOver(m map[string]int, n int) int {
	k := 0
	for _, v := range m {
		if v > n {
			k++
		}
	}
	return k
}

// acceptTicket opens the invitation mailed to addr, presses accept and
// returns the invite ticket the sign-up redirect carries.
func acceptTicket(t *testing.T, mailer *testenv.SMTPServer, addr string) string {
	t.Helper()
	resp := pageAction(t, lastLinkTo(t, mailer, addr), "accept")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	ticket := loc.Query().Get("invite_ticket")
	if resp.StatusCode != 303 || ticket == "" {
		t.Fatalf("accept: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return ticket
}
