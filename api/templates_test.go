package api_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/internal/app"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/templates"
)

type templateDetail struct {
	ActiveVersion int `json:"active_version"`
	Versions      []struct {
		Version   int    `json:"version"`
		Active    bool   `json:"active"`
		Subject   string `json:"subject"`
		CreatedBy string `json:"created_by"`
	}
	History []struct {
		Version int
		Action  string
		By      string
	}
}

const newSubject = "Nouveau : {{.InviterName}} vous invite sur {{.Product}}"

func TestTemplates(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		h := newHarness(t, e, generous)
		h.seed()
		ops := h.keys[auth.ScopeTemplates]

		// Every name × locale of the defaults, version 1 active.
		r := h.call("GET", "/v1/templates", ops, "", nil)
		want(t, r, 200, "")
		var list struct {
			Items []struct {
				Name, Locale  string
				ActiveVersion int `json:"active_version"`
			}
		}
		r.decode(t, &list)
		if len(list.Items) != 6 {
			t.Fatalf("%s", r.Body)
		}
		for _, it := range list.Items {
			if it.ActiveVersion != 1 {
				t.Fatalf("%+v", it)
			}
		}

		// A new version is saved, not active; who saved it is kept.
		var v1 templateDetail
		h.call("GET", "/v1/templates/invite.email/fr", ops, "", nil).decode(t, &v1)
		src := map[string]any{"subject": newSubject, "text": "Ouvrir : {{.Link}}\n", "html": `<p><a href="{{.Link}}">Ouvrir</a></p>`}
		r = h.call("PUT", "/v1/templates/invite.email/fr", ops, "application/json", jsonBody(t, src))
		want(t, r, 201, "")
		if !strings.Contains(string(r.Body), `"version":2`) || !strings.Contains(string(r.Body), `"created_by":"templates"`) || !strings.Contains(string(r.Body), `"active":false`) {
			t.Fatalf("%s", r.Body)
		}
		// Still version 1 in messages.
		h.do("POST", "/v1/invites", inviteBody("alice", "one@example.org"))
		if m := h.drain(); len(m) != 1 || strings.HasPrefix(m[0].Subject, "Nouveau") {
			t.Fatalf("%+v", m)
		}

		// Preview of the new version with given hostile data.
		r = h.call("POST", "/v1/templates/invite.email/fr/preview", ops, "application/json",
			[]byte(`{"version": 2, "data": {"inviter_name": "<script>x</script> Eve"}}`))
		want(t, r, 200, "")
		if !strings.Contains(string(r.Body), `"subject":"Nouveau`) || strings.Contains(string(r.Body), "<script>") {
			t.Fatalf("%s", r.Body)
		}

		// Activate: messages use version 2 and say so.
		r = h.call("POST", "/v1/templates/invite.email/fr/activate", ops, "application/json", []byte(`{"version": 2}`))
		want(t, r, 200, "")
		r = h.do("POST", "/v1/invites", inviteBody("alice", "two@example.org"))
		var inv struct{ ID string }
		r.decode(t, &inv)
		if m := h.drain(); len(m) != 1 || !strings.HasPrefix(m[0].Subject, "Nouveau : Alice Martin vous invite sur Beckon") {
			t.Fatalf("%+v", m)
		}
		if got, err := h.db.MessageTemplates(context.Background(), inv.ID); err != nil || len(got) != 1 || got[0] != "fr/2" {
			t.Fatalf("%v %v", got, err)
		}
		// fr-CA falls back to fr.
		body := inviteBody("alice", "three@example.org")
		body["locale"] = "fr-CA"
		h.do("POST", "/v1/invites", body)
		if m := h.drain(); len(m) != 1 || !strings.HasPrefix(m[0].Subject, "Nouveau") {
			t.Fatalf("%+v", m)
		}

		// Rollback is activating version 1; the history names who and what.
		r = h.call("POST", "/v1/templates/invite.email/fr/activate", h.key, "application/json", []byte(`{"version": 1}`))
		want(t, r, 200, "")
		var d templateDetail
		r.decode(t, &d)
		if d.ActiveVersion != 1 || len(d.Versions) != 2 || d.Versions[0].Version != 2 || d.Versions[0].Active || !d.Versions[1].Active {
			t.Fatalf("%s", r.Body)
		}
		var hist []string
		for _, c := range d.History {
			hist = append(hist, c.Action+" "+string(rune('0'+c.Version))+" "+c.By)
		}
		if got := strings.Join(hist, ", "); got != "created 1 beckon (default), activated 1 beckon (default), created 2 templates, activated 2 templates, activated 1 all" {
			t.Fatal(got)
		}
		h.do("POST", "/v1/invites", inviteBody("alice", "four@example.org"))
		if m := h.drain(); len(m) != 1 || strings.HasPrefix(m[0].Subject, "Nouveau") {
			t.Fatalf("%+v", m)
		}

		// A new locale joins the chain: pt-BR, then pt-BR invites use it.
		sms := map[string]any{"text": "{{.InviterName}} convidou você: {{.Link}}"}
		want(t, h.call("PUT", "/v1/templates/invite.sms/pt-BR", ops, "application/json", jsonBody(t, sms)), 201, "")
		want(t, h.call("POST", "/v1/templates/invite.sms/pt-br/activate", ops, "application/json", []byte(`{"version": 1}`)), 200, "")
		r = h.call("POST", "/v1/templates/invite.sms/pt-BR/preview", ops, "application/json", nil)
		want(t, r, 200, "")
		if !strings.Contains(string(r.Body), `"encoding":"UCS-2"`) || !strings.Contains(string(r.Body), `"ucs2_characters":["ê"]`) || !strings.Contains(string(r.Body), `"segments":1`) {
			t.Fatalf("%s", r.Body)
		}
		r = h.call("POST", "/v1/templates/invite.sms/en/preview", ops, "application/json", []byte(`{}`))
		if !strings.Contains(string(r.Body), `"encoding":"GSM-7"`) {
			t.Fatalf("%s", r.Body)
		}

		// A refused version names part, line, column and reason.
		r = h.call("PUT", "/v1/templates/invite.email/en", ops, "application/json",
			jsonBody(t, map[string]any{"subject": "Hi", "text": "{{.Link}}\n  {{.Phone}}", "html": `<a href="{{.Link}}">x</a>`}))
		want(t, r, 422, "template_invalid")
		if !strings.Contains(string(r.Body), `"problems":[{"part":"text","line":2,"column":5,"reason":"unknown variable .Phone`) {
			t.Fatalf("%s", r.Body)
		}
	})
}

