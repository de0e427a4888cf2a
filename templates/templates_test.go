package templates_test

import (
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/templates"
)

func TestLocales(t *testing.T) {
	if got := strings.Join(templates.Locales("fr-CA"), ","); got != "fr-ca,fr,en" {
		t.Fatal(got)
	}
	if got := strings.Join(templates.Locales(""), ","); got != "en" {
		t.Fatal(got)
	}
}

func worstCase() templates.Data {
	return templates.Data{
		Product:         "Contoso Chat Enterprise",
		InviterName:     strings.Repeat("W", templates.MaxNameRunes),
		InviterEmail:    strings.Repeat("w", 64) + "@" + strings.Repeat("d", 60) + ".example",
		ChatTitle:       strings.Repeat("T", templates.MaxNameRunes),
		External:        true,
		Link:            "https://invites.beckon.example.com/i/" + strings.Repeat("x", 43),
		UnsubscribeLink: "https://invites.beckon.example.com/i/" + strings.Repeat("x", 43) + "/unsubscribe",
		ExpiresAt:       "7 December 2026",
	}
}

func TestDefaults(t *testing.T) {
	set, err := templates.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	d := worstCase()
	for _, name := range []string{templates.InviteEmail, templates.ReminderEmail, templates.InviteSMS} {
		for _, locale := range []string{"en", "fr", "fr-CA", "de"} {
			r, used, err := set.Render(name, locale, d)
			if err != nil {
				t.Fatalf("%s %s: %v", name, locale, err)
			}
			if want := templates.Locales(locale)[len(templates.Locales(locale))-2]; locale == "fr-CA" && used != "fr" || locale == "de" && used != "en" {
				t.Fatalf("%s %s used %s (want %s)", name, locale, used, want)
			}
			if !strings.Contains(r.Text, d.Link) {
				t.Fatalf("%s %s text lacks the link", name, locale)
			}
			if name == templates.InviteSMS {
				enc, n := templates.SMSSegments(r.Text)
				if enc != "GSM-7" || n > 2 {
					t.Fatalf("%s %s: %s in %d segments: %q", name, locale, enc, n, r.Text)
				}
				continue
			}
			if r.Subject == "" || !strings.Contains(r.HTML, d.Link) || !strings.Contains(r.Text, d.UnsubscribeLink) {
				t.Fatalf("%s %s: %+v", name, locale, r)
			}
		}
	}
	fr, _, _ := set.Render(templates.InviteEmail, "fr", d)
	if !strings.Contains(fr.Subject, "vous invite") {
		t.Fatalf("French subject: %q", fr.Subject)
	}
}

func TestHTMLEscapes(t *testing.T) {
	set, _ := templates.Defaults()
	d := worstCase()
	d.InviterName = `<img src=x onerror=alert(1)>` // not sanitised: the HTML template must still escape it
	r, _, err := set.Render(templates.InviteEmail, "en", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<img") || !strings.Contains(r.HTML, "&lt;img") {
		t.Fatalf("HTML not escaped: %s", r.HTML)
	}
}

func TestSMSSegments(t *testing.T) {
	for _, c := range []struct {
		text string
		enc  string
		n    int
	}{
		{strings.Repeat("a", 160), "GSM-7", 1},
		{strings.Repeat("a", 161), "GSM-7", 2},
		{strings.Repeat("€", 80), "GSM-7", 1},
		{strings.Repeat("€", 81), "GSM-7", 2},
		{strings.Repeat("é", 160), "GSM-7", 1},
		{strings.Repeat("ç", 70), "UCS-2", 1},
		{strings.Repeat("ç", 71), "UCS-2", 2},
		{"« guillemets »", "UCS-2", 1},
	} {
		enc, n := templates.SMSSegments(c.text)
		if enc != c.enc || n != c.n {
			t.Errorf("%q: %s %d; want %s %d", c.text[:10], enc, n, c.enc, c.n)
		}
	}
}

func TestFormatDate(t *testing.T) {
	d := time.Date(2026, 12, 8, 23, 30, 0, 0, time.UTC)
	first := time.Date(2027, 8, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		t      time.Time
		locale string
		want   string
	}{
		{d, "en", "8 December 2026"},
		{d, "fr", "8 décembre 2026"},
		{d, "fr-CA", "8 décembre 2026"},
		{d, "FR_be", "8 décembre 2026"},
		{d, "de", "8 December 2026"},
		{d, "", "8 December 2026"},
		{first, "fr", "1er août 2027"},
		{first, "en-GB", "1 August 2027"},
	} {
		if got := templates.FormatDate(c.t, c.locale); got != c.want {
			t.Errorf("FormatDate(%s, %q) = %q; want %q", c.t.Format(time.DateOnly), c.locale, got, c.want)
		}
	}
}
