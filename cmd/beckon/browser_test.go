package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestPageInChromium clicks through the recipient's page in a real
// headless Chromium: accept, the development sign-up, and the chat joined;
// a hostile inviter name shown as text with no script run; the French page.
func TestPageInChromium(t *testing.T) {
	var cookie string
	t.Cleanup(func() { noChromiumLeftovers(t, cookie) }) // runs after the browser quit: cleanups run last first
	dir := t.TempDir()
	browser := testenv.Chromium(t, dir)
	cookie = singletonCookie(t, dir)
	mailer := testenv.StartSMTP(t)
	env := inviteEnv(t, testenv.SQLite(t), mailer.Addr)
	env["BECKON_PUBLIC_URL"] = "http://" + env["BECKON_ADDR"]
	env["BECKON_PRODUCT_NAME"] = "Contoso Chat"
	key := createKey(t, env, "directory,invite")
	base, _ := startServer(t, env)
	c := client{t: t, base: base, key: key}
	seedInviter(t, c)
	if code, m := c.do("PUT", "/v1/accounts/mallory", `{"display_name":"Mallory <img src=x onerror=alert(1)> evil[.]com","identifiers":["mallory@example.com"]}`); code != 200 {
		t.Fatalf("%d %v", code, m)
	}

	linkFor := func(inviter, to, locale string) (string, string) {
		t.Helper()
		before := len(mailer.Mails())
		code, m := c.do("POST", "/v1/invites", fmt.Sprintf(`{"inviter":%q,"identifier":%q,"locale":%q,"chat":{"id":"chat_9","kind":"group","title":"Quote 2026"}}`, inviter, to, locale))
		if code != 201 {
			t.Fatalf("invite: %d %v", code, m)
		}
		eventually(t, "the email", func() bool { return len(mailer.Mails()) > before })
		return pageLinkRE.FindString(mailer.Mails()[before].Raw), m["id"].(string)
	}

	var dialogs atomic.Int32
	go func() {
		for _, err := range chromedp.Events(browser, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			dialogs.Add(1)
			_, _ = chromedp.Call(browser, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	timed := func() (context.Context, context.CancelFunc) { return context.WithTimeout(browser, 30*time.Second) }
	text := func(ctx context.Context, id string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("text of #%s: %v", id, err)
		}
		return s
	}
	do := func(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("AcceptFlow", func(t *testing.T) {
		ctx, cancel := timed()
		defer cancel()
		link, id := linkFor("alice", "rita@example.net", "en")
		do(ctx, chromedp.EmulateViewport(375, 740), chromedp.Navigate(link))                                                // a phone
		if name, badge := text(ctx, "inviter-name"), text(ctx, "external"); name != "Alice Martin" || badge != "External" { // markup is removed
			t.Fatalf("name %q, badge %q", name, badge)
		}
		if product := text(ctx, "product"); product != "Contoso Chat" {
			t.Fatalf("product %q", product)
		}
		do(ctx,
			chromedp.Click(chromedp.ID("accept")),
			chromedp.WaitVisible(chromedp.ID("display-name")),
		)
		// The sign-up page on a phone: the name field spans the card, the
		// text is readable, nothing scrolls sideways.
		layout, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
			const i = document.getElementById("display-name"), card = document.querySelector(".card");
			const cs = getComputedStyle(card);
			return [i.getBoundingClientRect().width, card.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight),
				parseFloat(getComputedStyle(i).fontSize), document.documentElement.scrollWidth, window.innerWidth];
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		if len(layout) != 5 || layout[0] < layout[1]-1 || layout[2] < 16 || layout[3] > layout[4] {
			t.Fatalf("sign-up layout on a phone (input width, card inner width, font px, scroll width, viewport): %v", layout)
		}
		if product := text(ctx, "product"); product != "Contoso Chat" {
			t.Fatalf("product on the sign-up page %q", product)
		}
		do(ctx,
			chromedp.SendKeys(chromedp.ID("display-name"), "Rita"),
			chromedp.Click(chromedp.ID("signup")),
			chromedp.WaitVisible(chromedp.ID("message")),
		)
		if welcome := text(ctx, "message"); !strings.Contains(welcome, "joined the group chat “Quote 2026”") {
			t.Fatalf("welcome %q", welcome)
		}
		eventually(t, "the invite accepted", func() bool {
			_, m := c.do("GET", "/v1/invites/"+id, "")
			return m["status"] == "accepted"
		})
	})
	t.Run("TwoTabs", func(t *testing.T) {
		ctx, cancel := timed()
		defer cancel()
		link, id := linkFor("alice", "tabs@example.net", "en")
		do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("decline")))
		tab2, cancelTab2 := chromedp.NewContext(ctx) // a second tab of the same browser
		do(tab2, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("decline")))
		cancelTab2()
		do(ctx, chromedp.Click(chromedp.ID("decline")), chromedp.WaitVisible(chromedp.ID("message")))
		if msg := text(ctx, "message"); !strings.Contains(msg, "You declined") {
			t.Fatalf("decline from the first tab: %q", msg)
		}
		if _, m := c.do("GET", "/v1/invites/"+id, ""); m["status"] != "declined" {
			t.Fatalf("invite %v", m)
		}
	})
	t.Run("HostileNameSanitised", func(t *testing.T) {
		ctx, cancel := timed()
		defer cancel()
		link, _ := linkFor("mallory", "victim@example.net", "en")
		do(ctx, chromedp.Navigate(link), chromedp.Sleep(300*time.Millisecond))
		images, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.images.length`))
		if err != nil {
			t.Fatal(err)
		}
		if name := text(ctx, "inviter-name"); name != "Mallory" || images != 0 || dialogs.Load() != 0 {
			t.Fatalf("name %q, %d images, %d dialogs", name, images, dialogs.Load())
		}
	})
	// The HTML email of a hostile inviter, opened as a mail client would
	// show it: the name and chat title are text, nothing runs, nothing
	// loads from elsewhere.
	t.Run("HostileEmailHTML", func(t *testing.T) {
		ctx, cancel := timed()
		defer cancel()
		before := len(mailer.Mails())
		code, m := c.do("POST", "/v1/invites", `{"inviter":"mallory","identifier":"victim2@example.net","locale":"en",`+
			`"chat":{"id":"chat_x","kind":"group","title":"<script>alert(2)</script><img src=https://evil.example/t.png> \"><iframe src=//evil.example>"}}`)
		if code != 201 {
			t.Fatalf("invite: %d %v", code, m)
		}
		eventually(t, "the email", func() bool { return len(mailer.Mails()) > before })
		body := htmlPart(t, mailer.Mails()[before].Raw)
		file := filepath.Join(t.TempDir(), "mail.html")
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		do(ctx, chromedp.Navigate("file://"+file), chromedp.Sleep(300*time.Millisecond))
		counts, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.images.length, document.scripts.length,
			document.querySelectorAll("iframe,object,embed,link,[src],[style*=url]").length,
			performance.getEntriesByType("resource").length]`))
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 4 || counts[0]+counts[1]+counts[2]+counts[3] != 0 || dialogs.Load() != 0 {
			t.Fatalf("images, scripts, loading elements, resources fetched: %v; dialogs %d\n%s", counts, dialogs.Load(), body)
		}
		page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(page, "Mallory") || strings.Contains(page, "evil") || strings.Contains(page, "<script") {
			t.Fatalf("the email shows %q", page)
		}
	})
	t.Run("French", func(t *testing.T) {
		ctx, cancel := timed()
		defer cancel()
		link, _ := linkFor("alice", "rene@example.net", "fr")
		do(ctx, chromedp.Navigate(link))
		lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
		if err != nil {
			t.Fatal(err)
		}
		if accept, badge := text(ctx, "accept"), text(ctx, "external"); lang != "fr" || accept != "Accepter et s'inscrire" || badge != "Externe" {
			t.Fatalf("lang %q, accept %q, badge %q", lang, accept, badge)
		}
	})
}

