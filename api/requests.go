package api

import (
	"net/http"

	"github.com/beckon-chat/beckon/request"
)

type checkRequest struct {
	Sender    string `json:"sender"`
	Recipient string `json:"recipient"`
	ChatID    string `json:"chat_id"`
	Text      string `json:"text"`
}

type checkResponse struct {
	Decision  string `json:"decision"`
	Reason    string `json:"reason"`
	Remaining *int   `json:"remaining,omitempty"`
}

func (s *Server) handleRequestCheck() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := decode[checkRequest](w, r, maxBody, nil)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		d, err := s.requests.Check(r.Context(), request.Message{Sender: body.Sender, Recipient: body.Recipient, ChatID: body.ChatID, Text: body.Text})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, checkResponse{Decision: d.Decision, Reason: d.Reason, Remaining: d.Remaining})
	})
}

// listedJSON is a request as its recipient sees it: of the sender only the
// display name and email.
type listedJSON struct {
	request.Request
	SenderName  string  `json:"sender_name"`
	SenderEmail *string `json:"sender_email"`
	External    bool    `json:"external"`
	Personal    bool    `json:"personal"`
}

func (s *Server) handleRequestList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, cursor, err := pageParams(r)
		var status request.Status
		if v := r.URL.Query().Get("status"); err == nil && v != "" {
			status, err = request.ParseStatus(v)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		page, err := s.requests.List(r.Context(), r.PathValue("account_id"), status, cursor, limit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := listJSON[listedJSON]{Items: make([]listedJSON, len(page.Items)), NextCursor: optional(page.NextCursor)}
		for i, l := range page.Items {
			out.Items[i] = listedJSON{Request: l.Request, SenderName: l.SenderName, SenderEmail: optional(l.SenderEmail),
				External: l.External, Personal: l.Personal}
		}
		encode(w, http.StatusOK, out)
	})
}

func (s *Server) handleRequestAction(a request.Action) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := s.requests.Act(r.Context(), r.PathValue("request_id"), a)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, req)
	})
}
