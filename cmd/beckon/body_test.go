package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// onlyReader hides the length of a body, so that it is sent chunked.
type onlyReader struct{ io.Reader }

// TestBodyTooLarge: a body over the limit is 413 request_too_large
// whatever it holds, with or without Content-Length (chunked).
func TestBodyTooLarge(t *testing.T) {
	env := map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": freeAddr(t)}
	key := createKey(t, env, "resolve,invite")
	base, _ := startServer(t, env)
	body := strings.Repeat("a", 2<<20)
	for _, path := range []string{"/v1/resolve", "/v1/resolve/batch", "/v1/invites"} {
		for _, chunked := range []bool{false, true} {
			var r io.Reader = strings.NewReader(body)
			if chunked {
				r = onlyReader{r}
			}
			req, _ := http.NewRequest("POST", base+path, r)
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s (chunked %v): %v", path, chunked, err)
			}
			var e struct{ Error struct{ Code string } }
			_ = json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if gotChunked := len(req.TransferEncoding) > 0 || req.ContentLength <= 0; gotChunked != chunked {
				t.Fatalf("%s: sent chunked %v; want %v", path, gotChunked, chunked)
			}
			if resp.StatusCode != 413 || e.Error.Code != "request_too_large" {
				t.Errorf("%s (chunked %v): %d %s; want 413 request_too_large", path, chunked, resp.StatusCode, e.Error.Code)
			}
		}
	}
}
