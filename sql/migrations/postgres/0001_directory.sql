CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    region      TEXT NOT NULL DEFAULT '',
    domains     TEXT NOT NULL DEFAULT '[]',
    policy      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE accounts (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT REFERENCES tenants (id),
    display_name       TEXT NOT NULL,
    discoverable       BOOLEAN NOT NULL,
    region             TEXT NOT NULL DEFAULT '',
    outbound_personal  BOOLEAN,
    inbound_personal   BOOLEAN,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_tenant ON accounts (tenant_id);

-- One row per verified identifier; (kind, value) is the canonical form.
CREATE TABLE identifiers (
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identifiers_account ON identifiers (account_id, position);

CREATE TABLE blocks (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    blocked_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
