package api

import (
	"net/http"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/resolver"
)

type linkAccount struct {
	ID           string  `json:"id"`
	TenantID     *string `json:"tenant_id"`
	DisplayName  string  `json:"display_name"`
	Discoverable *bool   `json:"discoverable"`
	Region       string  `json:"region"`
}

type linkRequest struct {
	Account      *linkAccount `json:"account"`
	Identifier   string       `json:"identifier"`
	InviteTicket string       `json:"invite_ticket"`
}

type linkResponse struct {
	Account    accountJSON         `json:"account"`
	Identifier resolver.Identifier `json:"identifier"`
	Accepted   []invite.Invite     `json:"accepted"`
	Requests   []invite.Invite     `json:"requests"`
}

func (s *Server) handleLink() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := decode[linkRequest](w, r, maxBody, nil)
		if err == nil && body.Account == nil {
			err = missing("account")
		}
		if err == nil {
			err = required("identifier", body.Identifier)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		in := directory.AccountInput{ID: body.Account.ID, DisplayName: body.Account.DisplayName, Discoverable: true, Region: body.Account.Region}
		if body.Account.TenantID != nil {
			in.TenantID = *body.Account.TenantID
		}
		if body.Account.Discoverable != nil {
			in.Discoverable = *body.Account.Discoverable
		}
		linked, err := s.invites.Link(r.Context(), invite.LinkInput{Account: in, Identifier: body.Identifier, Ticket: body.InviteTicket})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, linkResponse{Account: accountOut(linked.Account), Identifier: linked.Identifier,
			Accepted: nonNil(linked.Accepted), Requests: nonNil(linked.Requests)})
	})
}
