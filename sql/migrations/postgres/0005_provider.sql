CREATE INDEX outbox_provider ON outbox (provider_id);
