package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/store"
)

func TestSplitURLs(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                   nil,
		" , ":                                nil,
		"postgres://r1/db":                   {"postgres://r1/db"},
		"postgres://r1/db, postgres://r2/db": {"postgres://r1/db", "postgres://r2/db"},
		// A URL of several hosts stays whole.
		"postgres://h1:5432,h2:5432/db?target_session_attrs=any,postgresql://r3/db": {
			"postgres://h1:5432,h2:5432/db?target_session_attrs=any", "postgresql://r3/db"},
	} {
		if got := store.SplitURLs(in); !slices.Equal(got, want) {
			t.Errorf("SplitURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenReplicasErrors(t *testing.T) {
	ctx := context.Background()
	lite, err := store.Open(ctx, testenv.SQLite(t).URL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if _, err := store.OpenReplicas(lite, []string{"postgres://127.0.0.1/x"}, store.ReplicaOptions{}); err == nil {
		t.Error("replicas of a SQLite primary: no error")
	}
	pg, err := store.Open(ctx, testenv.Postgres(t).URL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if _, err := store.OpenReplicas(pg, []string{"sqlite://./x.db"}, store.ReplicaOptions{}); err == nil {
		t.Error("a SQLite replica: no error")
	}
}
