package directory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/beckon-chat/beckon/fault"
)

// Import limits.
const (
	ImportBatchSize = 1000
	MaxImportLine   = 64 << 10
	MaxImportErrors = 1000
)

// LineError is the failure of one line of an import.
type LineError struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// ImportResult says how many accounts were written and which lines failed.
// Errors stops growing at MaxImportErrors; Truncated says so.
type ImportResult struct {
	Imported  int         `json:"imported"`
	Errors    []LineError `json:"errors"`
	Truncated bool        `json:"errors_truncated"`
}

func (r *ImportResult) fail(line int, err error) {
	if len(r.Errors) >= MaxImportErrors {
		r.Truncated = true
		return
	}
	le := LineError{Line: line, Code: fault.CodeLineInternal, Message: "the line could not be written"}
	if f := fault.As(err); f != nil {
		le.Code, le.Field, le.Message = f.Code, f.Field, f.Message
	}
	r.Errors = append(r.Errors, le)
}

type importLine struct {
	ID           string   `json:"id"`
	TenantID     *string  `json:"tenant_id"`
	DisplayName  string   `json:"display_name"`
	Discoverable *bool    `json:"discoverable"`
	Region       string   `json:"region"`
	Identifiers  []string `json:"identifiers"`
}

// Import reads NDJSON accounts from r, one object with an "id" a line, and
// writes them in batches of ImportBatchSize, each batch one transaction. A
// bad line is reported with its number and code and does not stop the
// others. Blank lines are skipped. It returns an error only when reading r
// or the store fails; the result then holds what was written before.
func (s *Service) Import(ctx context.Context, r io.Reader) (ImportResult, error) {
	res := ImportResult{Errors: []LineError{}}
	br := bufio.NewReaderSize(r, MaxImportLine)
	regions := map[string]*string{} // tenant id -> region, nil when missing
	var batch []Account
	var lines []int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		errs, err := s.store.ImportAccounts(ctx, batch)
		if err != nil {
			return fmt.Errorf("import batch: %w", err)
		}
		for i, e := range errs {
			if e != nil {
				res.fail(lines[i], e)
			} else {
				res.Imported++
			}
		}
		batch, lines = batch[:0], lines[:0]
		return nil
	}
	for n := 1; ; n++ {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if f := fault.As(err); f != nil && f.Code == fault.CodeLineTooLong {
				res.fail(n, err)
				continue
			}
			return res, errors.Join(err, flush())
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		a, lerr := s.parseLine(ctx, line, regions)
		if lerr != nil {
			if fault.As(lerr) == nil {
				return res, errors.Join(lerr, flush())
			}
			res.fail(n, lerr)
			continue
		}
		batch, lines = append(batch, a), append(lines, n)
		if len(batch) == ImportBatchSize {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	err := flush()
	slices.SortStableFunc(res.Errors, func(a, b LineError) int { return a.Line - b.Line })
	return res, err
}

// readLine returns the next line without its newline. A line longer than
// MaxImportLine is consumed and reported as a fault.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, fault.Invalidf(fault.CodeLineTooLong, "", "a line is at most %d bytes", MaxImportLine)
	}
	return bytes.TrimSuffix(line, []byte("\n")), err
}

func (s *Service) parseLine(ctx context.Context, line []byte, regions map[string]*string) (Account, error) {
	var in importLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			field = strings.Trim(field, `"`)
			return Account{}, fault.Invalidf(fault.CodeUnknownField, field, "unknown field %q", field)
		}
		return Account{}, fault.Invalidf(fault.CodeInvalidJSON, "", "the line is not an account object: %s", jsonReason(err))
	}
	if dec.More() {
		return Account{}, fault.Invalidf(fault.CodeInvalidJSON, "", "one object a line")
	}
	acct := AccountInput{ID: in.ID, DisplayName: in.DisplayName, Discoverable: true, Region: in.Region, Identifiers: in.Identifiers}
	if in.TenantID != nil {
		acct.TenantID = *in.TenantID
	}
	if in.Discoverable != nil {
		acct.Discoverable = *in.Discoverable
	}
	region := ""
	if acct.TenantID != "" {
		if err := ValidateID("tenant_id", acct.TenantID); err != nil {
			return Account{}, err
		}
		r, seen := regions[acct.TenantID]
		if !seen {
			t, err := s.store.Tenant(ctx, acct.TenantID)
			switch {
			case err == nil:
				r = &t.Region
			case fault.CodeOf(err) != ErrTenantNotFound.Code:
				return Account{}, err
			}
			regions[acct.TenantID] = r
		}
		if r == nil {
			return Account{}, ErrTenantMissing
		}
		region = *r
	}
	return acct.Prepare(region)
}

// jsonReason describes a decoding error without echoing the input.
func jsonReason(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q has the wrong type", typeErr.Field)
	}
	return err.Error()
}
