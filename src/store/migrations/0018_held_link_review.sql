-- Issue 11: a link the risk engine holds for review has a way through. Held at the start, the request waits (nothing
-- was sent to the bank, no PIN kept) until an analyst releases it (the customer is told and links again; the hold is not
-- met twice) or rejects it; held at completion, a release makes the link and a reject revokes it at the bank. The names
-- an analyst cleared on a device stop counting towards "many names" there.

ALTER TABLE link_requests DROP CONSTRAINT link_requests_state_check;
ALTER TABLE link_requests ADD CONSTRAINT link_requests_state_check
  CHECK (state IN ('pushing', 'awaiting_customer', 'completing', 'linked', 'refused', 'failed', 'held', 'released', 'rejected'));
-- The decision that held it (its alert is closed by the analyst's release or reject), and the device it came from.
ALTER TABLE link_requests ADD COLUMN risk_decision_id text;
ALTER TABLE link_requests ADD COLUMN device_key text;
ALTER TABLE link_requests ADD COLUMN reviewed_by text;
ALTER TABLE link_requests ADD COLUMN reviewed_at timestamptz;
ALTER TABLE link_requests ADD COLUMN review_reason text;
-- A released request lets the same wallet link the same bank once past a review decision (not past a deny): the id of
-- the request that used it, so one release is one way through, not a standing exemption.
ALTER TABLE link_requests ADD COLUMN release_used_by text;
-- The request that went through on a release: its completion is not held again for review either.
ALTER TABLE link_requests ADD COLUMN released_from text;
-- Held after the bank vouched for the account (a review at link_complete): what the bank answered, so that a release makes
-- the link without asking the customer again, and its link token, sealed, so that a reject revokes it at the bank.
ALTER TABLE link_requests ADD COLUMN held_completion jsonb;
ALTER TABLE link_requests ADD COLUMN held_link_token_sealed text;
ALTER TABLE link_requests ADD CONSTRAINT link_requests_reviewed
  CHECK (state NOT IN ('released', 'rejected') OR reviewed_at IS NOT NULL);
CREATE INDEX link_requests_held ON link_requests (created_at) WHERE state = 'held';
CREATE INDEX link_requests_released ON link_requests (wallet_id, bank_code, reviewed_at)
  WHERE state = 'released' AND release_used_by IS NULL;

-- Names (the keyed hashes risk_distinct holds for names_per_device) an analyst reviewed on a device when releasing a
-- link held from it: a family on one tablet is reviewed once, not at every link for 30 days. A name first seen on the
-- device after the release is not in here and counts as before.
CREATE TABLE device_name_clearances (
  device_key text NOT NULL,
  member text NOT NULL,
  cleared_by text NOT NULL,
  link_request_id text NOT NULL REFERENCES link_requests (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device_key, member)
);
