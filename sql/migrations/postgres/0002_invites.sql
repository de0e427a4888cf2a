CREATE TABLE invites (
    id               TEXT PRIMARY KEY,
    inviter_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    tenant_id        TEXT,
    recipient_kind   TEXT NOT NULL,
    recipient_value  TEXT NOT NULL,
    channel          TEXT NOT NULL,
    chat_id          TEXT NOT NULL,
    chat_kind        TEXT NOT NULL,
    chat_title       TEXT NOT NULL DEFAULT '',
    locale           TEXT NOT NULL,
    status           TEXT NOT NULL,
    delivery         TEXT NOT NULL,
    suppressed       BOOLEAN NOT NULL,
    resends          INTEGER NOT NULL DEFAULT 0,
    accepted_by      TEXT,
    last_sent_at     TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
-- One pending invite per inviter, identifier and chat.
CREATE UNIQUE INDEX invites_one_pending ON invites (inviter_id, recipient_kind, recipient_value, chat_id) WHERE status = 'pending';
CREATE INDEX invites_recipient ON invites (recipient_kind, recipient_value) WHERE status = 'pending';
CREATE INDEX invites_inviter ON invites (inviter_id, id);
CREATE INDEX invites_expiry ON invites (expires_at) WHERE status = 'pending';

-- Only hashes: the tokens themselves exist in the messages until sent.
CREATE TABLE invite_tokens (
    hash        TEXT PRIMARY KEY,
    invite_id   TEXT NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX invite_tokens_invite ON invite_tokens (invite_id);

-- The transactional outbox: written with the invite, sent by workers.
CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    invite_id        TEXT NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    channel          TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    body_text        TEXT NOT NULL DEFAULT '',
    body_html        TEXT NOT NULL DEFAULT '',
    unsubscribe      TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    locked_until     TIMESTAMPTZ,
    last_error       TEXT NOT NULL DEFAULT '',
    provider_id      TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE outbox_attempts (
    outbox_id  BIGINT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempt    INTEGER NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    outcome    TEXT NOT NULL,
    error      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (outbox_id, attempt)
);

CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Identifiers that asked for no invitations.
CREATE TABLE unsubscribes (
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, value)
);
