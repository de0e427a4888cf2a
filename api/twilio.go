package api

import (
	"net/http"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/notify/twilio"
)

var errTwilioSignature = fault.New(fault.Forbidden, fault.CodeInvalidSignature, "", "the X-Twilio-Signature header is missing or wrong")

// twilioCallback checks the form and the signature of a Twilio callback
// (signed over the public URL Twilio called), then runs do.
func (s *Server) twilioCallback(do func(r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.twilioToken == "" {
			s.writeError(w, r, errNotFound)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			s.writeError(w, r, errForm)
			return
		}
		u := s.pages.publicURL + r.URL.Path
		if r.URL.RawQuery != "" {
			u += "?" + r.URL.RawQuery
		}
		if !twilio.Valid(s.twilioToken, u, r.PostForm, r.Header.Get("X-Twilio-Signature")) {
			if s.allowIP(w, r) {
				s.writeError(w, r, errTwilioSignature)
			}
			return
		}
		if err := do(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Response></Response>`))
	})
}

func (s *Server) handleTwilioStatus() http.Handler {
	return s.twilioCallback(func(r *http.Request) error {
		return s.invites.SMSStatus(r.Context(), r.PostFormValue("MessageSid"), r.PostFormValue("MessageStatus"))
	})
}

func (s *Server) handleTwilioInbound() http.Handler {
	return s.twilioCallback(func(r *http.Request) error {
		_, err := s.invites.InboundSMS(r.Context(), r.PostFormValue("From"), r.PostFormValue("Body"))
		if fault.As(err) != nil {
			return nil // a sender we cannot read: nothing to do, and Twilio should not retry
		}
		return err
	})
}
