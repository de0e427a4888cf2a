// Package templates renders the messages Beckon sends: embedded defaults
// for invite.email, invite.sms and invite.reminder.email in English and
// French, text/template for subjects, text and SMS, html/template for HTML.
// No free text from an inviter reaches a recipient: names and titles pass
// through Sanitize first, for messages and pages alike.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	texttemplate "text/template"
)

// Template names.
const (
	InviteEmail   = "invite.email"
	InviteSMS     = "invite.sms"
	ReminderEmail = "invite.reminder.email"
)

// DefaultLocale is the last locale of every fallback chain.
const DefaultLocale = "en"

//go:embed defaults
var defaults embed.FS

// Data is what a template may use.
type Data struct {
	// Product is the product named in messages (BECKON_PRODUCT_NAME).
	Product         string
	InviterName     string
	InviterEmail    string
	ChatTitle       string
	External        bool
	Link            string
	UnsubscribeLink string
	ExpiresAt       string
}

// Rendered is a rendered message; SMS uses Text only.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

type parts struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// Set is a parsed set of templates by name and locale.
type Set struct {
	byKey map[string]parts // "name/locale"
}

// Defaults parses the embedded templates.
func Defaults() (*Set, error) {
	s := &Set{byKey: map[string]parts{}}
	entries, err := fs.ReadDir(defaults, "defaults")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		// invite.email.en.subject → name invite.email, locale en, part subject
		base := e.Name()
		part := base[strings.LastIndexByte(base, '.')+1:]
		rest := strings.TrimSuffix(base, "."+part)
		locale := rest[strings.LastIndexByte(rest, '.')+1:]
		name := strings.TrimSuffix(rest, "."+locale)
		body, err := fs.ReadFile(defaults, "defaults/"+base)
		if err != nil {
			return nil, err
		}
		p := s.byKey[name+"/"+locale]
		src := strings.TrimRight(string(body), "\n")
		switch part {
		case "subject", "text":
			t, err := texttemplate.New(base).Option("missingkey=error").Parse(src)
			if err != nil {
				return nil, fmt.Errorf("template %s: %w", base, err)
			}
			if part == "subject" {
				p.subject = t
			} else {
				p.text = t
			}
		case "html":
			t, err := htmltemplate.New(base).Option("missingkey=error").Parse(src)
			if err != nil {
				return nil, fmt.Errorf("template %s: %w", base, err)
			}
			p.html = t
		default:
			return nil, fmt.Errorf("template %s: unknown part %q", base, part)
		}
		s.byKey[name+"/"+locale] = p
	}
	return s, nil
}

// Locales returns the fallback chain of a locale: fr-CA → fr-ca, fr, en.
func Locales(locale string) []string {
	l := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(locale), "_", "-"))
	var out []string
	if l != "" {
		out = append(out, l)
		if lang, _, ok := strings.Cut(l, "-"); ok {
			out = append(out, lang)
		}
	}
	return append(out, DefaultLocale)
}

// Render renders template name for the first locale of locale's fallback
// chain that has it. It returns the locale used.
func (s *Set) Render(name, locale string, d Data) (Rendered, string, error) {
	for _, l := range Locales(locale) {
		p, ok := s.byKey[name+"/"+l]
		if !ok {
			continue
		}
		var r Rendered
		var err error
		if r.Subject, err = execText(p.subject, d); err != nil {
			return r, l, err
		}
		if r.Text, err = execText(p.text, d); err != nil {
			return r, l, err
		}
		if p.html != nil {
			var b bytes.Buffer
			if err := p.html.Execute(&b, d); err != nil {
				return r, l, fmt.Errorf("render %s/%s html: %w", name, l, err)
			}
			r.HTML = b.String()
		}
		return r, l, nil
	}
	return Rendered{}, "", fmt.Errorf("no template %s for %q", name, locale)
}

func execText(t *texttemplate.Template, d Data) (string, error) {
	if t == nil {
		return "", nil
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return b.String(), nil
}

// gsm7 is the GSM 03.38 basic character set; gsm7ext costs two septets.
const (
	gsm7    = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7ext = "^{}\\[~]|€\f"
)

// SMSSegments returns the encoding an SMS of text needs and how many
// segments it takes: GSM-7 (160 septets, 153 a segment when split) or UCS-2
// (70 characters, 67 when split; characters outside the BMP take two).
func SMSSegments(text string) (encoding string, segments int) {
	septets, gsm := 0, true
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsm7, r):
			septets++
		case strings.ContainsRune(gsm7ext, r):
			septets += 2
		default:
			gsm = false
		}
	}
	if gsm {
		return "GSM-7", count(septets, 160, 153)
	}
	units := len([]rune(text))
	for _, r := range text {
		if r > 0xFFFF {
			units++
		}
	}
	return "UCS-2", count(units, 70, 67)
}

func count(n, single, multi int) int {
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}
