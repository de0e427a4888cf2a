package request_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/request"
)

// BenchmarkCheck measures the gate in process on SQLite, per message:
// between the accounts of an accepted request (reads only) and on a
// pending request (one conditional update each; past the limit the
// messages are held).
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	svc, _ := setup(b, testenv.Engine{Name: "sqlite", URL: "sqlite://" + filepath.Join(b.TempDir(), "bench.db")})
	first, err := svc.Check(ctx, msg("a1", "g1"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Act(ctx, first.RequestID, request.Accept); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, from, to, want string }{
		{"accepted", "a1", "g1", request.ReasonAccepted},
		{"pending", "a1", "p1", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				m := msg(c.from, c.to)
				m.Text = fmt.Sprint("message ", i)
				i++
				d, err := svc.Check(ctx, m)
				if err != nil || (c.want != "" && d.Reason != c.want) {
					b.Fatalf("%+v %v", d, err)
				}
			}
		})
	}
}
