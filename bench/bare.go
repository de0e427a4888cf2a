package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"net/http"

	"github.com/beckon-chat/beckon/request"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
)

// runBare serves the bare baseline: decode, normalise, the same single
// query as beckon's resolve (store.Lookup: the requester and the owner,
// with the pending-invite probe), encode. No auth, limits, logs, metrics,
// policies or invite fetch. It also serves the message-request gate:
// request.Service.Check on the same database, behind plain net/http.
func runBare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	dbURL := fs.String("db", "", "database URL")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	conns := fs.Int("db-conns", 4, "pool size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := store.Open(ctx, *dbURL, store.Options{MaxConns: *conns})
	if err != nil {
		return err
	}
	defer db.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/resolve", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Requester, Identifier, Region string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		region := req.Region
		if region == "" {
			region = "FR"
		}
		id, err := resolver.Normalize(req.Identifier, region)
		if err != nil {
			http.Error(w, "bad identifier", http.StatusBadRequest)
			return
		}
		_, owners, err := db.Lookup(r.Context(), req.Requester, []resolver.Identifier{id})
		if err != nil {
			http.Error(w, "db", http.StatusInternalServerError)
			return
		}
		o := owners[0]
		res := resolver.Result{Identifier: id, Match: resolver.MatchNone}
		if o.Found && o.Discoverable && !o.BlockedRequester {
			res.Match = resolver.MatchAccount
			res.Account = &resolver.AccountView{ID: o.AccountID, DisplayName: o.DisplayName, Email: o.Email}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
	gate := request.NewService(db, nil)
	mux.HandleFunc("POST /v1/requests/check", func(w http.ResponseWriter, r *http.Request) {
		var m request.Message
		if err := json.NewDecoder(r.Body).Decode(&struct {
			Sender    *string `json:"sender"`
			Recipient *string `json:"recipient"`
			ChatID    *string `json:"chat_id"`
			Text      *string `json:"text"`
		}{&m.Sender, &m.Recipient, &m.ChatID, &m.Text}); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		d, err := gate.Check(r.Context(), m)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"decision": d.Decision, "reason": d.Reason, "remaining": d.Remaining})
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