func TestTemplatesBadInput(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	ok := `{"subject": "Hi", "text": "{{.Link}}", "html": "<a href=\"{{.Link}}\">x</a>"}`
	for _, c := range []struct {
		name, method, path, key, body string
		status                        int
		code, field                   string
	}{
		{"no key", "GET", "/v1/templates", "", "", 401, "unauthorized", ""},
		{"wrong scope", "GET", "/v1/templates", "invite", "", 403, "insufficient_scope", ""},
		{"get unknown name", "GET", "/v1/templates/invite.fax/en", "templates", "", 404, "template_not_found", "name"},
		{"get bad locale", "GET", "/v1/templates/invite.email/english!", "templates", "", 400, "invalid_locale", "locale"},
		{"get locale without version", "GET", "/v1/templates/invite.email/de", "templates", "", 404, "template_not_found", "locale"},
		{"put unknown name", "PUT", "/v1/templates/invite.fax/en", "templates", ok, 404, "template_not_found", "name"},
		{"put bad locale", "PUT", "/v1/templates/invite.email/e", "templates", ok, 400, "invalid_locale", "locale"},
		{"put bad json", "PUT", "/v1/templates/invite.email/en", "templates", `{"subject": `, 400, "invalid_json", ""},
		{"put not an object", "PUT", "/v1/templates/invite.email/en", "templates", `[1]`, 400, "invalid_json", ""},
		{"put unknown field", "PUT", "/v1/templates/invite.email/en", "templates", `{"body": "x"}`, 400, "unknown_field", "body"},
		{"put wrong type", "PUT", "/v1/templates/invite.email/en", "templates", `{"subject": 1, "text": "x", "html": "y"}`, 400, "invalid_field", "subject"},
		{"put missing part", "PUT", "/v1/templates/invite.email/en", "templates", `{"subject": "x", "text": "{{.Link}}"}`, 400, "missing_field", "html"},
		{"put part sms lacks", "PUT", "/v1/templates/invite.sms/en", "templates", `{"text": "{{.Link}}", "subject": "x"}`, 400, "invalid_field", "subject"},
		{"put invalid", "PUT", "/v1/templates/invite.sms/en", "templates", `{"text": "{{.Nope}}"}`, 422, "template_invalid", "text"},
		{"put too large", "PUT", "/v1/templates/invite.sms/en", "templates", `{"text": "` + strings.Repeat("x", 70000) + `"}`, 413, "request_too_large", ""},
		{"preview unknown name", "POST", "/v1/templates/invite.fax/en/preview", "templates", `{}`, 404, "template_not_found", "name"},
		{"preview bad locale", "POST", "/v1/templates/invite.email/12/preview", "templates", `{}`, 400, "invalid_locale", "locale"},
		{"preview unknown version", "POST", "/v1/templates/invite.email/en/preview", "templates", `{"version": 9}`, 404, "template_version_not_found", "version"},
		{"preview version zero", "POST", "/v1/templates/invite.email/en/preview", "templates", `{"version": 0}`, 400, "invalid_field", "version"},
		{"preview bad json", "POST", "/v1/templates/invite.email/en/preview", "templates", `{`, 400, "invalid_json", ""},
		{"preview unknown data", "POST", "/v1/templates/invite.email/en/preview", "templates", `{"data": {"phone": "x"}}`, 400, "unknown_field", "phone"},
		{"preview locale without version", "POST", "/v1/templates/invite.email/de/preview", "templates", `{}`, 404, "template_not_found", "locale"},
		{"activate unknown name", "POST", "/v1/templates/invite.fax/en/activate", "templates", `{"version": 1}`, 404, "template_not_found", "name"},
		{"activate bad locale", "POST", "/v1/templates/invite.email/x_/activate", "templates", `{"version": 1}`, 400, "invalid_locale", "locale"},
		{"activate unknown version", "POST", "/v1/templates/invite.email/en/activate", "templates", `{"version": 7}`, 404, "template_version_not_found", "version"},
		{"activate negative version", "POST", "/v1/templates/invite.email/en/activate", "templates", `{"version": -1}`, 404, "template_version_not_found", "version"},
		{"activate missing version", "POST", "/v1/templates/invite.email/en/activate", "templates", `{}`, 400, "missing_field", "version"},
		{"activate bad json", "POST", "/v1/templates/invite.email/en/activate", "templates", `nope`, 400, "invalid_json", ""},
		{"activate string version", "POST", "/v1/templates/invite.email/en/activate", "templates", `{"version": "2"}`, 400, "invalid_field", "version"},
		{"activate locale without version", "POST", "/v1/templates/invite.email/de/activate", "templates", `{"version": 1}`, 404, "template_version_not_found", "version"},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := ""
			if c.key != "" {
				key = h.keys[auth.Scope(c.key)]
			}
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			r := h.call(c.method, c.path, key, "application/json", body)
			want(t, r, c.status, c.code)
			if r.field() != c.field {
				t.Fatalf("field %q; want %q (%s)", r.field(), c.field, r.Body)
			}
		})
	}
}

