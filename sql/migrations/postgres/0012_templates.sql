-- Template versions per (name, locale); the embedded defaults are saved
-- as version 1 of en and fr when a node starts. template_active names the
-- active version; template_changes is the history (who, when);
-- template_generation changes with every activation, so that nodes notice
-- one with a single cheap read.
CREATE TABLE template_versions (
    name        TEXT NOT NULL,
    locale      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    subject     TEXT NOT NULL DEFAULT '',
    body_text   TEXT NOT NULL DEFAULT '',
    body_html   TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, locale, version)
);
CREATE TABLE template_active (
    name        TEXT NOT NULL,
    locale      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (name, locale)
);
CREATE TABLE template_changes (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    locale      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    action      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX template_changes_key ON template_changes (name, locale, id);
CREATE TABLE template_generation (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   BIGINT NOT NULL
);
INSERT INTO template_generation (id, n) VALUES (1, 0);
-- Which template a queued message was rendered from.
ALTER TABLE outbox ADD COLUMN template_locale TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN template_version INTEGER NOT NULL DEFAULT 0;
