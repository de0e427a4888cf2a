package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// TestPprofListener: profiles are served on BECKON_PPROF_ADDR only, never
// on the public listener, and are off by default.
func TestPprofListener(t *testing.T) {
	env := map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": freeAddr(t)}
	base, _ := startServer(t, env)
	if code, _ := get(t, base+"/debug/pprof/"); code != 404 {
		t.Errorf("public listener, pprof off: /debug/pprof/ answered %d, want 404", code)
	}

	env = map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": freeAddr(t), "BECKON_PPROF_ADDR": freeAddr(t)}
	base, logs := startServer(t, env)
	if code, _ := get(t, base+"/debug/pprof/"); code != 404 {
		t.Errorf("public listener, pprof on: /debug/pprof/ answered %d, want 404", code)
	}
	code, body := get(t, "http://"+env["BECKON_PPROF_ADDR"]+"/debug/pprof/goroutine?debug=1")
	if code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("pprof listener: %d %.200s", code, body)
	}
	if !strings.Contains(logs.String(), "profiling listener on") {
		t.Errorf("no warning in the log that the profiling listener is on:\n%s", logs)
	}

	same := freeAddr(t)
	env = map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": same, "BECKON_PPROF_ADDR": same}
	err := run(context.Background(), []string{"serve"}, envFunc(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "BECKON_PPROF_ADDR") {
		t.Errorf("BECKON_PPROF_ADDR = BECKON_ADDR: %v, want a configuration error", err)
	}
}