// singletonCookie returns the cookie of the running Chromium's profile in
// dir: the same value names the folder of its singleton socket, which
// Chromium makes in its temporary folder.
func singletonCookie(t *testing.T, dir string) string {
	t.Helper()
	cookie, err := os.Readlink(filepath.Join(dir, "profile", "SingletonCookie"))
	if err != nil {
		t.Fatalf("the profile has no singleton cookie (has Chromium changed?): %v", err)
	}
	return cookie
}

// noChromiumLeftovers fails when a /tmp/org.chromium.Chromium.* folder of
// the Chromium with this cookie is left after it quit. Folders of other
// Chromiums on the machine (other tests, other people) are not ours.
func noChromiumLeftovers(t *testing.T, cookie string) {
	if cookie == "" {
		return // the browser did not start
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "org.chromium.Chromium.*"))
	for _, d := range dirs {
		if c, err := os.Readlink(filepath.Join(d, "SingletonCookie")); err == nil && c == cookie {
			t.Errorf("Chromium left %s behind", d)
		}
	}
}

// htmlPart returns the decoded text/html part of a raw MIME message.
func htmlPart(t *testing.T, raw string) string {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(h textproto.MIMEHeader, body io.Reader) string
	walk = func(h textproto.MIMEHeader, body io.Reader) string {
		mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return ""
				}
				if s := walk(p.Header, p); s != "" {
					return s
				}
			}
		}
		if mt != "text/html" {
			return ""
		}
		switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
		case "quoted-printable":
			body = quotedprintable.NewReader(body)
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, body)
		}
		b, _ := io.ReadAll(body)
		return string(b)
	}
	s := walk(textproto.MIMEHeader(msg.Header), msg.Body)
	if s == "" {
		t.Fatal("no text/html part in the message")
	}
	return s
}
