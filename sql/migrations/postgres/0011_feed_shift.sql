-- Feed positions survive a logical move (pg_dump/restore, logical
-- replication) into a server whose transaction counter is lower than the
-- old one's: positions are the transaction id plus a shift, and `beckon
-- migrate` (also run by serve at start) raises the shift until every new
-- position lies above every stored one. pg_upgrade keeps the counter; the
-- shift then stays 0.
CREATE TABLE feed_shift (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    shift  BIGINT NOT NULL DEFAULT 0
);
INSERT INTO feed_shift (id) VALUES (1);
CREATE FUNCTION beckon_feed_position(xid BIGINT) RETURNS BIGINT
    LANGUAGE sql STABLE AS 'SELECT xid + shift FROM feed_shift WHERE id = 1';
ALTER TABLE events ALTER COLUMN tx SET DEFAULT beckon_feed_position(pg_current_xact_id()::text::bigint);
