package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// TestTemplatesCommand drives `beckon templates` against a running
// server, as the README shows, including edit with a scripted $EDITOR.
func TestTemplatesCommand(t *testing.T) {
	env := map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": freeAddr(t)}
	base, _ := startServer(t, env)
	key := createKey(t, env, "templates")
	dir := t.TempDir()
	script := filepath.Join(dir, "editor.sh")
	count := filepath.Join(dir, "count")
	// First save: an unknown variable; second: fixed; the third call
	// (another edit) leaves the file as it is.
	err := os.WriteFile(script, []byte(`#!/bin/sh
n=$(cat '`+count+`' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '`+count+`'
case $n in
1) sed -i 's/{{.InviterName}} invited you/{{.InviterPhone}} invited you/' "$1";;
2) sed -i 's/{{.InviterPhone}} invited you/{{.InviterName}} asks you/' "$1";;
esac
`), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	cli := map[string]string{"BECKON_URL": base, "BECKON_API_KEY": key, "EDITOR": script}
	beckon := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"templates"}, args...), envFunc(cli), nil, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, errOut, err := beckon(args...)
		if err != nil {
			t.Fatalf("beckon templates %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}

	if out := mustRun("list"); !strings.Contains(out, "invite.email") || strings.Count(out, "\n") != 7 {
		t.Fatal(out)
	}
	out, errOut, err := beckon("edit", "invite.email", "en")
	if err != nil || !strings.Contains(errOut, "unknown variable .InviterPhone") || !strings.Contains(errOut, "subject, line 1, column 3") ||
		!strings.Contains(out, "created invite.email en version 2") {
		t.Fatalf("%v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	if b, _ := os.ReadFile(count); strings.TrimSpace(string(b)) != "2" {
		t.Fatalf("editor ran %s times", b)
	}
	// Abandoned: the file comes back unchanged, nothing is saved.
	if _, errOut, err := beckon("edit", "invite.email", "en"); err != nil || !strings.Contains(errOut, "unchanged") {
		t.Fatal(err, errOut)
	}
	show := mustRun("show", "invite.email", "en", "--version", "2")
	if !strings.Contains(show, "=== subject ===\n{{.InviterName}} asks you to chat on {{.Product}}") || !strings.Contains(show, "version 2 created by ktemplates") {
		t.Fatal(show)
	}
	if d := mustRun("diff", "invite.email", "en", "1", "2"); !strings.Contains(d, "-{{.InviterName}} invited you to chat") || !strings.Contains(d, "+{{.InviterName}} asks you to chat") {
		t.Fatal(d)
	}
	// show's output is a file put takes back.
	file := filepath.Join(dir, "v2.tmpl")
	if err := os.WriteFile(file, []byte(strings.Replace(show, "asks you", "wants you", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustRun("put", "invite.email", "en", file); !strings.Contains(out, "version 3") {
		t.Fatal(out)
	}
	mustRun("activate", "invite.email", "en", "3")
	html := filepath.Join(dir, "preview.html")
	if out := mustRun("preview", "invite.email", "en", "--out", html); !strings.Contains(out, "Subject: Alice Martin wants you to chat on Beckon") {
		t.Fatal(out)
	}
	if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), `<a href="http://127.0.0.1:8080/i/sample-token"`) {
		t.Fatalf("%v %s", err, b)
	}
	if out := mustRun("preview", "invite.sms", "fr"); !strings.Contains(out, "GSM-7, 1 segment") {
		t.Fatal(out)
	}
	// Errors name what is wrong.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"activate", "invite.email", "en", "9"}, "template_version_not_found"},
		{[]string{"show", "invite.fax", "en"}, "template_not_found"},
		{[]string{"activate", "invite.email", "en", "two"}, "must be a number"},
		{[]string{"put", "invite.email", "en", script}, `no "=== text ===" line`},
		{[]string{"frobnicate"}, "unknown templates command"},
	} {
		if _, _, err := beckon(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want %q", c.args, err, c.want)
		}
	}
	cli["BECKON_API_KEY"] = ""
	if _, _, err := beckon("list"); err == nil || !strings.Contains(err.Error(), "BECKON_API_KEY") {
		t.Fatal(err)
	}
}
