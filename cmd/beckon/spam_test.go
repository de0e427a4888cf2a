package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// TestSpamDomainsCommand: beckon spam domains add, list and remove
// against a running server.
func TestSpamDomainsCommand(t *testing.T) {
	env := map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": freeAddr(t)}
	base, _ := startServer(t, env)
	cli := map[string]string{"BECKON_URL": base, "BECKON_API_KEY": createKey(t, env, "admin")}
	beckon := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"spam", "domains"}, args...), envFunc(cli), nil, &out, io.Discard)
		return out.String(), err
	}
	if out, err := beckon("add", "Evil.COM", "bücher.example"); err != nil || out != "listed evil.com\nlisted xn--bcher-kva.example\n" {
		t.Fatalf("add: %q %v", out, err)
	}
	if out, err := beckon("list"); err != nil || !strings.HasPrefix(out, "evil.com\t") || !strings.Contains(out, "\nxn--bcher-kva.example\t") {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, err := beckon("remove", "evil.com"); err != nil || out != "removed evil.com\n" {
		t.Fatalf("remove: %q %v", out, err)
	}
	if _, err := beckon("add", "not a domain"); err == nil || !strings.Contains(err.Error(), "invalid_domain") {
		t.Fatalf("a bad name: %v", err)
	}
	if _, err := beckon("frobnicate"); err == nil {
		t.Fatal("an unknown command")
	}
	cli["BECKON_API_KEY"] = createKey(t, env, "templates")
	if _, err := beckon("list"); err == nil || !strings.Contains(err.Error(), "insufficient_scope") {
		t.Fatalf("without the admin scope: %v", err)
	}
}
