package api

import (
	"net/http"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/invite"
)

type createInviteRequest struct {
	Inviter    string       `json:"inviter"`
	Identifier string       `json:"identifier"`
	Region     string       `json:"region"`
	Chat       *invite.Chat `json:"chat"`
	Locale     string       `json:"locale"`
}

type accountMatch struct {
	Match   string `json:"match"`
	Account any    `json:"account"`
}

func (s *Server) handleInviteCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := decode[createInviteRequest](w, r, maxBody, nil)
		if err == nil {
			err = required("inviter", body.Inviter)
		}
		if err == nil {
			err = required("identifier", body.Identifier)
		}
		if err == nil && body.Chat == nil {
			err = missing("chat")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !s.allow(w, r, "requester", body.Inviter, s.limits.PerRequester, 1) {
			return
		}
		created, err := s.invites.Create(r.Context(), invite.CreateInput{InviterID: body.Inviter, Identifier: body.Identifier,
			Region: body.Region, Chat: *body.Chat, Locale: body.Locale})
		switch {
		case err != nil:
			s.writeError(w, r, err)
		case created.Account != nil:
			encode(w, http.StatusOK, accountMatch{Match: "account", Account: created.Account})
		case created.Existing:
			encode(w, http.StatusOK, created.Invite)
		default:
			s.wake()
			encode(w, http.StatusCreated, created.Invite)
		}
	})
}

func (s *Server) handleInviteGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inv, err := s.invites.Get(r.Context(), r.PathValue("invite_id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, inv)
	})
}

func (s *Server) handleInviteList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, cursor, err := pageParams(r)
		q := r.URL.Query()
		f := invite.Filter{InviterID: q.Get("inviter"), Status: invite.Status(q.Get("status")), ChatID: q.Get("chat_id"), After: cursor, Limit: limit}
		for _, p := range []struct{ field, value string }{{"inviter", f.InviterID}, {"chat_id", f.ChatID}} {
			if err == nil && p.value != "" {
				err = directory.ValidateID(p.field, p.value)
			}
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		page, err := s.invites.List(r.Context(), f)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, listJSON[invite.Invite]{Items: nonNil(page.Items), NextCursor: optional(page.NextCursor)})
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) handleInviteRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inv, err := s.invites.Revoke(r.Context(), r.PathValue("invite_id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, inv)
	})
}

func (s *Server) handleInviteResend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inv, err := s.invites.Resend(r.Context(), r.PathValue("invite_id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.wake()
		encode(w, http.StatusAccepted, inv)
	})
}
