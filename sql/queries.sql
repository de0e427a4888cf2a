-- Named queries shared by SQLite and PostgreSQL. Placeholders are '?' and
-- are rebound to the driver's form at start-up.

-- name: put-tenant
INSERT INTO tenants (id, name, region, domains, policy, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    name = excluded.name, region = excluded.region, domains = excluded.domains,
    policy = excluded.policy, updated_at = excluded.updated_at;

-- name: get-tenant
SELECT id, name, region, domains, policy, created_at, updated_at FROM tenants WHERE id = ?;

-- name: put-account
INSERT INTO accounts (id, tenant_id, display_name, discoverable, region, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    tenant_id = excluded.tenant_id, display_name = excluded.display_name,
    discoverable = excluded.discoverable, region = excluded.region, updated_at = excluded.updated_at;

-- name: get-account
SELECT id, tenant_id, display_name, discoverable, region, outbound_personal, inbound_personal,
       created_at, updated_at
FROM accounts WHERE id = ?;

-- name: account-identifiers
SELECT kind, value FROM identifiers WHERE account_id = ? ORDER BY position;

-- name: identifier-owner
SELECT account_id FROM identifiers WHERE kind = ? AND value = ?;

-- name: insert-identifier
INSERT INTO identifiers (kind, value, account_id, position) VALUES (?, ?, ?, ?);

-- name: import-owners
-- Who owns the identifiers of an import batch (IN lists expanded).
SELECT kind, value, account_id FROM identifiers
WHERE (kind = 'email' AND value IN (?)) OR (kind = 'phone' AND value IN (?));

-- name: import-held
-- The identifiers the accounts of an import batch hold now.
SELECT kind, value, account_id FROM identifiers WHERE account_id IN (?);

-- name: import-accounts
-- ROWS becomes one (?, ?, ?, ?, ?, ?, ?) group per account.
INSERT INTO accounts (id, tenant_id, display_name, discoverable, region, created_at, updated_at)
VALUES ROWS
ON CONFLICT (id) DO UPDATE SET
    tenant_id = excluded.tenant_id, display_name = excluded.display_name,
    discoverable = excluded.discoverable, region = excluded.region, updated_at = excluded.updated_at;

-- name: import-clear
DELETE FROM identifiers WHERE account_id IN (?);

-- name: import-identifiers
-- ROWS becomes one (?, ?, ?, ?) group per identifier.
INSERT INTO identifiers (kind, value, account_id, position) VALUES ROWS;

-- name: set-discoverable
UPDATE accounts SET discoverable = ?, updated_at = ? WHERE id = ?;

-- name: set-overrides
UPDATE accounts SET outbound_personal = ?, inbound_personal = ?, updated_at = ? WHERE id = ?;

-- name: delete-account
DELETE FROM accounts WHERE id = ?;

-- name: erase-received
-- Invites the account accepted keep their history but not its address.
UPDATE invites SET recipient_value = 'erased:' || id, accepted_by = NULL WHERE accepted_by = ?;

-- name: put-block
INSERT INTO blocks (account_id, blocked_id, created_at) VALUES (?, ?, ?)
ON CONFLICT (account_id, blocked_id) DO NOTHING;

-- name: get-block
SELECT account_id, blocked_id, created_at FROM blocks WHERE account_id = ? AND blocked_id = ?;

-- name: delete-block
DELETE FROM blocks WHERE account_id = ? AND blocked_id = ?;

-- name: list-blocks
SELECT account_id, blocked_id, created_at FROM blocks
WHERE account_id = ? AND blocked_id > ? ORDER BY blocked_id LIMIT ?;

-- name: requester
SELECT a.id, a.tenant_id, a.display_name, a.region, a.outbound_personal, a.inbound_personal,
       (SELECT e.value FROM identifiers e WHERE e.account_id = a.id AND e.kind = 'email'
        ORDER BY e.position LIMIT 1) AS first_email,
       t.region AS tenant_region, t.domains AS tenant_domains, t.policy AS tenant_policy
FROM accounts a LEFT JOIN tenants t ON t.id = a.tenant_id
WHERE a.id = ?;

-- name: owners
-- The owners of a list of identifiers as one requester sees them: one
-- query that does the same work for every identifier asked, whatever the
-- answer. An identifier nobody owns is joined to a stand-in account (the
-- next account id after the identifier: a page as cold as a real owner's;
-- past the last one, the sentinel with the empty id of migration 0009), so
-- every row reads an account, a tenant, a block probe and an email, owner or
-- not; id is NULL when nobody owns it, and the stand-in's data is unused.
-- pending says whether the requester has an unexpired pending invite to
-- the identifier (probed for every row alike), so that resolve fetches
-- invites (pending-invites-to) only when there is one: one round trip for
-- a resolve or a batch without, two with.
-- WANTED is expanded to one (kind, value) pair an identifier, padded to a
-- few sizes.
SELECT w.column1 AS kind, w.column2 AS value, i.account_id AS id, a.tenant_id, a.display_name, a.discoverable,
       a.inbound_personal,
       CASE WHEN COALESCE(a.tenant_id, '') = '' THEN NULL ELSE t.policy END AS tenant_policy,
       CASE WHEN COALESCE(a.tenant_id, '') = '' THEN NULL ELSE t.domains END AS tenant_domains,
       EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = a.id AND b.blocked_id = ?) AS blocked,
       EXISTS (SELECT 1 FROM invites p WHERE p.inviter_id = ? AND p.recipient_kind = w.column1
                 AND p.recipient_value = w.column2 AND p.status = 'pending' AND p.expires_at > ?) AS pending,
       (SELECT e.value FROM identifiers e
        WHERE e.account_id = a.id AND e.kind = 'email' ORDER BY e.position LIMIT 1) AS email
FROM (VALUES WANTED) AS w
LEFT JOIN identifiers i ON i.kind = w.column1 AND i.value = w.column2
JOIN accounts a ON a.id = COALESCE(i.account_id, (SELECT n.id FROM accounts n WHERE n.id > w.column2 ORDER BY n.id LIMIT 1), '')
JOIN tenants t ON t.id = COALESCE(a.tenant_id, '');

-- name: lookup
-- The requester and the owners it asks about, in one round trip: the
-- owners query above is put in place of OWNERS when the queries load.
-- One row per identifier asked (and per padding entry). The requester is
-- read once in a sub-query (LIMIT 1 keeps PostgreSQL from inlining it and
-- reading the requester's email again for every row); its placeholder
-- comes first.
SELECT a.id, a.tenant_id, a.display_name, a.region, a.outbound_personal, a.inbound_personal, a.first_email,
       t.region AS tenant_region, t.domains AS tenant_domains, t.policy AS tenant_policy,
       o.kind AS o_kind, o.value AS o_value, o.id AS o_id, o.tenant_id AS o_tenant_id,
       o.display_name AS o_display_name, o.discoverable AS o_discoverable,
       o.inbound_personal AS o_inbound_personal, o.tenant_policy AS o_tenant_policy, o.tenant_domains AS o_tenant_domains,
       o.blocked AS o_blocked, o.pending AS o_pending, o.email AS o_email
FROM (SELECT r.id, r.tenant_id, r.display_name, r.region, r.outbound_personal, r.inbound_personal,
             (SELECT e.value FROM identifiers e WHERE e.account_id = r.id AND e.kind = 'email'
              ORDER BY e.position LIMIT 1) AS first_email
      FROM accounts r WHERE r.id = ? LIMIT 1) AS a
LEFT JOIN tenants t ON t.id = a.tenant_id
LEFT JOIN (OWNERS) o ON 1 = 1;

-- name: create-key
INSERT INTO api_keys (id, name, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?);

-- name: key-by-hash
SELECT id, name, scopes, created_at, revoked_at FROM api_keys WHERE hash = ? AND revoked_at IS NULL;

-- name: list-keys
SELECT id, name, scopes, created_at, revoked_at FROM api_keys ORDER BY created_at, id;

-- name: revoke-key
UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL;

-- name: insert-invite
INSERT INTO invites (id, inviter_id, tenant_id, recipient_kind, recipient_value, channel, chat_id, chat_kind,
                     chat_title, locale, status, delivery, suppressed, resends, last_sent_at, created_at,
                     expires_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert-token
INSERT INTO invite_tokens (hash, invite_id, created_at) VALUES (?, ?, ?);

-- name: insert-outbox
INSERT INTO outbox (invite_id, kind, channel, recipient, subject, body_text, body_html, unsubscribe, state,
                    next_attempt_at, created_at, updated_at, template_locale, template_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?);

-- name: insert-event
INSERT INTO events (id, type, data, created_at) VALUES (?, ?, ?, ?);

-- name: get-invite
SELECT id, inviter_id, tenant_id, recipient_kind, recipient_value, channel, chat_id, chat_kind, chat_title,
       locale, status, delivery, suppressed, resends, accepted_by, last_sent_at, created_at, expires_at
FROM invites WHERE id = ?;

-- name: pending-invite
-- Ordered by created_at, not id: ordering by id makes SQLite walk the
-- inviter's whole history instead of the pending-invite index.
SELECT id, inviter_id, tenant_id, recipient_kind, recipient_value, channel, chat_id, chat_kind, chat_title,
       locale, status, delivery, suppressed, resends, accepted_by, last_sent_at, created_at, expires_at
FROM invites
WHERE inviter_id = ? AND recipient_kind = ? AND recipient_value = ? AND status = 'pending'
  AND (chat_id = ? OR ? = '') AND expires_at > ?
ORDER BY created_at DESC LIMIT 1;

-- name: pending-invites-to
-- The inviter's newest pending invite to each identifier asked (resolve's
-- pending_invite): one indexed probe an identifier, LIMIT 1 each, however
-- many chats the inviter invited them to. WANTED is expanded as in owners.
SELECT i.id, i.inviter_id, i.tenant_id, i.recipient_kind, i.recipient_value, i.channel, i.chat_id, i.chat_kind,
       i.chat_title, i.locale, i.status, i.delivery, i.suppressed, i.resends, i.accepted_by, i.last_sent_at,
       i.created_at, i.expires_at
FROM invites i
WHERE i.id IN (SELECT (SELECT p.id FROM invites p
                       WHERE p.inviter_id = ? AND p.recipient_kind = w.column1 AND p.recipient_value = w.column2
                         AND p.status = 'pending' AND p.expires_at > ?
                       ORDER BY p.created_at DESC LIMIT 1)
               FROM (VALUES WANTED) AS w);

-- name: list-invites
SELECT id, inviter_id, tenant_id, recipient_kind, recipient_value, channel, chat_id, chat_kind, chat_title,
       locale, status, delivery, suppressed, resends, accepted_by, last_sent_at, created_at, expires_at
FROM invites
WHERE (inviter_id = ? OR ? = '') AND (status = ? OR ? = '') AND (chat_id = ? OR ? = '') AND (id < ? OR ? = '')
ORDER BY id DESC LIMIT ?;

-- name: revoke-invite
UPDATE invites SET status = 'revoked', updated_at = ? WHERE id = ? AND status = 'pending';

-- name: delete-tokens
DELETE FROM invite_tokens WHERE invite_id = ?;

-- name: resend-invite
-- Guarded by the resend count read: of two concurrent resends, one wins.
UPDATE invites SET resends = ?, last_sent_at = ?, delivery = ?, updated_at = ?
WHERE id = ? AND status = 'pending' AND resends = ?;

-- name: unsubscribe
INSERT INTO unsubscribes (kind, value, created_at) VALUES (?, ?, ?) ON CONFLICT (kind, value) DO NOTHING;

-- name: resubscribe
DELETE FROM unsubscribes WHERE kind = ? AND value = ?;

-- name: claim-outbox.sqlite
UPDATE outbox SET state = 'sending', attempts = attempts + 1, locked_until = ?, updated_at = ?
WHERE id IN (SELECT id FROM outbox
             WHERE (state = 'pending' AND next_attempt_at <= ?) OR (state = 'sending' AND locked_until <= ?)
             ORDER BY id LIMIT ?)
RETURNING id, invite_id, kind, channel, recipient, subject, body_text, body_html, unsubscribe, attempts, capped;

-- name: claim-outbox.postgres
UPDATE outbox SET state = 'sending', attempts = attempts + 1, locked_until = ?, updated_at = ?
WHERE id IN (SELECT id FROM outbox
             WHERE (state = 'pending' AND next_attempt_at <= ?) OR (state = 'sending' AND locked_until <= ?)
             ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED)
RETURNING id, invite_id, kind, channel, recipient, subject, body_text, body_html, unsubscribe, attempts, capped;

-- name: outbox-done
-- Sent, held or failed for good: the bodies, which hold the link, are
-- wiped. A held message with a delivery report to make waits in
-- 'held_report' until next_attempt_at. Fenced by the attempt: a worker
-- whose lease ran out records nothing over the one that took it over.
UPDATE outbox SET state = ?, subject = '', body_text = '', body_html = '', unsubscribe = '', provider_id = ?,
                  last_error = ?, locked_until = NULL, next_attempt_at = ?, updated_at = ?, capped = COALESCE(capped, ?)
WHERE id = ? AND state = 'sending' AND attempts = ?;

-- name: outbox-release
-- A claimed message that was not tried goes back as it was before the
-- claim, due at once. Fenced by the attempt like a record.
UPDATE outbox SET state = 'pending', attempts = attempts - 1, locked_until = NULL, updated_at = ?
WHERE id = ? AND state = 'sending' AND attempts = ?;

-- name: outbox-retry
-- The cap decision is kept, so that a retry is not charged again.
UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ?, locked_until = NULL, updated_at = ?,
                  capped = COALESCE(capped, ?)
WHERE id = ? AND state = 'sending' AND attempts = ?;

-- name: held-reports.sqlite
UPDATE outbox SET state = 'held', updated_at = ?
WHERE id IN (SELECT id FROM outbox WHERE state = 'held_report' AND next_attempt_at <= ? ORDER BY id LIMIT ?)
RETURNING invite_id;

-- name: held-reports.postgres
UPDATE outbox SET state = 'held', updated_at = ?
WHERE id IN (SELECT id FROM outbox WHERE state = 'held_report' AND next_attempt_at <= ? ORDER BY id LIMIT ?
             FOR UPDATE SKIP LOCKED)
RETURNING invite_id;

-- name: insert-attempt
INSERT INTO outbox_attempts (outbox_id, attempt, at, outcome, error) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (outbox_id, attempt) DO NOTHING;

-- name: set-delivery
UPDATE invites SET delivery = ?, updated_at = ? WHERE id = ? AND status = 'pending';

-- name: mark-reached
-- A message of the invite really went out (suppressed starts true).
UPDATE invites SET suppressed = FALSE WHERE id = ? AND suppressed;

-- name: list-events.sqlite
-- One writer at a time: every event below the last one is committed.
SELECT tx, seq, id, type, data, created_at, FALSE AS held FROM events
WHERE (tx, seq) > (?, ?) ORDER BY tx, seq LIMIT ?;

-- name: list-events.postgres
-- held marks events of transactions at or above the oldest one still
-- running (in the statement's snapshot): an event may yet commit before
-- them, so the feed stops at the first one.
SELECT e.tx, e.seq, e.id, e.type, e.data, e.created_at, e.tx >= b.xmin AS held
FROM events e, (SELECT beckon_feed_position(pg_snapshot_xmin(pg_current_snapshot())::text::bigint) AS xmin) b
WHERE (e.tx, e.seq) > (?, ?) ORDER BY e.tx, e.seq LIMIT ?;

-- name: webhook-lease
-- Take or extend the delivery lease; RETURNING says whether we hold it.
UPDATE webhook_state SET locked_by = ?, locked_until = ?
WHERE id = 1 AND (locked_by = ? OR locked_until < ?)
RETURNING last_tx AS tx, last_seq AS seq;

-- name: webhook-advance
UPDATE webhook_state SET last_tx = ?, last_seq = ? WHERE id = 1 AND locked_by = ?;

-- name: raise-feed-shift
-- After a logical move into a server with a lower transaction counter,
-- new positions must still come after every stored one.
UPDATE feed_shift SET shift = GREATEST(shift,
    (SELECT COALESCE(MAX(tx), 0) FROM events) - pg_current_xact_id()::text::bigint + 1)
WHERE id = 1;

-- name: event-position
SELECT tx, seq FROM events WHERE id = ?;

-- name: invite-by-token
SELECT i.id, i.inviter_id, i.tenant_id, i.recipient_kind, i.recipient_value, i.channel, i.chat_id, i.chat_kind,
       i.chat_title, i.locale, i.status, i.delivery, i.suppressed, i.resends, i.accepted_by, i.last_sent_at,
       i.created_at, i.expires_at
FROM invite_tokens t JOIN invites i ON i.id = t.invite_id
WHERE t.hash = ?;

-- name: end-invite
UPDATE invites SET status = ?, updated_at = ? WHERE id = ? AND status = 'pending';

-- name: block-identifier
INSERT INTO identifier_blocks (kind, value, blocked_id, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (kind, value, blocked_id) DO NOTHING;

-- name: refuses
SELECT (SELECT COUNT(*) FROM unsubscribes WHERE kind = ? AND value = ?)
     + (SELECT COUNT(*) FROM identifier_blocks WHERE kind = ? AND value = ? AND blocked_id = ?);

-- name: insert-ticket
INSERT INTO tickets (hash, invite_id, kind, value, expires_at) VALUES (?, ?, ?, ?, ?);

-- name: next-position
SELECT COALESCE(MAX(position) + 1, 0) FROM identifiers WHERE account_id = ?;

-- name: get-ticket
SELECT invite_id, kind, value, expires_at, used_at FROM tickets WHERE hash = ?;

-- name: use-ticket
-- Guarded: of two links with one ticket, one uses it.
UPDATE tickets SET used_at = ? WHERE hash = ? AND used_at IS NULL;

-- name: accept-invite
UPDATE invites SET status = 'accepted', accepted_by = ?, updated_at = ? WHERE id = ? AND status = 'pending' AND expires_at > ?;

-- name: pending-to
-- The unexpired pending invites to an identifier being linked to an
-- account, with what decides (in invite.Waiting) whether each becomes a
-- message request: whether the account blocks the inviter, and whether the
-- identifier asked for no invitations.
SELECT i.id, i.inviter_id, i.tenant_id, i.recipient_kind, i.recipient_value, i.channel, i.chat_id, i.chat_kind,
       i.chat_title, i.locale, i.status, i.delivery, i.suppressed, i.resends, i.accepted_by, i.last_sent_at,
       i.created_at, i.expires_at,
       EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = ? AND b.blocked_id = i.inviter_id) AS inviter_blocked,
       EXISTS (SELECT 1 FROM unsubscribes u WHERE u.kind = i.recipient_kind AND u.value = i.recipient_value) AS unsubscribed
FROM invites i
WHERE i.recipient_kind = ? AND i.recipient_value = ? AND i.status = 'pending' AND i.expires_at > ?
ORDER BY i.id;

-- name: identifier-blocked
SELECT blocked_id FROM identifier_blocks WHERE kind = ? AND value = ? ORDER BY blocked_id;

-- name: forget-identifier-blocks
DELETE FROM identifier_blocks WHERE kind = ? AND value = ?;

-- name: insert-request
INSERT INTO requests (id, invite_id, sender_id, recipient_id, chat_id, status, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)
ON CONFLICT (invite_id) DO NOTHING;

-- name: requests-for-invites
SELECT invite_id FROM requests WHERE recipient_id = ?;

-- name: invite-by-provider
SELECT invite_id FROM outbox WHERE provider_id = ? AND provider_id <> '';

-- name: report-delivery
-- A provider's delivery report; only moves forward from sent.
UPDATE invites SET delivery = ?, updated_at = ? WHERE id = ? AND delivery IN ('queued', 'sent');

-- name: due-expiry
SELECT id FROM invites WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?;

-- name: expire-invite
UPDATE invites SET status = 'expired', updated_at = ? WHERE id = ? AND status = 'pending';

-- name: due-reminders
SELECT id FROM invites
WHERE status = 'pending' AND NOT reminded AND channel = 'email' AND expires_at <= ? AND expires_at > ?
ORDER BY expires_at LIMIT ?;

-- name: mark-reminded
UPDATE invites SET reminded = TRUE, updated_at = ? WHERE id = ? AND status = 'pending' AND NOT reminded;

-- name: sender-signals
-- A sender's decided invitations and requests, and the blocks against them
-- (by account, or by address from the invite page), since a time: the
-- newest of each source, at most a number each, read in index order
-- (package reputation; it keeps one signal per recipient and kind).
-- Refusals and acceptances are read apart, each with its own limit, so
-- that newer acceptances (accomplices) cannot push refusals out of the
-- read. A block by account counts only from someone the sender wrote to
-- or invited: strangers' blocks cost nothing to make.
SELECT * FROM (SELECT status AS kind, recipient_kind || ':' || recipient_value AS who, updated_at AS at
    FROM invites WHERE inviter_id = ? AND status = 'declined' AND updated_at >= ?
    ORDER BY updated_at DESC LIMIT ?) i
UNION ALL
SELECT * FROM (SELECT status AS kind, recipient_kind || ':' || recipient_value AS who, updated_at AS at
    FROM invites WHERE inviter_id = ? AND status = 'accepted' AND updated_at >= ?
    ORDER BY updated_at DESC LIMIT ?) ia
UNION ALL
SELECT * FROM (SELECT status AS kind, recipient_id AS who, updated_at AS at FROM requests
    WHERE sender_id = ? AND status IN ('declined', 'blocked', 'reported') AND updated_at >= ?
    ORDER BY updated_at DESC LIMIT ?) r
UNION ALL
SELECT * FROM (SELECT status AS kind, recipient_id AS who, updated_at AS at FROM requests
    WHERE sender_id = ? AND status = 'accepted' AND updated_at >= ?
    ORDER BY updated_at DESC LIMIT ?) ra
UNION ALL
SELECT * FROM (SELECT 'blocked' AS kind, b.account_id AS who, b.created_at AS at FROM blocks b
    WHERE b.blocked_id = ? AND b.created_at >= ?
      AND (EXISTS (SELECT 1 FROM requests q WHERE q.sender_id = b.blocked_id AND q.recipient_id = b.account_id)
           OR EXISTS (SELECT 1 FROM invites v WHERE v.accepted_by = b.account_id AND v.inviter_id = b.blocked_id))
    ORDER BY b.created_at DESC LIMIT ?) b
UNION ALL
SELECT * FROM (SELECT 'blocked' AS kind, kind || ':' || value AS who, created_at AS at FROM identifier_blocks
    WHERE blocked_id = ? AND created_at >= ? ORDER BY created_at DESC LIMIT ?) ib;

-- name: sms-prefix-stats
-- One prefix's (or country's) SMS in three windows (from the recent, the
-- day and the baseline starts) and its cool-off (package smsguard). Only
-- SMS sent are traffic: held ones cost nothing and must not trip.
SELECT COALESCE(SUM(CASE WHEN hour >= ? THEN sent ELSE 0 END), 0) AS recent,
       COALESCE(SUM(CASE WHEN hour < ? THEN sent ELSE 0 END), 0) AS baseline,
       COALESCE(SUM(CASE WHEN hour < ? THEN accepted ELSE 0 END), 0) AS baseline_accepted,
       COALESCE(SUM(CASE WHEN hour >= ? THEN sent ELSE 0 END), 0) AS day,
       COALESCE(SUM(CASE WHEN hour >= ? THEN accepted ELSE 0 END), 0) AS day_accepted,
       (SELECT ends_at FROM sms_prefix_cooloffs WHERE prefix = ?) AS cool_until
FROM sms_prefix_hours WHERE prefix = ? AND hour >= ?;

-- name: count-sms-sent
INSERT INTO sms_prefix_hours (prefix, hour, sent) VALUES (?, ?, 1)
ON CONFLICT (prefix, hour) DO UPDATE SET sent = sms_prefix_hours.sent + 1;

-- name: count-sms-held
INSERT INTO sms_prefix_hours (prefix, hour, held) VALUES (?, ?, 1)
ON CONFLICT (prefix, hour) DO UPDATE SET held = sms_prefix_hours.held + 1;

-- name: count-sms-accepted
INSERT INTO sms_prefix_hours (prefix, hour, accepted) VALUES (?, ?, 1)
ON CONFLICT (prefix, hour) DO UPDATE SET accepted = sms_prefix_hours.accepted + 1;

-- name: cool-off-prefix
INSERT INTO sms_prefix_cooloffs (prefix, ends_at, tripped_at) VALUES (?, ?, ?)
ON CONFLICT (prefix) DO UPDATE SET ends_at = excluded.ends_at, tripped_at = excluded.tripped_at
WHERE sms_prefix_cooloffs.ends_at < excluded.ends_at;

-- name: spend-sms
-- One SMS of a tenant's daily budget, if any is left: a conditional
-- update, atomic on one node or many.
INSERT INTO sms_tenant_days (tenant_id, day, sent) VALUES (?, ?, 1)
ON CONFLICT (tenant_id, day) DO UPDATE SET sent = sms_tenant_days.sent + 1 WHERE sms_tenant_days.sent < ?;

-- name: prune-sms-hours
DELETE FROM sms_prefix_hours WHERE hour < ?;

-- name: prune-sms-cooloffs
DELETE FROM sms_prefix_cooloffs WHERE ends_at < ?;

-- name: prune-sms-days
DELETE FROM sms_tenant_days WHERE day < ?;

-- name: idem-claim
INSERT INTO idempotency_keys (key_id, idem_key, request_hash, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (key_id, idem_key) DO NOTHING;

-- name: idem-get
SELECT request_hash, status, body, created_at FROM idempotency_keys WHERE key_id = ? AND idem_key = ?;

-- name: idem-reset
UPDATE idempotency_keys SET request_hash = ?, status = 0, body = '', created_at = ? WHERE key_id = ? AND idem_key = ?;

-- name: idem-save
UPDATE idempotency_keys SET status = ?, body = ? WHERE key_id = ? AND idem_key = ?;

-- name: idem-forget
DELETE FROM idempotency_keys WHERE key_id = ? AND idem_key = ?;

-- name: gate-pair
-- The gate's whole read of a check, one row (sender ?, recipient ?): each
-- account (s.id or r.id NULL when it does not exist) with what the
-- policies need — tenant policy, region and domains, overrides, first
-- email —
-- whether either blocks the other, whether the two accepted each other (a
-- request or an invitation, either way), whether a request from sender to
-- recipient was refused, the oldest pending one and the pair's count.
SELECT s.id AS "s.id", s.tenant_id AS "s.tenant_id", s.region AS "s.region",
       s.outbound_personal AS "s.outbound_personal", s.inbound_personal AS "s.inbound_personal",
       st.region AS "s.tenant_region", st.policy AS "s.tenant_policy", st.domains AS "s.tenant_domains",
       (SELECT i.value FROM identifiers i WHERE i.account_id = s.id AND i.kind = 'email' ORDER BY i.position LIMIT 1) AS "s.email",
       r.id AS "r.id", r.tenant_id AS "r.tenant_id", r.region AS "r.region",
       r.outbound_personal AS "r.outbound_personal", r.inbound_personal AS "r.inbound_personal",
       rt.region AS "r.tenant_region", rt.policy AS "r.tenant_policy", rt.domains AS "r.tenant_domains",
       (SELECT i.value FROM identifiers i WHERE i.account_id = r.id AND i.kind = 'email' ORDER BY i.position LIMIT 1) AS "r.email",
       EXISTS (SELECT 1 FROM blocks b WHERE (b.account_id = x.sid AND b.blocked_id = x.rid)
                                        OR (b.account_id = x.rid AND b.blocked_id = x.sid)) AS blocked,
       EXISTS (SELECT 1 FROM requests q WHERE q.sender_id = x.sid AND q.recipient_id = x.rid AND q.status = 'accepted')
       OR EXISTS (SELECT 1 FROM requests q WHERE q.sender_id = x.rid AND q.recipient_id = x.sid AND q.status = 'accepted')
       OR EXISTS (SELECT 1 FROM invites v WHERE v.accepted_by = x.rid AND v.inviter_id = x.sid AND v.status = 'accepted')
       OR EXISTS (SELECT 1 FROM invites v WHERE v.accepted_by = x.sid AND v.inviter_id = x.rid AND v.status = 'accepted') AS accepted,
       EXISTS (SELECT 1 FROM requests q WHERE q.sender_id = x.sid AND q.recipient_id = x.rid
                                          AND q.status IN ('declined', 'blocked', 'reported')) AS refused,
       (SELECT q.id FROM requests q WHERE q.sender_id = x.sid AND q.recipient_id = x.rid AND q.status = 'pending'
        ORDER BY q.created_at, q.id LIMIT 1) AS pending_id,
       COALESCE(c.delivered, 0) AS delivered
FROM (SELECT CAST(? AS TEXT) AS sid, CAST(? AS TEXT) AS rid) x
LEFT JOIN accounts s ON s.id = x.sid
LEFT JOIN tenants st ON st.id = s.tenant_id
LEFT JOIN accounts r ON r.id = x.rid
LEFT JOIN tenants rt ON rt.id = r.tenant_id
LEFT JOIN request_pairs c ON c.sender_id = x.sid AND c.recipient_id = x.rid;

-- name: pair-requests
SELECT r.id, r.invite_id, r.sender_id, r.recipient_id, r.chat_id, r.status, COALESCE(c.delivered, 0) AS delivered,
       COALESCE(c.held, 0) AS held, r.created_at, r.updated_at, c.last_delivered_at
FROM requests r LEFT JOIN request_pairs c ON c.sender_id = r.sender_id AND c.recipient_id = r.recipient_id
WHERE r.sender_id = ? AND r.recipient_id = ? ORDER BY r.created_at, r.id;

-- name: insert-gate-request
-- The gate's request of a pair; of two first checks at once, one inserts
-- (requests_gate_pair).
INSERT INTO requests (id, invite_id, sender_id, recipient_id, chat_id, status, created_at, updated_at)
VALUES (?, NULL, ?, ?, ?, 'pending', ?, ?)
ON CONFLICT DO NOTHING;

-- name: count-delivered
-- The pair's count, atomic: the row is locked and the guard read again,
-- so that never more than the limit (? > 0) are delivered, whatever runs
-- at once. No row returned: the limit was reached.
INSERT INTO request_pairs (sender_id, recipient_id, delivered, held, last_delivered_at, updated_at)
VALUES (?, ?, 1, 0, ?, ?)
ON CONFLICT (sender_id, recipient_id) DO UPDATE SET delivered = request_pairs.delivered + 1,
    last_delivered_at = excluded.last_delivered_at, updated_at = excluded.updated_at
WHERE request_pairs.delivered < ?
RETURNING delivered, held, last_delivered_at;

-- name: count-held
INSERT INTO request_pairs (sender_id, recipient_id, delivered, held, updated_at)
VALUES (?, ?, 0, 1, ?)
ON CONFLICT (sender_id, recipient_id) DO UPDATE SET held = request_pairs.held + 1, updated_at = excluded.updated_at
RETURNING delivered, held, last_delivered_at;

-- name: get-request
SELECT r.id, r.invite_id, r.sender_id, r.recipient_id, r.chat_id, r.status, COALESCE(c.delivered, 0) AS delivered,
       COALESCE(c.held, 0) AS held, r.created_at, r.updated_at, c.last_delivered_at
FROM requests r LEFT JOIN request_pairs c ON c.sender_id = r.sender_id AND c.recipient_id = r.recipient_id
WHERE r.id = ?;

-- name: lock-request
-- PostgreSQL: the request's row, locked for the action's transaction, so
-- that the guarded update and the read after it see one status (under
-- READ COMMITTED an action committing in between made a block racing an
-- accept answer request_decided and place no block). SQLite serialises
-- writes anyway.
SELECT id FROM requests WHERE id = ? FOR UPDATE;

-- name: decide-request
-- Guarded by the statuses the action applies to (four, repeated to fill).
UPDATE requests SET status = ?, updated_at = ? WHERE id = ? AND status IN (?, ?, ?, ?);

-- name: list-requests
-- The requests to an account, newest first (ids are time-ordered), with
-- what the recipient may see of each sender. ? = '' lists every status;
-- a cursor of '' starts at the newest.
SELECT r.id, r.invite_id, r.sender_id, r.recipient_id, r.chat_id, r.status, COALESCE(c.delivered, 0) AS delivered,
       COALESCE(c.held, 0) AS held, r.created_at, r.updated_at, c.last_delivered_at, a.display_name AS sender_name, COALESCE(a.tenant_id, '') AS sender_tenant,
       COALESCE(me.tenant_id, '') AS recipient_tenant,
       COALESCE((SELECT i.value FROM identifiers i WHERE i.account_id = a.id AND i.kind = 'email' ORDER BY i.position LIMIT 1), '') AS sender_email
FROM requests r
JOIN accounts a ON a.id = r.sender_id
JOIN accounts me ON me.id = r.recipient_id
LEFT JOIN request_pairs c ON c.sender_id = r.sender_id AND c.recipient_id = r.recipient_id
WHERE r.recipient_id = ? AND (? = '' OR r.status = ?) AND (r.id < ? OR ? = '')
ORDER BY r.id DESC LIMIT ?;

-- name: seed-template-version
INSERT INTO template_versions (name, locale, version, subject, body_text, body_html, created_by, created_at)
VALUES (?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING;

-- name: seed-template-active
INSERT INTO template_active (name, locale, version) VALUES (?, ?, 1) ON CONFLICT DO NOTHING;

-- name: insert-template-change
INSERT INTO template_changes (name, locale, version, action, actor, at) VALUES (?, ?, ?, ?, ?, ?);

-- name: template-generation
SELECT n FROM template_generation WHERE id = 1;

-- name: bump-template-generation
UPDATE template_generation SET n = n + 1 WHERE id = 1;

-- name: active-templates
SELECT v.name, v.locale, v.version, v.subject, v.body_text, v.body_html, v.created_by, v.created_at
FROM template_active a JOIN template_versions v ON v.name = a.name AND v.locale = a.locale AND v.version = a.version;

-- name: template-summaries
SELECT v.name, v.locale, COALESCE(a.version, 0) AS active_version, MAX(v.version) AS latest_version,
       (SELECT MAX(c.at) FROM template_changes c WHERE c.name = v.name AND c.locale = v.locale) AS updated_at
FROM template_versions v LEFT JOIN template_active a ON a.name = v.name AND a.locale = v.locale
GROUP BY v.name, v.locale, a.version ORDER BY v.name, v.locale;

-- name: template-versions
SELECT v.name, v.locale, v.version, v.subject, v.body_text, v.body_html, v.created_by, v.created_at,
       CASE WHEN a.version = v.version THEN 1 ELSE 0 END AS active
FROM template_versions v LEFT JOIN template_active a ON a.name = v.name AND a.locale = v.locale
WHERE v.name = ? AND v.locale = ? ORDER BY v.version DESC;

-- name: template-version
SELECT v.name, v.locale, v.version, v.subject, v.body_text, v.body_html, v.created_by, v.created_at,
       CASE WHEN a.version = v.version THEN 1 ELSE 0 END AS active
FROM template_versions v LEFT JOIN template_active a ON a.name = v.name AND a.locale = v.locale
WHERE v.name = ? AND v.locale = ? AND v.version = ?;

-- name: next-template-version
SELECT COALESCE(MAX(version), 0) + 1 FROM template_versions WHERE name = ? AND locale = ?;

-- name: insert-template-version
INSERT INTO template_versions (name, locale, version, subject, body_text, body_html, created_by, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: upsert-template-active
INSERT INTO template_active (name, locale, version) VALUES (?, ?, ?)
ON CONFLICT (name, locale) DO UPDATE SET version = excluded.version;

-- name: template-history
SELECT version, action, actor, at FROM template_changes WHERE name = ? AND locale = ? ORDER BY id;

-- name: outbox-templates
SELECT template_locale || '/' || CAST(template_version AS TEXT) FROM outbox WHERE invite_id = ? ORDER BY id;

-- The spam screen (store/spam.go).

-- name: spam-key
SELECT key FROM spam_key WHERE id = 1;

-- name: spam-sender-accepted
-- Someone accepted a request from the sender or an invitation of theirs.
-- (The IN term is the partial index's own condition, so that SQLite
-- uses invites_inviter_decided.)
SELECT EXISTS (SELECT 1 FROM requests WHERE sender_id = ? AND status = 'accepted')
    OR EXISTS (SELECT 1 FROM invites WHERE inviter_id = ? AND status IN ('accepted', 'declined') AND status = 'accepted');

-- name: spam-recipient-known
-- The sender has a request with the recipient, or claimed it as a new
-- recipient since a time: the message is not a new recipient's.
SELECT EXISTS (SELECT 1 FROM requests WHERE sender_id = ? AND recipient_id = ?)
    OR EXISTS (SELECT 1 FROM spam_new_recipients WHERE sender_id = ? AND recipient_id = ? AND seen_at >= ?);

-- name: spam-count-recipients
-- Under the sender's lock: the recipients other than this one the sender
-- claimed since a time, counted up to a cap (the threshold), and whether
-- this one was claimed since (by a message checked meanwhile).
SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM spam_new_recipients
                              WHERE sender_id = ? AND seen_at >= ? AND recipient_id <> ? LIMIT ?) AS recent) AS n,
       EXISTS (SELECT 1 FROM spam_new_recipients WHERE sender_id = ? AND recipient_id = ? AND seen_at >= ?) AS claimed;

-- name: spam-claim-recipient
INSERT INTO spam_new_recipients (sender_id, recipient_id, seen_at) VALUES (?, ?, ?)
ON CONFLICT (sender_id, recipient_id) DO UPDATE SET seen_at = excluded.seen_at;

-- name: spam-lock-sender
-- PostgreSQL: one sender's fingerprints and new recipients are recorded
-- one transaction at a time, on every node (a transaction lock: it works
-- through a pooler), so that each count sees every earlier one. SQLite
-- serialises writes anyway.
SELECT pg_advisory_xact_lock(7243020, hashtext(?));

-- name: spam-put-fingerprint
-- The eight bands of a fingerprint (spam.Bands), in increasing order.
INSERT INTO spam_fingerprints (sender_id, band, recipient_id, seen_at) VALUES
(?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)
ON CONFLICT (sender_id, band, recipient_id) DO UPDATE SET seen_at = excluded.seen_at;

-- name: spam-similar-recipients
-- Counts up to a cap (the threshold + 1): a sender who sent one text to
-- thousands costs no more than one who sent it to a few.
SELECT COUNT(*) FROM (
  SELECT DISTINCT recipient_id FROM spam_fingerprints
  WHERE sender_id = ? AND band IN (?, ?, ?, ?, ?, ?, ?, ?) AND seen_at >= ? LIMIT ?
) AS recipients;

-- name: spam-prune-fingerprints
DELETE FROM spam_fingerprints WHERE seen_at < ?;

-- name: spam-prune-recipients
DELETE FROM spam_new_recipients WHERE seen_at < ?;

-- name: spam-domains
SELECT domain, added_at FROM spam_domains ORDER BY domain;

-- name: spam-put-domain
INSERT INTO spam_domains (domain, added_at) VALUES (?, ?) ON CONFLICT DO NOTHING;

-- name: spam-domain
SELECT domain, added_at FROM spam_domains WHERE domain = ?;

-- name: spam-delete-domain
DELETE FROM spam_domains WHERE domain = ?;

-- Contact sync (store/contacts.go): the keyed hashes of (requester,
-- identifier) that a requester looked up recently.

-- name: remember-lookups.postgres
-- Records a lookup of each key at $1 and counts the fresh ones: absent, or
-- last seen at or before $3 (expired), which are charged (charged_at = $1).
-- A recent row is refreshed only when last seen before $4, so that a
-- contact re-checked every day is written once every few days. Of two
-- transactions inserting the same key, the second waits for the first and
-- then finds it recent: one pays.
WITH touched AS (
    INSERT INTO contact_lookups (key, seen_at, charged_at)
    SELECT k, $1::timestamptz, $1::timestamptz FROM unnest($2::bytea[]) AS k
    ON CONFLICT (key) DO UPDATE SET seen_at = excluded.seen_at,
        charged_at = CASE WHEN contact_lookups.seen_at <= $3 THEN excluded.charged_at ELSE contact_lookups.charged_at END
    WHERE contact_lookups.seen_at < $4
    RETURNING charged_at)
SELECT COUNT(*) FROM touched WHERE charged_at = $1::timestamptz;

-- name: remember-lookups.sqlite
-- As remember-lookups.postgres, one row a key touched; KEYS is expanded to
-- one (?, ?, ?) row a key (key, now, now), followed by the expiry, the
-- refresh and the now times.
INSERT INTO contact_lookups (key, seen_at, charged_at) VALUES KEYS
ON CONFLICT (key) DO UPDATE SET seen_at = excluded.seen_at,
    charged_at = CASE WHEN contact_lookups.seen_at <= ? THEN excluded.charged_at ELSE contact_lookups.charged_at END
WHERE contact_lookups.seen_at < ?
RETURNING charged_at = ? AS fresh;

-- name: recent-lookups.postgres
-- How many of the keys were looked up at or after the refresh time: when
-- all of them were, the lookup needs no write at all.
SELECT COUNT(*) FROM contact_lookups WHERE key = ANY($1::bytea[]) AND seen_at >= $2;

-- name: recent-lookups.sqlite
SELECT COUNT(*) FROM contact_lookups WHERE key IN (KEYS) AND seen_at >= ?;

-- name: prune-lookups
DELETE FROM contact_lookups WHERE key IN (SELECT key FROM contact_lookups WHERE seen_at < ? LIMIT ?);

-- name: insert-generated-secret
INSERT INTO generated_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING;

-- name: generated-secret
SELECT value FROM generated_secrets WHERE name = ?;
