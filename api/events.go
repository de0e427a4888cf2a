package api

import (
	"net/http"

	"github.com/beckon-chat/beckon/event"
)

func (s *Server) handleEvents() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, _, err := pageParams(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		events, err := s.events.Events(r.Context(), r.URL.Query().Get("after"), limit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		next := ""
		if len(events) > 0 {
			next = events[len(events)-1].ID
		}
		encode(w, http.StatusOK, listJSON[event.Event]{Items: nonNil(events), NextCursor: optional(next)})
	})
}
