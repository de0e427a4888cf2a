-- Sender reputation reads a sender's decided invitations and requests and
-- the blocks against them, newest first, within a window (package
-- reputation): these indexes keep that one read to the sender's own rows.
CREATE INDEX invites_inviter_decided ON invites (inviter_id, updated_at) WHERE status IN ('accepted', 'declined');
CREATE INDEX requests_sender_decided ON requests (sender_id, updated_at) WHERE status IN ('accepted', 'declined', 'blocked', 'reported');
CREATE INDEX blocks_blocked_at ON blocks (blocked_id, created_at);
CREATE INDEX identifier_blocks_blocked ON identifier_blocks (blocked_id, created_at);

-- The SMS cost guard (package smsguard). SMS invitations per destination
-- prefix and hour: sent, held back by the guard, and accepted.
CREATE TABLE sms_prefix_hours (
    prefix    TEXT NOT NULL,
    hour      TEXT NOT NULL,
    sent      INTEGER NOT NULL DEFAULT 0,
    held      INTEGER NOT NULL DEFAULT 0,
    accepted  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (prefix, hour)
);

-- Prefixes whose SMS are stopped until a time (a cool-off).
CREATE TABLE sms_prefix_cooloffs (
    prefix      TEXT PRIMARY KEY,
    ends_at     TEXT NOT NULL,
    tripped_at  TEXT NOT NULL
);

-- SMS sent per tenant and UTC day, against the tenant's daily budget.
CREATE TABLE sms_tenant_days (
    tenant_id  TEXT NOT NULL,
    day        TEXT NOT NULL,
    sent       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
