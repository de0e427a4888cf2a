package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/resolver"
)

type tenantJSON struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Domains   []string         `json:"domains"`
	Region    *string          `json:"region"`
	Policy    directory.Policy `json:"policy"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func tenantOut(t directory.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Name: t.Name, Domains: t.Domains, Region: optional(t.Region), Policy: t.Policy,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

type putTenantRequest struct {
	Name    string            `json:"name"`
	Domains []string          `json:"domains"`
	Region  string            `json:"region"`
	Policy  *directory.Policy `json:"policy"`
}

func (s *Server) handleTenantPut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defaults := directory.DefaultPolicy()
		req, err := decode(w, r, maxBody, &putTenantRequest{Policy: &defaults, Domains: []string{}})
		if err == nil {
			err = required("name", req.Name)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if req.Policy == nil {
			req.Policy = &defaults
		}
		t, err := s.dir.PutTenant(r.Context(), directory.Tenant{ID: r.PathValue("tenant_id"), Name: req.Name,
			Domains: req.Domains, Region: req.Region, Policy: *req.Policy})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, tenantOut(t))
	})
}

func (s *Server) handleTenantGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := s.dir.Tenant(r.Context(), r.PathValue("tenant_id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, tenantOut(t))
	})
}

type accountJSON struct {
	ID           string                `json:"id"`
	TenantID     *string               `json:"tenant_id"`
	DisplayName  string                `json:"display_name"`
	Discoverable bool                  `json:"discoverable"`
	Region       *string               `json:"region"`
	Identifiers  []resolver.Identifier `json:"identifiers"`
	Policy       directory.Overrides   `json:"policy"`
	CreatedAt    time.Time             `json:"created_at"`
	UpdatedAt    time.Time             `json:"updated_at"`
}

func accountOut(a directory.Account) accountJSON {
	ids := a.Identifiers
	if ids == nil {
		ids = []resolver.Identifier{}
	}
	return accountJSON{ID: a.ID, TenantID: optional(a.TenantID), DisplayName: a.DisplayName, Discoverable: a.Discoverable,
		Region: optional(a.Region), Identifiers: ids, Policy: a.Overrides, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

type putAccountRequest struct {
	TenantID     *string  `json:"tenant_id"`
	DisplayName  string   `json:"display_name"`
	Discoverable *bool    `json:"discoverable"`
	Region       string   `json:"region"`
	Identifiers  []string `json:"identifiers"`
}

func (s *Server) handleAccountPut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[putAccountRequest](w, r, maxBody, nil)
		if err == nil {
			err = required("display_name", req.DisplayName)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		in := directory.AccountInput{ID: r.PathValue("account_id"), DisplayName: req.DisplayName, Discoverable: true,
			Region: req.Region, Identifiers: req.Identifiers}
		if req.TenantID != nil {
			in.TenantID = *req.TenantID
		}
		if req.Discoverable != nil {
			in.Discoverable = *req.Discoverable
		}
		a, err := s.dir.PutAccount(r.Context(), in)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, accountOut(a))
	})
}

func (s *Server) handleAccountGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.dir.Account(r.Context(), r.PathValue("account_id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, accountOut(a))
	})
}

type patchAccountRequest struct {
	Discoverable *bool `json:"discoverable"`
}

func (s *Server) handleAccountPatch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[patchAccountRequest](w, r, maxBody, nil)
		if err == nil && req.Discoverable == nil {
			err = missing("discoverable")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		a, err := s.dir.SetDiscoverable(r.Context(), r.PathValue("account_id"), *req.Discoverable)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, accountOut(a))
	})
}

func (s *Server) handleAccountDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.dir.DeleteAccount(r.Context(), r.PathValue("account_id")); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) handleAccountPolicyPut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[directory.Overrides](w, r, maxBody, nil)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		a, err := s.dir.SetOverrides(r.Context(), r.PathValue("account_id"), req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, accountOut(a))
	})
}

type blockJSON struct {
	AccountID        string    `json:"account_id"`
	BlockedAccountID string    `json:"blocked_account_id"`
	CreatedAt        time.Time `json:"created_at"`
}

func blockOut(b directory.Block) blockJSON {
	return blockJSON{AccountID: b.AccountID, BlockedAccountID: b.BlockedID, CreatedAt: b.CreatedAt}
}

func (s *Server) handleBlockPut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := s.dir.Block(r.Context(), r.PathValue("account_id"), r.PathValue("other_account_id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, blockOut(b))
	})
}

func (s *Server) handleBlockDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.dir.Unblock(r.Context(), r.PathValue("account_id"), r.PathValue("other_account_id")); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type listJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// pageParams reads ?limit= (1 to 100, default 20) and ?cursor= (an id of
// the list's items: a cursor that cannot be one is invalid_parameter, not
// a query PostgreSQL refuses).
func pageParams(r *http.Request) (limit int, cursor string, err error) {
	limit = 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, "", fault.Invalidf(fault.CodeInvalidParameter, "limit", "limit is a whole number from 1 to 100")
		}
		limit = n
	}
	cursor = r.URL.Query().Get("cursor")
	if cursor != "" && directory.ValidateID("cursor", cursor) != nil {
		return 0, "", fault.Invalidf(fault.CodeInvalidParameter, "cursor", "cursor is the next_cursor of a previous page")
	}
	return limit, cursor, nil
}

func (s *Server) handleBlocksList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, cursor, err := pageParams(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		page, err := s.dir.Blocks(r.Context(), r.PathValue("account_id"), cursor, limit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := listJSON[blockJSON]{Items: make([]blockJSON, len(page.Items)), NextCursor: optional(page.NextCursor)}
		for i, b := range page.Items {
			out.Items[i] = blockOut(b)
		}
		encode(w, http.StatusOK, out)
	})
}

func (s *Server) handleImport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := requireType(r, "application/x-ndjson", "application/jsonl", "application/json"); err != nil {
			s.writeError(w, r, err)
			return
		}
		res, err := s.dir.Import(r.Context(), bodyReader{http.MaxBytesReader(w, r.Body, s.maxImportBytes)})
		s.metrics.imported.Add(float64(res.Imported))
		var tooLarge *http.MaxBytesError
		var broken *bodyError
		switch {
		case errors.As(err, &tooLarge):
			err = decodeError(tooLarge)
		case errors.As(err, &broken):
			// The client's fault (it hung up mid-body), not the database's.
			err = fault.Invalidf(fault.CodeInvalidJSON, "", "the body could not be read to its end; lines before were imported")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, res)
	})
}

// bodyReader marks the errors of reading a request body, so that a body
// cut short is told from a database that went away.
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &bodyError{err}
	}
	return n, err
}

// bodyError is an error reading a request body.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "read request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }
