-- The feed is ordered by (tx, seq) on every engine. SQLite has one writer
-- at a time, so seq is already commit order and tx stays 0.
ALTER TABLE events ADD COLUMN tx INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_position ON events (tx, seq);
ALTER TABLE webhook_state ADD COLUMN last_tx INTEGER NOT NULL DEFAULT 0;
