package api

import (
	"net/http"
	"time"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/templates"
)

type templateSummaryJSON struct {
	Name          string    `json:"name"`
	Locale        string    `json:"locale"`
	ActiveVersion int       `json:"active_version"`
	LatestVersion int       `json:"latest_version"`
	UpdatedAt     time.Time `json:"updated_at"`
}

type templateVersionJSON struct {
	Name      string    `json:"name"`
	Locale    string    `json:"locale"`
	Version   int       `json:"version"`
	Active    bool      `json:"active"`
	Subject   *string   `json:"subject,omitempty"`
	Text      string    `json:"text"`
	HTML      *string   `json:"html,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

type templateChangeJSON struct {
	Version int       `json:"version"`
	Action  string    `json:"action"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

type templateDetailJSON struct {
	Name          string                `json:"name"`
	Locale        string                `json:"locale"`
	ActiveVersion int                   `json:"active_version"`
	Active        *templateVersionJSON  `json:"active"`
	Versions      []templateVersionJSON `json:"versions"`
	History       []templateChangeJSON  `json:"history"`
}

func versionOut(v templates.Version) templateVersionJSON {
	out := templateVersionJSON{Name: v.Name, Locale: v.Locale, Version: v.Version, Active: v.Active, Text: v.Source.Text,
		CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt}
	for _, p := range templates.Parts(v.Name) {
		switch p {
		case templates.PartSubject:
			out.Subject = &v.Source.Subject
		case templates.PartHTML:
			out.HTML = &v.Source.HTML
		}
	}
	return out
}

func detailOut(d templates.Detail) templateDetailJSON {
	out := templateDetailJSON{Name: d.Name, Locale: d.Locale, ActiveVersion: d.ActiveVersion,
		Versions: []templateVersionJSON{}, History: []templateChangeJSON{}}
	for _, v := range d.Versions {
		j := versionOut(v)
		out.Versions = append(out.Versions, j)
		if v.Active {
			out.Active = &j
		}
	}
	for _, c := range d.History {
		out.History = append(out.History, templateChangeJSON{Version: c.Version, Action: c.Action, By: c.By, At: c.At})
	}
	return out
}

func (s *Server) handleTemplateList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := s.templates.List(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		items := make([]templateSummaryJSON, len(list))
		for i, t := range list {
			items[i] = templateSummaryJSON{Name: t.Name, Locale: t.Locale, ActiveVersion: t.ActiveVersion, LatestVersion: t.LatestVersion, UpdatedAt: t.UpdatedAt}
		}
		encode(w, http.StatusOK, listJSON[templateSummaryJSON]{Items: items})
	})
}

func (s *Server) handleTemplateGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := s.templates.Get(r.Context(), r.PathValue("name"), r.PathValue("locale"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, detailOut(d))
	})
}

type templatePutRequest struct {
	Subject *string `json:"subject"`
	Text    *string `json:"text"`
	HTML    *string `json:"html"`
}

func (s *Server) handleTemplatePut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, locale := r.PathValue("name"), r.PathValue("locale")
		if templates.Parts(name) == nil {
			s.writeError(w, r, fault.New(fault.NotFound, fault.CodeTemplateNotFound, "name", "no template named "+quote(name)))
			return
		}
		req, err := decode[templatePutRequest](w, r, maxBody, nil)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		given := map[string]*string{templates.PartSubject: req.Subject, templates.PartText: req.Text, templates.PartHTML: req.HTML}
		has := map[string]bool{}
		for _, p := range templates.Parts(name) {
			has[p] = true
			if given[p] == nil {
				s.writeError(w, r, missing(p))
				return
			}
		}
		for p, v := range given {
			if v != nil && !has[p] {
				s.writeError(w, r, fault.Invalidf(fault.CodeInvalidField, p, "%s has no %s part", name, p))
				return
			}
		}
		src := templates.Source{Subject: deref(req.Subject), Text: deref(req.Text), HTML: deref(req.HTML)}
		v, err := s.templates.Put(r.Context(), name, locale, src, infoFrom(r.Context()).key.Name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusCreated, versionOut(v))
	})
}

