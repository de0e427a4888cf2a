package templates_test

import (
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/templates"
)

func library(t testing.TB) *templates.Library {
	t.Helper()
	l, err := templates.NewLibrary(templates.LibraryConfig{Product: "Contoso Chat", PublicURL: "https://invites.contoso-chat.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

const (
	okSubject = "{{.InviterName}} invited you"
	okText    = "Open {{.Link}}"
	okHTML    = `<p><a href="{{.Link}}">Open</a></p>`
)

// TestValidateRefuses holds the reasons a template is refused: each case
// names the part, the line and a piece of the reason.
func TestValidateRefuses(t *testing.T) {
	email := func(subject, text, html string) templates.Source {
		return templates.Source{Subject: subject, Text: text, HTML: html}
	}
	html := func(h string) templates.Source { return email(okSubject, okText, h) }
	text := func(x string) templates.Source { return email(okSubject, x, okHTML) }
	sms := func(x string) templates.Source { return templates.Source{Text: x} }
	long := strings.Repeat("Vous êtes invité à discuter. ", 6)
	cases := []struct {
		name     string
		template string
		src      templates.Source
		part     string
		line     int
		reason   string
	}{
		{"unclosed action", templates.InviteEmail, text("{{.Link}}\nHello\n{{.InviterName"), "text", 3, "unclosed action"},
		{"unknown function", templates.InviteEmail, text("{{.Link}}\n{{upper .InviterName}}"), "text", 2, `function "upper" not defined`},
		{"unterminated if", templates.InviteEmail, text("{{.Link}}\n{{if .External}}x"), "text", 2, "unexpected EOF"},
		{"stray end", templates.InviteEmail, text("{{.Link}}\n\n{{end}}"), "text", 3, "unexpected {{end}}"},
		{"bad quoting", templates.InviteEmail, text("{{.Link}}\n{{print \"x}}"), "text", 2, "unterminated quoted string"},
		{"unknown variable", templates.InviteEmail, text("{{.Link}}\n{{.InviterPhone}}"), "text", 2, "unknown variable .InviterPhone"},
		{"unknown variable in if", templates.InviteEmail, text("{{.Link}}\n\n{{if .IsAdmin}}x{{end}}"), "text", 3, "unknown variable .IsAdmin"},
		{"field of a string", templates.InviteEmail, text("{{.Link}} {{.InviterName.First}}"), "text", 1, ".InviterName has no field First"},
		{"unknown root variable", templates.InviteEmail, text("{{.Link}} {{$.Secret}}"), "text", 1, "unknown variable .Secret"},
		{"call", templates.InviteEmail, text("{{.Link}}\n{{call .Link}}"), "text", 2, "function call is not allowed"},
		{"index", templates.InviteEmail, text("{{.Link}} {{index .Link 0}}"), "text", 1, "function index is not allowed"},
		{"printf", templates.InviteEmail, text("{{.Link}} {{printf \"%s\" .Link}}"), "text", 1, "function printf is not allowed"},
		{"urlquery", templates.InviteEmail, text("{{.Link}} {{urlquery .Link}}"), "text", 1, "function urlquery is not allowed"},
		{"range", templates.InviteEmail, text("{{.Link}}\n{{range .InviterName}}x{{end}}"), "text", 2, "range is not allowed"},
		{"define", templates.InviteEmail, text("{{.Link}}{{define \"x\"}}y{{end}}\n{{template \"x\"}}"), "text", 2, "{{template}} is not allowed"},
		{"no link in text", templates.InviteEmail, text("Hello {{.InviterName}}"), "text", 1, "invite link"},
		{"link only for external", templates.InviteEmail, text("Hi{{if .External}} {{.Link}}{{end}}"), "text", 1, "invite link"},
		{"no link in html", templates.InviteEmail, html("<p>{{.InviterName}}</p>"), "html", 1, "invite link"},
		{"no link in sms", templates.InviteSMS, sms("{{.InviterName}} invited you"), "text", 1, "invite link"},
		{"two-line subject", templates.InviteEmail, email("Hello\n{{.InviterName}}", okText, okHTML), "subject", 2, "more than one line"},
		{"empty subject", templates.InviteEmail, email("  ", okText, okHTML), "subject", 1, "empty"},
		{"empty html", templates.ReminderEmail, email(okSubject, okText, ""), "html", 1, "empty"},
		{"unknown variable in subject", templates.ReminderEmail, email("{{.Name}}", okText, okHTML), "subject", 1, "unknown variable .Name"},
		{"html unclosed tag", templates.InviteEmail, html("<div>\n<p><a href=\"{{.Link}}\">x</a>\n</div>"), "html", 3, "</div> where <p> of line 2 is still open"},
		{"html never closed", templates.InviteEmail, html("<p>x</p>\n<div><a href=\"{{.Link}}\">x</a>"), "html", 2, "<div> is never closed"},
		{"html stray end", templates.InviteEmail, html("<a href=\"{{.Link}}\">x</a>\n</p>"), "html", 2, "</p> closes nothing"},
		{"html void end", templates.InviteEmail, html("<a href=\"{{.Link}}\">x</a><br></br>"), "html", 1, "<br> has no end tag"},
		{"image", templates.InviteEmail, html("<a href=\"{{.Link}}\">x</a>\n<img src=\"https://tracker.example/p.gif\">"), "html", 2, "<img> loads an image from elsewhere"},
		{"script", templates.InviteEmail, html("<a href=\"{{.Link}}\">x</a>\n\n<script>alert(1)</script>"), "html", 3, "<script> runs script"},
		{"iframe", templates.InviteEmail, html("<a href=\"{{.Link}}\">x</a><iframe></iframe>"), "html", 1, "<iframe> loads a page"},
		{"stylesheet", templates.InviteEmail, html("<link rel=\"stylesheet\" href=\"https://x.example/a.css\">\n<a href=\"{{.Link}}\">x</a>"), "html", 1, "<link> loads from elsewhere"},
		{"css url", templates.InviteEmail, html("<a href=\"{{.Link}}\">x</a>\n<p style=\"background:url(https://x.example/a.png)\">y</p>"), "html", 2, "<p style> loads from elsewhere"},
		{"css import", templates.InviteEmail, html("<style>\n@import 'https://x.example/a.css';\n</style><a href=\"{{.Link}}\">x</a>"), "html", 1, "<style> loads from elsewhere"},
		{"event handler", templates.InviteEmail, html("<a href=\"{{.Link}}\" onclick=\"steal()\">x</a>"), "html", 1, "<a onclick> runs script"},
		{"background attribute", templates.InviteEmail, html("<table background=\"https://x.example/b.png\"><tr><td><a href=\"{{.Link}}\">x</a></td></tr></table>"), "html", 1, "<table background> loads from elsewhere"},
		{"form", templates.InviteEmail, html("<a href=\"{{.Link}}\">x</a><form></form>"), "html", 1, "<form> sends a form"},
		{"html parse error", templates.InviteEmail, html("<a href=\"{{.Link}}\">x</a>\n{{if .External}}"), "html", 2, "unexpected EOF"},
		{"html unknown variable", templates.InviteEmail, html("<a href=\"{{.Link}}\">x</a>\n<p>{{.Phone}}</p>"), "html", 2, "unknown variable .Phone"},
		{"unfinished attribute", templates.InviteEmail, html("<a href=\"{{.Link}}\">x</a>\n<p title=\"{{.InviterName}}>y</p>"), "html", 2, "a quote or > is missing"},
		{"sms too long", templates.InviteSMS, sms(long + "{{.InviterName}} {{.Link}}"), "text", 1, "segments (UCS-2)"},
		{"sms many names", templates.InviteSMS, sms("{{.InviterName}} {{.InviterName}} {{.InviterName}} {{.InviterName}} {{.Link}}"), "text", 1, "segments"},
		{"sms parse error", templates.InviteSMS, sms("{{.Link}}\n{{.InviterName"), "text", 2, "unclosed action"},
		{"sms unknown variable", templates.InviteSMS, sms("{{.Link}} {{.ChatName}}"), "text", 1, "unknown variable .ChatName"},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	lib := library(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := lib.Validate(c.template, c.src)
			f := fault.As(err)
			if f == nil || f.Code != fault.CodeTemplateInvalid || len(f.Problems) == 0 {
				t.Fatalf("got %v; want template_invalid", err)
			}
			p := f.Problems[0]
			if p.Part != c.part || p.Line != c.line || !strings.Contains(p.Reason, c.reason) {
				t.Fatalf("got %+v; want part %s line %d reason containing %q", f.Problems, c.part, c.line, c.reason)
			}
		})
	}
}

func TestValidateAcceptsDefaults(t *testing.T) {
	lib := library(t)
	srcs, err := templates.DefaultSources()
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range srcs {
		if err := lib.Validate(k.Name, s); err != nil {
			t.Errorf("%s/%s: %v", k.Name, k.Locale, err)
		}
	}
	ok := templates.Source{Subject: okSubject, Text: okText + "{{if not .External}}\n{{end}}{{with .ChatTitle}}{{.}}{{end}}", HTML: okHTML + "<br><p style=\"color:#555\">{{.ChatKind}}</p>"}
	if err := lib.Validate(templates.InviteEmail, ok); err != nil {
		t.Fatal(err)
	}
	// A column is given where text/template knows it.
	f := fault.As(lib.Validate(templates.InviteEmail, templates.Source{Subject: okSubject, Text: "{{.Link}}\n  {{.Nope}}", HTML: okHTML}))
	if f == nil || f.Problems[0].Column != 5 {
		t.Fatalf("%+v", f)
	}
}

func TestSMSInfo(t *testing.T) {
	for _, c := range []struct {
		text, enc string
		segs      int
		ucs2      string
	}{
		{"élève où là-bas ìò", "GSM-7", 1, ""},
		{"fenêtre", "UCS-2", 1, "ê"},
		{"â î ô û ë ï ç ê", "UCS-2", 1, "âîôûëïçê"},
		{strings.Repeat("a", 160), "GSM-7", 1, ""},
		{strings.Repeat("a", 161), "GSM-7", 2, ""},
		{strings.Repeat("€", 80), "GSM-7", 1, ""},  // 160 septets
		{strings.Repeat("[", 81), "GSM-7", 2, ""},  // 162 septets
		{strings.Repeat("ç", 70), "UCS-2", 1, "ç"}, // 70 units
		{strings.Repeat("ç", 71), "UCS-2", 2, "ç"},
		{strings.Repeat("ç", 202), "UCS-2", 4, "ç"},
	} {
		enc, n, chars := templates.SMSInfo(c.text)
		if enc != c.enc || n != c.segs || strings.Join(chars, "") != c.ucs2 {
			t.Errorf("%.20q: %s %d %q; want %s %d %q", c.text, enc, n, chars, c.enc, c.segs, c.ucs2)
		}
	}
}
