package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// envFunc is a getenv over env. Unless env names one, the env file is
// empty: a stray .env in this folder must not change what tests see.
func envFunc(env map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "BECKON_ENV_FILE" {
			return os.DevNull
		}
		return ""
	}
}

// createKey runs `beckon keys create` and returns the key from the last line.
func createKey(t *testing.T, env map[string]string, scopes string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "create", "--name", "k" + scopes, "--scopes", scopes}, envFunc(env), nil, &out, io.Discard); err != nil {
		t.Fatalf("keys create: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1]
}

// startServer runs `beckon serve` until the test ends and waits for /healthz.
func startServer(t *testing.T, env map[string]string) (base string, logs *testenv.SyncBuffer) {
	t.Helper()
	logs = &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envFunc(env), nil, io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	base = "http://" + env["BECKON_ADDR"]
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, logs
			}
		}
		select {
		case err := <-done:
			done <- nil // for the cleanup, which waits for serve to return
			t.Fatalf("serve stopped: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type client struct {
	t    *testing.T
	base string
	key  string
}

func (c client) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServe is the README's walk-through against the real binary's run,
// on SQLite, PostgreSQL and PostgreSQL behind PgBouncer, with Redis rate
// limits: migrate (twice, as each deploy does), keys create, then serve.
func TestServe(t *testing.T) {
	redisURL := testenv.Redis(t)
	db := 0
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		db++ // a Redis database of its own, so the engines' limits do not add up
		redisDB := strings.TrimSuffix(redisURL, "/0") + "/" + strconv.Itoa(db)
		env := map[string]string{"BECKON_DATABASE_URL": e.URL, "BECKON_ADDR": freeAddr(t), "BECKON_REDIS_URL": redisDB,
			"BECKON_LIMIT_RESOLVE_PER_REQUESTER": "5/m"}
		for i, want := range []string{"applied 0001_", "schema is up to date"} {
			var out bytes.Buffer
			if err := run(context.Background(), []string{"migrate"}, envFunc(env), nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), want) {
				t.Fatalf("migrate, run %d: %v\n%s", i+1, err, out.String())
			}
		}
		key := createKey(t, env, "directory,resolve")
		base, logs := startServer(t, env)
		c := client{t: t, base: base, key: key}
		// Redis outlives the test: a requester of its own keeps earlier
		// runs' counts out of this one.
		bob := fmt.Sprintf("bob%d", time.Now().UnixNano())

		steps := []struct{ method, path, body string }{
			{"PUT", "/v1/tenants/contoso", `{"name":"Contoso","domains":["contoso.com"],"region":"FR"}`},
			{"PUT", "/v1/accounts/alice", `{"tenant_id":"contoso","display_name":"Alice Martin","identifiers":["alice@contoso.com","+33612345678"]}`},
			{"PUT", "/v1/accounts/" + bob, `{"tenant_id":null,"display_name":"Bob","region":"FR","identifiers":["bob@example.org"]}`},
		}
		for _, s := range steps {
			if code, m := c.do(s.method, s.path, s.body); code != 200 {
				t.Fatalf("%s %s: %d %v", s.method, s.path, code, m)
			}
		}
		code, m := c.do("POST", "/v1/resolve", `{"requester":"`+bob+`","identifier":"06 12 34 56 78"}`)
		if code != 200 || m["match"] != "account" || m["account"].(map[string]any)["id"] != "alice" {
			t.Fatalf("resolve by national phone: %d %v", code, m)
		}
		c.do("PATCH", "/v1/accounts/alice", `{"discoverable":false}`)
		if _, m := c.do("POST", "/v1/resolve", `{"requester":"`+bob+`","identifier":"06 12 34 56 78"}`); m["match"] != "none" {
			t.Fatalf("opted-out resolve: %v", m)
		}
		// The phone above was charged once; four more new identifiers
		// make five, and a sixth is refused.
		for i := 0; i < 4; i++ {
			c.do("POST", "/v1/resolve", fmt.Sprintf(`{"requester":"%s","identifier":"x%d@example.com"}`, bob, i))
		}
		if code, m := c.do("POST", "/v1/resolve", `{"requester":"`+bob+`","identifier":"x9@example.com"}`); code != 429 {
			t.Fatalf("6th new identifier in a minute: %d %v", code, m)
		}
		if code, body := get(t, base+"/readyz"); code != 200 || !strings.Contains(body, `"redis":"ok"`) || !strings.Contains(body, `"status":"ok"`) {
			t.Fatalf("readyz: %d %s", code, body)
		}
		if _, body := get(t, base+"/metrics"); !strings.Contains(body, `beckon_rate_limited_total{limit="requester"} 1`) {
			t.Fatalf("metrics lack the rate-limit rejection")
		}
		for _, secret := range []string{key, "alice@contoso.com", "+33612345678", "bob@example.org"} {
			if strings.Contains(logs.String(), secret) {
				t.Fatalf("log contains %q", secret)
			}
		}
	})
}