// templateDataJSON is the data a preview may be given; absent fields keep
// the sample's.
type templateDataJSON struct {
	Product         *string `json:"product"`
	InviterName     *string `json:"inviter_name"`
	InviterEmail    *string `json:"inviter_email"`
	ChatTitle       *string `json:"chat_title"`
	ChatKind        *string `json:"chat_kind"`
	External        *bool   `json:"external"`
	Link            *string `json:"link"`
	UnsubscribeLink *string `json:"unsubscribe_link"`
	ExpiresAt       *string `json:"expires_at"`
}

type templatePreviewRequest struct {
	Version *int              `json:"version"`
	Data    *templateDataJSON `json:"data"`
}

type smsPreviewJSON struct {
	Encoding       string   `json:"encoding"`
	Segments       int      `json:"segments"`
	UCS2Characters []string `json:"ucs2_characters"`
}

type templatePreviewJSON struct {
	Name    string  `json:"name"`
	Locale  string  `json:"locale"`
	Version int     `json:"version"`
	Subject *string `json:"subject,omitempty"`
	Text    string  `json:"text"`
	HTML    *string `json:"html,omitempty"`
	// SMS fields, for invite.sms.
	Encoding       string   `json:"encoding,omitempty"`
	Segments       int      `json:"segments,omitempty"`
	UCS2Characters []string `json:"ucs2_characters,omitempty"`
}

func setString(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func (s *Server) handleTemplatePreview() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, locale := r.PathValue("name"), r.PathValue("locale")
		var req templatePreviewRequest
		var err error
		if r.ContentLength != 0 {
			req, err = decode[templatePreviewRequest](w, r, maxBody, nil)
		}
		version := 0
		if err == nil && req.Version != nil {
			if version = *req.Version; version < 1 {
				err = fault.Invalidf(fault.CodeInvalidField, "version", "version must be a positive number")
			}
		}
		if err == nil {
			locale, err = templates.CanonicalLocale(locale)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var data *templates.Data
		if g := req.Data; g != nil {
			d := s.templates.Sample(locale)
			setString(&d.Product, g.Product)
			setString(&d.InviterName, g.InviterName)
			setString(&d.InviterEmail, g.InviterEmail)
			setString(&d.ChatTitle, g.ChatTitle)
			setString(&d.ChatKind, g.ChatKind)
			setString(&d.Link, g.Link)
			setString(&d.UnsubscribeLink, g.UnsubscribeLink)
			setString(&d.ExpiresAt, g.ExpiresAt)
			if g.External != nil {
				d.External = *g.External
			}
			data = &d
		}
		p, err := s.templates.Preview(r.Context(), name, locale, version, data)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := templatePreviewJSON{Name: p.Name, Locale: p.Locale, Version: p.Version, Text: p.Rendered.Text}
		for _, part := range templates.Parts(name) {
			switch part {
			case templates.PartSubject:
				out.Subject = &p.Rendered.Subject
			case templates.PartHTML:
				out.HTML = &p.Rendered.HTML
			}
		}
		if p.SMS != nil {
			out.Encoding, out.Segments, out.UCS2Characters = p.SMS.Encoding, p.SMS.Segments, p.SMS.UCS2
			if out.UCS2Characters == nil {
				out.UCS2Characters = []string{}
			}
		}
		encode(w, http.StatusOK, out)
	})
}

type templateActivateRequest struct {
	Version *int `json:"version"`
}

func (s *Server) handleTemplateActivate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[templateActivateRequest](w, r, maxBody, nil)
		if err == nil && req.Version == nil {
			err = missing("version")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		d, err := s.templates.Activate(r.Context(), r.PathValue("name"), r.PathValue("locale"), *req.Version, infoFrom(r.Context()).key.Name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, detailOut(d))
	})
}

func quote(s string) string {
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return `"` + s + `"`
}

// deref returns *p, or "" for a part not given.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
