-- The per-recipient cap decision of a message, recorded with its attempt and
-- reused on its retries, so that a retry is not charged again.
-- NULL: not decided yet.
ALTER TABLE outbox ADD COLUMN capped BOOLEAN;
