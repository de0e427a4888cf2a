-- PostgreSQL shifts feed positions after a logical move; SQLite's tx is
-- always 0. Nothing to do.
SELECT 1;
