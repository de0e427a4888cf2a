-- Where the webhook dispatcher is in the event stream, and which node
-- holds the right to deliver.
CREATE TABLE webhook_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq      INTEGER NOT NULL DEFAULT 0,
    locked_by     TEXT NOT NULL DEFAULT '',
    locked_until  TEXT NOT NULL DEFAULT ''
);
INSERT INTO webhook_state (id) VALUES (1);
