-- Message requests that the gate creates on the first check between two
-- accounts have no invite; every request counts the pre-acceptance
-- messages delivered and held back on it.
ALTER TABLE requests ALTER COLUMN invite_id DROP NOT NULL;
ALTER TABLE requests ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN last_delivered_at TIMESTAMPTZ;
-- One gate-created request per pair: of two first checks at once, one
-- creates it.
CREATE UNIQUE INDEX requests_gate_pair ON requests (sender_id, recipient_id) WHERE invite_id IS NULL;
CREATE INDEX requests_pair ON requests (sender_id, recipient_id, created_at);
CREATE INDEX requests_recipient_id ON requests (recipient_id, id);
