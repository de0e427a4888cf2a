-- The spam screen. Fingerprints of texts (keyed MinHash bands, never the
-- text) per sender, band and recipient, kept for the near-duplicate
-- window and pruned after it.
CREATE TABLE spam_fingerprints (
    sender_id     TEXT NOT NULL,
    band          BIGINT NOT NULL,
    recipient_id  TEXT NOT NULL,
    seen_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sender_id, band, recipient_id)
);
CREATE INDEX spam_fingerprints_seen ON spam_fingerprints (seen_at);
-- The key of the fingerprints, one per database (every node uses it):
-- 244 random bits of two version-4 UUIDs (gen_random_uuid draws from a
-- strong source).
CREATE TABLE spam_key (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    key  TEXT NOT NULL
);
INSERT INTO spam_key (id, key) VALUES (1, replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
-- Bad link domains that ops keep (GET/PUT/DELETE /v1/spam/domains).
CREATE TABLE spam_domains (
    domain    TEXT PRIMARY KEY,
    added_at  TIMESTAMPTZ NOT NULL
);
-- The rate of new recipients: the requests the gate created per sender,
-- by time; whether anyone ever accepted a sender.
CREATE INDEX requests_sender_new ON requests (sender_id, created_at) WHERE invite_id IS NULL;
CREATE INDEX requests_sender_accepted ON requests (sender_id) WHERE status = 'accepted';
