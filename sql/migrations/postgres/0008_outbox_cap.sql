-- The per-recipient cap decision of a message, taken on its first claim and
-- kept, so that a message claimed again (a crash, a lease run out) is neither
-- charged twice nor let through uncharged. NULL: not decided yet.
ALTER TABLE outbox ADD COLUMN capped BOOLEAN;