// TestTemplateActivationSeenByAnotherNode: a version activated through one
// node is what a second node renders within a second, on PostgreSQL
// (directly and through PgBouncer, where LISTEN would not work).
func TestTemplateActivationSeenByAnotherNode(t *testing.T) {
	for _, e := range []func(testing.TB) testenv.Engine{testenv.Postgres, testenv.PgBouncer} {
		e := e(t)
		t.Run(e.Name, func(t *testing.T) {
			h := newHarness(t, e, generous)
			other, err := app.New(context.Background(), app.Config{DatabaseURL: e.URL, AutoMigrate: true, PublicURL: "https://beckon.test", SignupURL: "https://beckon.test/signup",
				InviteTTL: time.Hour, DevOutbox: t.TempDir(), KeyCacheTTL: time.Second}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			ops := h.keys[auth.ScopeTemplates]
			render := func() string {
				r, _, err := other.Templates.Message(context.Background(), templates.InviteEmail, "fr", templates.Data{InviterName: "Alice", Link: "https://x/i/t"})
				if err != nil {
					t.Fatal(err)
				}
				return r.Subject
			}
			if s := render(); strings.HasPrefix(s, "Nouveau") {
				t.Fatal(s)
			}
			src := map[string]any{"subject": newSubject, "text": "{{.Link}}", "html": `<a href="{{.Link}}">x</a>`}
			want(t, h.call("PUT", "/v1/templates/invite.email/fr", ops, "application/json", jsonBody(t, src)), 201, "")
			time.Sleep(600 * time.Millisecond) // the other node has checked since the PUT: a saved version is not active
			if s := render(); strings.HasPrefix(s, "Nouveau") {
				t.Fatal("a version that is not active was used:", s)
			}
			want(t, h.call("POST", "/v1/templates/invite.email/fr/activate", ops, "application/json", []byte(`{"version": 2}`)), 200, "")
			start := time.Now()
			for !strings.HasPrefix(render(), "Nouveau") {
				if time.Since(start) > time.Second {
					t.Fatal("the other node did not use the new version within a second")
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("%s: seen by the other node after %v", e.Name, time.Since(start).Round(time.Millisecond))
			// Rollback, likewise.
			want(t, h.call("POST", "/v1/templates/invite.email/fr/activate", ops, "application/json", []byte(`{"version": 1}`)), 200, "")
			start = time.Now()
			for strings.HasPrefix(render(), "Nouveau") {
				if time.Since(start) > time.Second {
					t.Fatal("the other node did not see the rollback within a second")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
