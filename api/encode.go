package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/beckon-chat/beckon/fault"
)

// Body size limits of the contract.
const (
	maxBody      = 64 << 10
	maxBatchBody = 1 << 20
)

// encode writes v as JSON with status.
func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads one JSON object of at most limit bytes into a T, rejecting
// another content type, a body that is not UTF-8, unknown fields, keys
// that name a field only when case is ignored or that repeat (exactKeys),
// wrong types and trailing data.
// into, when not nil, holds defaults that absent fields keep. The size
// comes first: a body over limit is 413 request_too_large whatever it
// holds, so it is read whole (up to limit) before it is parsed.
func decode[T any](w http.ResponseWriter, r *http.Request, limit int64, into *T) (T, error) {
	var v T
	if into != nil {
		v = *into
	}
	if r.ContentLength > limit {
		return v, tooLarge(limit) // the size first, whatever the type
	}
	if err := requireType(r, "application/json"); err != nil {
		return v, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit)) // chunked bodies have no length
	if err != nil {
		return v, decodeError(err)
	}
	if !utf8.Valid(body) { // the decoder would quietly make bad bytes U+FFFD
		return v, fault.Invalidf(fault.CodeInvalidJSON, "", "the body must be UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return v, decodeError(err)
		}
		return v, fault.Invalidf(fault.CodeInvalidJSON, "", "the body must hold one JSON object")
	}
	if err := exactKeys(json.NewDecoder(bytes.NewReader(body)), reflect.TypeOf(v)); err != nil {
		return v, decodeError(err)
	}
	return v, nil
}

// requireType checks the request's Content-Type against the accepted ones.
func requireType(r *http.Request, accepted ...string) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	for _, a := range accepted {
		if err == nil && mt == a {
			return nil
		}
	}
	return fault.New(fault.UnsupportedMedia, fault.CodeUnsupportedMediaType, "",
		fmt.Sprintf("send the body as %s", strings.Join(accepted, " or ")))
}

// decodeError turns a JSON decoding error into a fault that names what is
// wrong without echoing the input.
func decodeError(err error) error {
	if f := fault.As(err); f != nil {
		return err
	}
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return tooLarge(maxErr.Limit)
	case errors.Is(err, io.EOF):
		return fault.Invalidf(fault.CodeInvalidJSON, "", "the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fault.Invalidf(fault.CodeInvalidJSON, "", "the body ends in the middle of the JSON")
	case errors.As(err, &syntaxErr):
		return fault.Invalidf(fault.CodeInvalidJSON, "", "malformed JSON at byte %d", syntaxErr.Offset)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return fault.Invalidf(fault.CodeInvalidJSON, "", "the body must be a JSON object")
		}
		return fault.Invalidf(fault.CodeInvalidField, field, "%s must be of type %s", field, jsonType(typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fault.Invalidf(fault.CodeUnknownField, field, "unknown field %q", field)
	}
	return fault.Invalidf(fault.CodeInvalidJSON, "", "the body could not be read")
}

// tooLarge is the fault of a body over limit bytes.
func tooLarge(limit int64) error {
	return fault.New(fault.TooLarge, fault.CodeRequestTooLarge, "", fmt.Sprintf("the body is larger than %d bytes", limit))
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	}
	return "number"
}

// required returns a missing_field fault when value is empty.
func required(field, value string) error {
	if strings.TrimSpace(value) == "" {
		return missing(field)
	}
	return nil
}

// missing returns the missing_field fault of a required field.
func missing(field string) *fault.Error {
	return fault.Invalidf(fault.CodeMissingField, field, "%s is required", field)
}