// TestServeRedisDown: with Redis configured but gone, the service keeps
// serving with in-process limits and says so in the log, the metric and
// /readyz.
func TestServeRedisDown(t *testing.T) {
	env := map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": freeAddr(t),
		"BECKON_REDIS_URL": "redis://" + freeAddr(t) + "/0"}
	key := createKey(t, env, "directory,resolve")
	base, logs := startServer(t, env)
	c := client{t: t, base: base, key: key}
	if code, m := c.do("PUT", "/v1/accounts/a", `{"display_name":"A","identifiers":["a@example.com"]}`); code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	if code, m := c.do("POST", "/v1/resolve", `{"requester":"a","identifier":"a@example.com"}`); code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	code, body := get(t, base+"/readyz")
	if code != 200 || !strings.Contains(body, `"status":"degraded"`) || !strings.Contains(body, "rate limits kept in process") {
		t.Fatalf("readyz: %d %s", code, body)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "beckon_ratelimit_fallback 1") {
		t.Fatal("fallback metric not set")
	}
	if !strings.Contains(logs.String(), "redis rate limiter unavailable") {
		t.Fatalf("no log line about the fallback:\n%s", logs)
	}
}

// TestKeysCommands: keys create, list and revoke, each a process of its
// own, on every engine (behind PgBouncer, each meets server connections
// the one before used).
func TestKeysCommands(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) { keysCommands(t, e) })
}

