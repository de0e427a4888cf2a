// Command bench measures Beckon under load on this machine.
//
//	go run ./bench -engine sqlite            # or -engine postgres -pg-url postgres://...
//	go run ./bench invites -engine sqlite    # invitations: API and delivery
//	go run ./bench requests -engine sqlite   # the message-request gate
//
// It builds and starts the real beckon binary on a fresh database, seeds it
// through the import endpoint (timing the import), drives POST /v1/resolve
// with a mix of hits, misses and un-normalised inputs over many connections,
// samples the server's RSS, times batch resolves of 1000, then runs the same
// load against a bare baseline — the same normalisation and lookup query
// behind plain net/http, with no auth, limits, logs or metrics — in its own
// process on the same database, and prints both and the ratio.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "bare":
		err = runBare(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "requests":
		err = runRequests(ctx, os.Args[2:], os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == "invites":
		err = runInvites(ctx, os.Args[2:], os.Stdout)
	default:
		err = runBench(ctx, os.Args[1:], os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
