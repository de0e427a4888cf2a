-- Contact sync: which identifiers each requester looked up recently, so
-- that resolve charges the requester's limit only for new ones. A row holds
-- nothing but a keyed hash (HMAC-SHA256 with a server secret, cut to 16
-- bytes) of (requester, normalised identifier): the requester and the
-- identifier cannot be read back without the secret. seen_at is the last
-- lookup (refreshed at most every tenth of the window), charged_at the last
-- lookup that was charged. Rows older than the window are pruned.
-- WITHOUT ROWID: the table is its key's b-tree, one write less a lookup.
CREATE TABLE contact_lookups (
    key         BLOB PRIMARY KEY,
    seen_at     TEXT NOT NULL,
    charged_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX contact_lookups_seen_at ON contact_lookups (seen_at);

-- Secrets Beckon generates for itself when ops give none (development):
-- generated once, shared by every node.
CREATE TABLE generated_secrets (
    name        TEXT PRIMARY KEY,
    value       BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