func keysCommands(t *testing.T, e testenv.Engine) {
	env := map[string]string{"BECKON_DATABASE_URL": e.URL}
	ctx := context.Background()
	key := createKey(t, env, "resolve,invite")
	if !strings.HasPrefix(key, "bk_") || strings.Contains(key, " ") {
		t.Fatalf("last line is not the key alone: %q", key)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"keys", "list"}, envFunc(env), nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "resolve,invite") || strings.Contains(out.String(), key) {
		t.Fatalf("keys list: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"keys", "revoke", "kresolve,invite"}, envFunc(env), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"keys", "revoke", "kresolve,invite"},
		{"keys", "create", "--name", "x", "--scopes", "resolve,superuser"},
		{"keys", "create", "--name", "", "--scopes", "resolve"},
		{"keys", "create", "--name", "x"},
		{"keys", "rotate"},
		{"nonsense"},
		{},
	} {
		if err := run(ctx, args, envFunc(env), nil, io.Discard, io.Discard); err == nil {
			t.Errorf("beckon %v succeeded", args)
		}
	}
	// --replace: running the same create twice works, and the first key
	// is revoked.
	for i := range 2 {
		args := []string{"keys", "create", "--name", "walkthrough", "--scopes", "resolve", "--replace"}
		if err := run(ctx, args, envFunc(env), nil, io.Discard, io.Discard); err != nil {
			t.Fatalf("keys create --replace, run %d: %v", i+1, err)
		}
	}
	if err := run(ctx, []string{"keys", "create", "--name", "walkthrough", "--scopes", "resolve"}, envFunc(env), nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "key_name_taken") {
		t.Fatalf("a second create without --replace: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "list"}, envFunc(env), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var listed, active int
	for _, line := range strings.Split(out.String(), "\n") {
		if fields := strings.Fields(line); len(fields) == 4 && fields[0] == "walkthrough" {
			listed++
			if fields[3] == "-" {
				active++
			}
		}
	}
	if listed != 2 || active != 1 {
		t.Fatalf("keys list after two replaces:\n%s", out.String())
	}
	// The errors say what to do.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "create", "--name", "x", "--scopes", "bogus"}, "the scopes are resolve, invite, link, directory, requests, admin, templates"},
		{[]string{"keys", "create", "--name", "x"}, "give at least one scope of resolve, invite,"},
		{[]string{"keys", "create", "--scopes", "resolve"}, "keys create needs --name NAME"},
		{[]string{"keys", "create", "--name", " ", "--scopes", "resolve"}, "keys create needs --name NAME"},
		{[]string{"keys", "create", "--name", "x", "--scopes", "resolve", "extra"}, `not "extra"`},
	} {
		if err := run(ctx, c.args, envFunc(env), nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("beckon %v: %v; want %q", c.args, err, c.want)
		}
	}
}

// TestHelp: --help on a command prints its flags and succeeds; it does
// not open the database.
func TestHelp(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"BECKON_DATABASE_URL": "sqlite://" + filepath.Join(dir, "beckon.db"), "BECKON_ADDR": freeAddr(t)}
	for _, c := range []struct {
		args         []string
		stdout, flag string
	}{
		{[]string{"serve", "--help"}, "", "-workers"},
		{[]string{"serve", "-h"}, "", "-workers"},
		{[]string{"keys", "create", "--help"}, "", "-scopes"},
		{[]string{"help"}, "keys create --name NAME", ""},
		{[]string{"--help"}, "keys create --name NAME", ""},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), c.args, envFunc(env), nil, &stdout, &stderr)
		if err != nil || !strings.Contains(stdout.String(), c.stdout) || !strings.Contains(stderr.String(), c.flag) {
			t.Errorf("beckon %v: %v\nstdout: %s\nstderr: %s", c.args, err, stdout.String(), stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "beckon.db")); err == nil {
		t.Error("--help opened the database")
	}
	// help needs no valid configuration.
	if err := run(context.Background(), []string{"help"}, envFunc(map[string]string{"BECKON_LOG_LEVEL": "loud"}), nil, io.Discard, io.Discard); err != nil {
		t.Errorf("help with a bad configuration: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for key, value := range map[string]string{
		"BECKON_LIMIT_PER_KEY":           "lots",
		"BECKON_DB_MAX_CONNS":            "0",
		"BECKON_AUTO_MIGRATE":            "maybe",
		"BECKON_LOG_LEVEL":               "loud",
		"BECKON_DATABASE_URL":            "mysql://x",
		"BECKON_IMPORT_MAX_BYTES":        "-5",
		"BECKON_KEY_CACHE_TTL":           "soon",
		"BECKON_TRUSTED_PROXIES":         "10.0.0.0/8,lb",
		"BECKON_DATABASE_READ_URL":       "mysql://replica",
		"BECKON_DATABASE_READ_MAX_LAG":   "0s",
		"BECKON_SPAM_DUPLICATES":         "5",
		"BECKON_SPAM_NEW_RECIPIENTS":     "0/h",
		"BECKON_SPAM_HOOK_URL":           "ftp://classifier",
		"BECKON_SPAM_HOOK_TIMEOUT":       "1m",
		"BECKON_SPAM_HOOK_FAILURE":       "ajar",
		"BECKON_SPAM_DOMAINS_TTL":        "never",
		"BECKON_SPAM_FINGERPRINT_SECRET": "short",
	} {
		env := map[string]string{key: value, "BECKON_ADDR": freeAddr(t)}
		if key != "BECKON_DATABASE_URL" {
			env["BECKON_DATABASE_URL"] = testenv.SQLite(t).URL
		}
		err := run(context.Background(), []string{"serve"}, envFunc(env), nil, io.Discard, io.Discard)
		if err == nil || (key != "BECKON_DATABASE_URL" && !strings.Contains(err.Error(), key)) {
			t.Errorf("%s=%s: %v", key, value, err)
		}
	}
	// Replicas of a SQLite database do not exist.
	if _, err := loadConfig(envFunc(map[string]string{"BECKON_DATABASE_READ_URL": "postgres://127.0.0.1/x"})); err == nil ||
		!strings.Contains(err.Error(), "BECKON_DATABASE_READ_URL needs a PostgreSQL") {
		t.Errorf("read replicas of SQLite: %v", err)
	}
	// A SQLite file in a folder that does not exist: the error names it.
	missing := filepath.Join(t.TempDir(), "nope", "beckon.db")
	err := run(context.Background(), []string{"migrate"}, envFunc(map[string]string{"BECKON_DATABASE_URL": "sqlite://" + missing}), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("SQLite in a missing folder: %v", err)
	}
	// Twilio credentials of the wrong shape would fail every SMS for good:
	// refuse to start, naming the variable and never showing the token.
	const sid, token = "AC0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		env map[string]string
		key string
	}{
		{map[string]string{"TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": "abc-def", "TWILIO_FROM": "+15005550006"}, "TWILIO_AUTH_TOKEN"},
		{map[string]string{"TWILIO_ACCOUNT_SID": "ACabc", "TWILIO_AUTH_TOKEN": token, "TWILIO_FROM": "+15005550006"}, "TWILIO_ACCOUNT_SID"},
		{map[string]string{"TWILIO_AUTH_TOKEN": token}, "TWILIO_ACCOUNT_SID"},
		{map[string]string{"TWILIO_ACCOUNT_SID": sid, "TWILIO_FROM": "+15005550006"}, "TWILIO_AUTH_TOKEN"},
		{map[string]string{"TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": token, "TWILIO_MESSAGING_SERVICE_SID": "MGxyz"}, "TWILIO_MESSAGING_SERVICE_SID"},
		{map[string]string{"TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": token, "TWILIO_FROM": "06 12 34 56 78"}, "TWILIO_FROM"},
	} {
		c.env["BECKON_DATABASE_URL"], c.env["BECKON_ADDR"] = testenv.SQLite(t).URL, freeAddr(t)
		// A server that starts anyway stops after a while and returns nil.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, []string{"serve"}, envFunc(c.env), nil, io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%v: %v; want an error naming %s", c.env, err, c.key)
		} else if tok := c.env["TWILIO_AUTH_TOKEN"]; tok != "" && strings.Contains(err.Error(), tok) {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}

