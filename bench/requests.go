package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// runRequests measures POST /v1/requests/check on one node beside the bare
// baseline (the same request.Service on the same database behind plain
// net/http: no auth, limits, logs or metrics), for each load of
// lua/requests.lua, alternating the two servers.
func runRequests(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("requests", flag.ContinueOnError)
	fs.StringVar(&o.engine, "engine", "sqlite", "sqlite or postgres")
	fs.StringVar(&o.pgURL, "pg-url", os.Getenv("BECKON_TEST_POSTGRES_URL"), "PostgreSQL server URL")
	fs.IntVar(&o.conns, "conns", 50, "wrk connections")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each run")
	fs.IntVar(&o.runs, "runs", 3, "runs of each measurement, alternated; medians are reported")
	fs.IntVar(&o.dbConns, "db-conns", 4, "database pool size of every server")
	fs.StringVar(&o.binary, "beckon", "", "beckon binary (default: build ./cmd/beckon)")
	pairs := fs.Int("pairs", 2000, "pairs of accounts (each: one accepted request, one pending between strangers)")
	mixes := fs.String("loads", "mix,accepted,pending,new", "loads of lua/requests.lua to run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, dbURL, cleanup, err := workspace(ctx, &o)
	if err != nil {
		return err
	}
	defer cleanup()
	env := append(append(os.Environ(), "BECKON_DATABASE_URL="+dbURL, "BECKON_REDIS_URL=",
		"BECKON_DB_MAX_CONNS="+strconv.Itoa(o.dbConns)), unlimited...)
	key, err := createKey(ctx, o.binary, env, "directory,requests")
	if err != nil {
		return err
	}
	n, err := startNode(ctx, o.binary, env, dir, "requests")
	if err != nil {
		return err
	}
	defer n.stop()
	if _, _, err := seed(ctx, n.base(), key, 3**pairs+3); err != nil {
		return err
	}
	t0 := time.Now()
	if err := acceptPairs(ctx, n.base(), key, *pairs); err != nil {
		return err
	}
	fmt.Fprintf(out, "engine %s: %d pairs accepted in %.1fs; wrk %d connections, %s a run, %d runs, pool %d\n",
		o.engine, *pairs, time.Since(t0).Seconds(), o.conns, o.duration, o.runs, o.dbConns)
	bare, err := startBare(ctx, dbURL, o.dbConns)
	if err != nil {
		return err
	}
	defer bare.stop()

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "load\tserver\trequests/s\tp50 ms\tp99 ms\tmax RSS MB\tCPU µs/req\tDB CPU µs/req\terrors\t")
	for _, mix := range strings.Split(*mixes, ",") {
		load := func(addr, key string, pid int) wrkLoad {
			return wrkLoad{script: "requests", nodes: []string{addr}, key: key, conns: o.conns, d: o.duration, pids: []int{pid}, backends: o.backends,
				env: []string{"BENCH_PAIRS=" + strconv.Itoa(*pairs), "BENCH_MIX=" + mix}}
		}
		fulls, bares, err := alternate(ctx, o.runs, dir, load(n.addr, key, n.pid()), load(bare.addr, "", bare.pid()))
		if err != nil {
			return err
		}
		row(tw, mix, "beckon", median(fulls))
		row(tw, mix, "bare net/http", median(bares))
	}
	return tw.Flush()
}

// acceptPairs makes the requests of pair i: u(3i+1) → u(3i+2), checked
// once and accepted by its recipient.
func acceptPairs(ctx context.Context, base, key string, pairs int) error {
	call := func(method, path, body string, into any) error {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return json.NewDecoder(resp.Body).Decode(into)
	}
	for i := 0; i < pairs; i++ {
		s, r := 3*i+1, 3*i+2
		var d struct{ Decision, Reason string }
		if err := call("POST", "/v1/requests/check", fmt.Sprintf(`{"sender":"u%d","recipient":"u%d","chat_id":"c%d","text":"hi"}`, s, r, i), &d); err != nil {
			return err
		}
		if d.Reason != "pre_acceptance" {
			return fmt.Errorf("first check u%d → u%d: %+v", s, r, d)
		}
		var list struct{ Items []struct{ ID string } }
		if err := call("GET", fmt.Sprintf("/v1/accounts/u%d/requests?status=pending", r), "", &list); err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("u%d has %d pending requests", r, len(list.Items))
		}
		var accepted struct{ Status string }
		if err := call("POST", "/v1/requests/"+list.Items[0].ID+"/accept", "", &accepted); err != nil {
			return err
		}
	}
	return nil
}
