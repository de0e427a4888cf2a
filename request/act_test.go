package request_test

import (
	"context"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/request"
)

// TestActAndList: the actions are idempotent guarded moves, block and
// report put the directory's block, and the listing pages and filters —
// on SQLite and PostgreSQL.
func TestActAndList(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		svc, db := setup(t, e)
		ctx := context.Background()
		ids := map[string]string{}
		for _, from := range []string{"a1", "g1", "k1"} {
			ids[from] = check(t, svc, msg(from, "p1"), request.Deliver, request.ReasonPreAcceptance, 9).RequestID
		}
		act := func(from string, a request.Action, status request.Status, code string) {
			t.Helper()
			r, err := svc.Act(ctx, ids[from], a)
			if fault.CodeOf(err) != code || (code == "" && r.Status != status) {
				t.Fatalf("%s on %s's request: %+v %v; want %s %q", a, from, r, err, status, code)
			}
		}
		act("a1", request.Accept, request.Accepted, "")
		act("a1", request.Accept, request.Accepted, "")
		act("a1", request.Decline, "", fault.CodeRequestDecided)
		act("g1", request.Decline, request.Declined, "")
		act("g1", request.Accept, request.Accepted, "") // a change of mind
		act("g1", request.Decline, "", fault.CodeRequestDecided)
		act("g1", request.Block, request.Blocked, "")
		act("k1", request.Report, request.Reported, "")
		act("k1", request.Block, request.Reported, "")
		act("k1", request.Report, request.Reported, "")
		for _, from := range []string{"g1", "k1"} {
			if p, err := db.Pair(ctx, from, "p1"); err != nil || !p.Blocked {
				t.Fatalf("%s blocked: %+v %v", from, p, err)
			}
		}
		// A block lifted in the directory is put back by blocking again,
		// without a second event.
		if err := db.DeleteBlock(ctx, "p1", "g1"); err != nil {
			t.Fatal(err)
		}
		act("g1", request.Block, request.Blocked, "")
		if p, err := db.Pair(ctx, "g1", "p1"); err != nil || !p.Blocked {
			t.Fatalf("blocked again: %+v %v", p, err)
		}
		if _, err := svc.Act(ctx, "req_nope", request.Accept); fault.CodeOf(err) != fault.CodeRequestNotFound {
			t.Fatalf("unknown request: %v", err)
		}
		evs, err := db.Events(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, ev := range evs {
			n[string(ev.Type)]++
		}
		if n["request.accepted"] != 2 || n["request.declined"] != 1 || n["request.blocked"] != 1 || n["request.reported"] != 1 {
			t.Fatalf("events %v: one per change", n)
		}

		page, err := svc.List(ctx, "p1", "", "", 2)
		if err != nil || len(page.Items) != 2 || page.NextCursor == "" {
			t.Fatalf("page 1: %+v %v", page, err)
		}
		rest, err := svc.List(ctx, "p1", "", page.NextCursor, 2)
		if err != nil || len(rest.Items) != 1 || rest.NextCursor != "" {
			t.Fatalf("page 2: %+v %v", rest, err)
		}
		// Newest first: ids go down, and so do the creation times (give
		// or take the millisecond that is the ids' precision).
		all := append(page.Items, rest.Items...)
		for i := 1; i < len(all); i++ {
			if all[i].ID >= all[i-1].ID || all[i].CreatedAt.After(all[i-1].CreatedAt.Add(time.Millisecond)) {
				t.Fatalf("not newest first: %s %s, then %s %s", all[i-1].ID, all[i-1].CreatedAt, all[i].ID, all[i].CreatedAt)
			}
		}
		for status, from := range map[request.Status]string{request.Accepted: "a1", request.Blocked: "g1", request.Reported: "k1"} {
			got, err := svc.List(ctx, "p1", status, "", 10)
			if err != nil || len(got.Items) != 1 || got.Items[0].SenderID != from {
				t.Fatalf("%s: %+v %v", status, got, err)
			}
			it := got.Items[0]
			if !it.External || it.Personal || it.SenderEmail != from+"@"+map[string]string{"a1": "acme.com", "g1": "globex.com", "k1": "picky.com"}[from] {
				t.Fatalf("listed %+v", it)
			}
		}
		if got, err := svc.List(ctx, "p1", request.Pending, "", 10); err != nil || len(got.Items) != 0 {
			t.Fatalf("pending: %+v %v", got, err)
		}
		if _, err := svc.List(ctx, "ghost", "", "", 10); fault.CodeOf(err) != fault.CodeAccountNotFound {
			t.Fatalf("unknown account: %v", err)
		}
	})
}

// TestActRace: accept and block at once on a reported request, many
// times: each answers with the request as it left it (block never
// request_decided), and the directory's block stands after every round,
// since block puts it back whatever the order.
func TestActRace(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		svc, db := setup(t, e)
		ctx := context.Background()
		id := check(t, svc, msg("g1", "p1"), request.Deliver, request.ReasonPreAcceptance, 9).RequestID
		for round := range 50 {
			if _, err := svc.Act(ctx, id, request.Report); err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 2)
			for _, a := range []request.Action{request.Accept, request.Block} {
				go func() {
					_, err := svc.Act(ctx, id, a)
					errs <- err
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if p, err := db.Pair(ctx, "g1", "p1"); err != nil || !p.Blocked {
				t.Fatalf("round %d: not blocked: %+v %v", round, p, err)
			}
		}
	})
}
