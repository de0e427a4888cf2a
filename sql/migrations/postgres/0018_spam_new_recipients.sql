-- The rate of new recipients is counted on claims, not on the requests
-- the gate created: the count and the request's creation were two
-- transactions, so one sender's first messages checked at the same moment
-- could each pass at the edge. A claim is made under the sender's lock in
-- the transaction that counts, so exactly the threshold passes. One row
-- per (sender, recipient) first written to, kept for the window.
CREATE TABLE spam_new_recipients (
    sender_id     TEXT NOT NULL,
    recipient_id  TEXT NOT NULL,
    seen_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sender_id, recipient_id)
);
CREATE INDEX spam_new_recipients_sender ON spam_new_recipients (sender_id, seen_at);
CREATE INDEX spam_new_recipients_seen ON spam_new_recipients (seen_at);
-- requests_sender_new, which the old count read, stays for now: the
-- previous release's binary names it (SQLite: INDEXED BY), and a rollback
-- or a rolling upgrade must still run on this schema. Drop it a release
-- later.
