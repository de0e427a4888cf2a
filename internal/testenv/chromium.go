package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium starts a headless Debian Chromium (BECKON_TEST_CHROMIUM, else
// chromium on PATH) and returns a browser context that ends with the test.
// The browser keeps its profile in dir/profile and its temporary files in
// dir/tmp (its TMPDIR), so that nothing of it stays in the system's
// temporary folder; pass a t.TempDir(), removed after the browser quit.
// At the end of the test the browser is asked to quit, then stopped.
// Without Chromium the test skips on a developer's machine and fails under
// CI.
func Chromium(t testing.TB, dir string) context.Context {
	t.Helper()
	path := os.Getenv("BECKON_TEST_CHROMIUM")
	if path == "" {
		path, _ = exec.LookPath("chromium")
	}
	if path == "" {
		need(t, "BECKON_TEST_CHROMIUM", "Chromium")
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Env("TMPDIR="+tmp),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		quit, cancelQuit := context.WithTimeout(ctx, 10*time.Second)
		defer cancelQuit()
		_ = chromedp.Cancel(quit) // Browser.close: Chromium removes what it made
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
