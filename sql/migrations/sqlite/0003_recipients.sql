-- Single-use sign-up tickets issued when a recipient accepts.
CREATE TABLE tickets (
    hash        TEXT PRIMARY KEY,
    invite_id   TEXT NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
) WITHOUT ROWID;

-- A recipient without an account blocked an inviter from their address.
CREATE TABLE identifier_blocks (
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    blocked_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (kind, value, blocked_id)
) WITHOUT ROWID;

-- Pending invites that became message requests when their recipient linked.
CREATE TABLE requests (
    id            TEXT PRIMARY KEY,
    invite_id     TEXT NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
    sender_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    recipient_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    chat_id       TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (invite_id)
);
CREATE INDEX requests_recipient ON requests (recipient_id, status);
