-- A sentinel tenant and account with the empty id, which no real tenant or
-- account can have (ids are validated): resolve joins an identifier that
-- nobody owns to them, so that an unregistered identifier costs the same
-- reads as one whose owner is hidden (see the owners query).
INSERT INTO tenants (id, name, region, domains, policy, created_at, updated_at)
VALUES ('', '', '', '[]', '{}', '1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z');
INSERT INTO accounts (id, tenant_id, display_name, discoverable, region, created_at, updated_at)
VALUES ('', '', '', FALSE, '', '1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z');
INSERT INTO identifiers (kind, value, account_id, position) VALUES ('email', '@', '', 0);
