package fault

// The error codes of the API contract, each declared once. A code never
// changes once published: clients branch on it. Faults are built from these
// constants where they are owned (the domain package that decides, or the
// HTTP adapter for what only it can tell).
const (
	// Requests, as the HTTP adapter reads them.
	CodeInvalidJSON          = "invalid_json"
	CodeUnknownField         = "unknown_field"
	CodeInvalidField         = "invalid_field"
	CodeMissingField         = "missing_field"
	CodeInvalidParameter     = "invalid_parameter"
	CodeInvalidForm          = "invalid_form"
	CodeRequestTooLarge      = "request_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeInternal             = "internal_error"
	CodeRateLimited          = "rate_limited"
	CodeInvalidCSRF          = "invalid_csrf"
	CodeInvalidSignature     = "invalid_signature"
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	CodeIdempotencyKeyInUse  = "idempotency_key_in_use"
	CodeInvalidIdempotency   = "invalid_idempotency_key"

	// API keys.
	CodeUnauthorized      = "unauthorized"
	CodeInsufficientScope = "insufficient_scope"
	CodeInvalidScope      = "invalid_scope"
	CodeKeyNameTaken      = "key_name_taken"
	CodeKeyNotFound       = "key_not_found"

	// Identifiers and resolve.
	CodeInvalidEmail       = "invalid_email"
	CodeInvalidPhone       = "invalid_phone"
	CodeRegionRequired     = "region_required"
	CodeInvalidRegion      = "invalid_region"
	CodeInvalidIdentifier  = "invalid_identifier"
	CodeIdentifierTaken    = "identifier_taken"
	CodeTooManyIdentifiers = "too_many_identifiers"
	CodePolicyDenied       = "policy_denied"

	// The directory.
	CodeInvalidID       = "invalid_id"
	CodeInvalidName     = "invalid_name"
	CodeInvalidDomain   = "invalid_domain"
	CodeInvalidChannel  = "invalid_channel"
	CodeInvalidPolicy   = "invalid_policy"
	CodeInvalidBlock    = "invalid_block"
	CodeAccountNotFound = "account_not_found"
	CodeTenantNotFound  = "tenant_not_found"
	CodeBlockNotFound   = "block_not_found"
	// CodeLineTooLong and CodeLineInternal appear only in an import's
	// per-line errors.
	CodeLineTooLong  = "line_too_long"
	CodeLineInternal = "internal"

	// Invitations.
	CodeInviteNotFound    = "invite_not_found"
	CodeInviteNotPending  = "invite_not_pending"
	CodeInviteExists      = "invite_exists"
	CodeInviteGone        = "invite_gone"
	CodeInvalidTicket     = "invalid_ticket"
	CodeChannelNotAllowed = "channel_not_allowed"
	CodeInvalidChat       = "invalid_chat"
	CodeInvalidLocale     = "invalid_locale"

	// Message requests.
	CodeRequestNotFound = "request_not_found"
	CodeRequestDecided  = "request_decided"

	// Templates.
	CodeTemplateInvalid         = "template_invalid"
	CodeTemplateNotFound        = "template_not_found"
	CodeTemplateVersionNotFound = "template_version_not_found"

	// The event feed.
	CodeInvalidCursor = "invalid_cursor"
	// CodeUnavailable: the database cannot be reached for now (503, with
	// Retry-After).
	CodeUnavailable = "unavailable"
)
