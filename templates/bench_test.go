package templates_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/beckon-chat/beckon/store"
	"github.com/beckon-chat/beckon/templates"
)

// BenchmarkRender compares a message rendered from the embedded templates
// with one rendered from the active version held in the database: the
// library compiles a version once and checks for a new one at most every
// 500 ms, so both cost the same.
func BenchmarkRender(b *testing.B) {
	ctx := context.Background()
	d := worstCase()
	set, err := templates.Defaults()
	if err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "b.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	lib, err := templates.NewLibrary(templates.LibraryConfig{Store: db})
	if err != nil {
		b.Fatal(err)
	}
	if err := lib.Load(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("embedded", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := set.Message(ctx, templates.InviteEmail, "fr-CA", d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("database", func(b *testing.B) {
		for b.Loop() {
			if _, used, err := lib.Message(ctx, templates.InviteEmail, "fr-CA", d); err != nil || used.Version != 1 {
				b.Fatal(err, used)
			}
		}
	})
}
