-- Message requests that the gate creates on the first check between two
-- accounts have no invite; every request counts the pre-acceptance
-- messages delivered and held back on it. SQLite cannot drop a NOT NULL:
-- the table is rebuilt.
CREATE TABLE requests_new (
    id                 TEXT PRIMARY KEY,
    invite_id          TEXT REFERENCES invites (id) ON DELETE CASCADE,
    sender_id          TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    recipient_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    chat_id            TEXT NOT NULL,
    status             TEXT NOT NULL,
    delivered          INTEGER NOT NULL DEFAULT 0,
    held               INTEGER NOT NULL DEFAULT 0,
    last_delivered_at  TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (invite_id)
);
INSERT INTO requests_new (id, invite_id, sender_id, recipient_id, chat_id, status, created_at, updated_at)
SELECT id, invite_id, sender_id, recipient_id, chat_id, status, created_at, updated_at FROM requests;
DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;
CREATE INDEX requests_recipient ON requests (recipient_id, status);
-- One gate-created request per pair: of two first checks at once, one
-- creates it.
CREATE UNIQUE INDEX requests_gate_pair ON requests (sender_id, recipient_id) WHERE invite_id IS NULL;
CREATE INDEX requests_pair ON requests (sender_id, recipient_id, created_at);
CREATE INDEX requests_recipient_id ON requests (recipient_id, id);
