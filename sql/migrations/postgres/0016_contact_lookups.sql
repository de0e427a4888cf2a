-- Contact sync: which identifiers each requester looked up recently, so
-- that resolve charges the requester's limit only for new ones. A row holds
-- nothing but a keyed hash (HMAC-SHA256 with a server secret, cut to 16
-- bytes) of (requester, normalised identifier): the requester and the
-- identifier cannot be read back without the secret. seen_at is the last
-- lookup (refreshed at most every tenth of the window), charged_at the last
-- lookup that was charged. Rows older than the window are pruned.
CREATE TABLE contact_lookups (
    key         BYTEA PRIMARY KEY,
    seen_at     TIMESTAMPTZ NOT NULL,
    charged_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX contact_lookups_seen_at ON contact_lookups (seen_at);

-- Secrets Beckon generates for itself when ops give none (development):
-- generated once, shared by every node.
CREATE TABLE generated_secrets (
    name        TEXT PRIMARY KEY,
    value       BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