// TestEnvFile: run reads ./.env (or BECKON_ENV_FILE) under the
// environment, which wins.
func TestEnvFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	dbURL := func(name string) string { return "sqlite://" + filepath.Join(dir, name) }
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	migrate := func(env map[string]string) error {
		if _, ok := env["BECKON_ENV_FILE"]; !ok {
			env["BECKON_ENV_FILE"] = "" // the default, ./.env
		}
		return run(context.Background(), []string{"migrate"}, envFunc(env), nil, io.Discard, io.Discard)
	}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	write(".env", "# copied from .env.example\nexport BECKON_DATABASE_URL=\""+dbURL("file.db")+"\"\nBECKON_LOG_LEVEL=debug # noisy\n")
	write("other.env", "BECKON_DATABASE_URL='"+dbURL("other.db")+"'\n")

	t.Run("OKDotEnv", func(t *testing.T) {
		if err := migrate(map[string]string{}); err != nil || !exists("file.db") {
			t.Fatalf("%v; file.db made: %v", err, exists("file.db"))
		}
	})
	t.Run("OKEnvironmentWins", func(t *testing.T) {
		if err := migrate(map[string]string{"BECKON_DATABASE_URL": dbURL("env.db")}); err != nil || !exists("env.db") {
			t.Fatalf("%v; env.db made: %v", err, exists("env.db"))
		}
	})
	t.Run("OKEnvFile", func(t *testing.T) {
		if err := migrate(map[string]string{"BECKON_ENV_FILE": "other.env"}); err != nil || !exists("other.db") {
			t.Fatalf("%v; other.db made: %v", err, exists("other.db"))
		}
	})
	t.Run("ErrEnvFileMissing", func(t *testing.T) {
		if err := migrate(map[string]string{"BECKON_ENV_FILE": "missing.env"}); err == nil || !strings.Contains(err.Error(), "missing.env") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrMalformedLine", func(t *testing.T) {
		write(".env", "BECKON_ADDR=127.0.0.1:9\nBECKON_LOG_LEVEL debug\n")
		if err := migrate(map[string]string{"BECKON_DATABASE_URL": dbURL("env.db")}); err == nil || !strings.Contains(err.Error(), ".env:2") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrFromFileNamesTheKey", func(t *testing.T) {
		write(".env", "BECKON_LOG_LEVEL=loud\n")
		if err := migrate(map[string]string{"BECKON_DATABASE_URL": dbURL("env.db")}); err == nil || !strings.Contains(err.Error(), "BECKON_LOG_LEVEL") {
			t.Fatalf("err = %v", err)
		}
	})
}
