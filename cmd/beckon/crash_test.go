package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// buildBinary builds ./cmd/beckon once for tests that need a real process.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "beckon")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs `beckon serve` as a child process and waits for it.
func startProcess(t *testing.T, bin string, env map[string]string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "BECKON_ENV_FILE="+os.DevNull) // not a stray .env
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	eventually(t, "the server", func() bool {
		resp, err := http.Get("http://" + env["BECKON_ADDR"] + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return cmd
}

// TestCrashLosesNothing kills the server (SIGKILL) in the middle of a burst
// of 200 invites and starts it again: every invite the API acknowledged is
// delivered at least once, and only what the workers had on the wire (one
// message each) is sent twice.
func TestCrashLosesNothing(t *testing.T) {
	bin := buildBinary(t)
	mailer := testenv.StartSMTP(t)
	mailer.SetDelay(5 * time.Millisecond) // the kill finds batches half sent
	env := inviteEnv(t, testenv.SQLite(t), mailer.Addr)
	env["BECKON_DELIVERY_LEASE"] = "2s" // what the killed workers held comes back soon
	key := createKey(t, env, "directory,invite")
	proc := startProcess(t, bin, env)
	c := client{t: t, base: "http://" + env["BECKON_ADDR"], key: key}
	seedInviter(t, c)

	var (
		mu       sync.Mutex
		accepted []string // recipients of acknowledged invites
		next     = 0
		wg       sync.WaitGroup
	)
	burst := func(until int) {
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					if next >= until {
						mu.Unlock()
						return
					}
					to := fmt.Sprintf("crash%03d@example.org", next)
					next++
					mu.Unlock()
					req, _ := http.NewRequest("POST", c.base+"/v1/invites", strings.NewReader(
						fmt.Sprintf(`{"inviter":"alice","identifier":%q,"chat":{"id":"chat_1","kind":"one_on_one"}}`, to)))
					req.Header.Set("Authorization", "Bearer "+key)
					req.Header.Set("Content-Type", "application/json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return // the server died under this request: not acknowledged
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated {
						mu.Lock()
						accepted = append(accepted, to)
						mu.Unlock()
					}
				}
			}()
		}
	}
	burst(200)
	eventually(t, "half the burst", func() bool { mu.Lock(); defer mu.Unlock(); return len(accepted) >= 100 })
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = proc.Process.Wait()
	wg.Wait()
	killedAt := len(accepted)

	startProcess(t, bin, env)
	burst(200) // the rest of the 200 after the restart
	wg.Wait()

	eventually(t, "every acknowledged invite delivered", func() bool {
		got := map[string]bool{}
		for _, m := range mailer.Mails() {
			got[m.To[0]] = true
		}
		for _, to := range accepted {
			if !got[to] {
				return false
			}
		}
		return true
	})
	sent := map[string]int{}
	for _, m := range mailer.Mails() {
		sent[m.To[0]]++
	}
	twice := 0
	for _, n := range sent {
		twice += n - 1
	}
	t.Logf("%d acknowledged before the kill, %d in all; %d emails received, %d sent again", killedAt, len(accepted), len(mailer.Mails()), twice)
	if len(accepted) < 150 {
		t.Fatalf("only %d of 200 invites acknowledged", len(accepted))
	}
	if workers, _ := strconv.Atoi(env["BECKON_WORKERS"]); twice > workers {
		t.Fatalf("%d messages sent twice after the kill; at most one per worker (%d) was on the wire", twice, workers)
	}
}
