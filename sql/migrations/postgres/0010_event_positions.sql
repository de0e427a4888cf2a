-- A gap-free feed under concurrent writers: each event carries the id of
-- the transaction that wrote it (pg_current_xact_id), and the feed is
-- ordered by (tx, seq) and shows only events of transactions below the
-- oldest one still running (pg_snapshot_xmin). seq alone is taken at
-- insert, and transactions commit in another order. Events written before
-- this migration keep tx 0: they come first, in seq order.
ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX events_position ON events (tx, seq);
ALTER TABLE webhook_state ADD COLUMN last_tx BIGINT NOT NULL DEFAULT 0;
