-- The pre-acceptance allowance belongs to the pair (sender, recipient),
-- not to one request: a link can add a request to a pair whose first
-- check already made one, and counting on whichever was "oldest" let
-- each of them deliver the limit. One row per pair, counted by one
-- guarded upsert. The requests' own counts move here, summed.
CREATE TABLE request_pairs (
    sender_id          TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    recipient_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    delivered          INTEGER NOT NULL DEFAULT 0,
    held               INTEGER NOT NULL DEFAULT 0,
    last_delivered_at  TEXT,
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (sender_id, recipient_id)
);
INSERT INTO request_pairs (sender_id, recipient_id, delivered, held, last_delivered_at, updated_at)
SELECT sender_id, recipient_id, SUM(delivered), SUM(held), MAX(last_delivered_at), MAX(updated_at)
FROM requests GROUP BY sender_id, recipient_id;
ALTER TABLE requests DROP COLUMN delivered;
ALTER TABLE requests DROP COLUMN held;
ALTER TABLE requests DROP COLUMN last_delivered_at;
-- An invitation accepted by its recipient is consent between the two:
-- the gate looks it up by (recipient account, inviter).
CREATE INDEX invites_accepted_by ON invites (accepted_by, inviter_id) WHERE accepted_by IS NOT NULL;
