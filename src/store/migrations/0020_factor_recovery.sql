-- Factor recovery (issue 11): move an authenticator app to a new phone, and a support path for a customer who lost
-- every factor (re-verify the person and the mailbox, wait while every channel is told, then the old factors go).

-- A replacement enrolment names the authenticator it replaces; confirming it retires that one in the same transaction.
-- proven_with: how the step-up that allowed it was approved (a spent recovery code earns a fresh set at confirmation).
ALTER TABLE second_factors ADD COLUMN replaces_factor_id text REFERENCES second_factors (id);
ALTER TABLE second_factors ADD COLUMN proven_with text CHECK (proven_with IN ('totp', 'passkey', 'recovery_code'));

-- A factor reset: one open per wallet. 'verifying' until the person (eKYC, same person as on file) and the mailbox are
-- proven; 'waiting' until waits_until, fixed when the wait starts (nothing shortens it); then 'completed', or
-- 'cancelled' by any use of an existing factor or the "this was not me" token, or 'expired' if never verified.
CREATE TABLE factor_resets (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  status text NOT NULL CHECK (status IN ('verifying', 'waiting', 'completed', 'cancelled', 'expired')),
  -- The bearer the customer's client holds for the later steps (no session needed: the customer may have none).
  token_hash text NOT NULL UNIQUE,
  -- The person on file when the reset started: the re-verification must be this person.
  person_key text NOT NULL,
  started_via text NOT NULL CHECK (started_via IN ('session', 'login_challenge')),
  device_id text,
  ip text NOT NULL,
  verifying_expires_at timestamptz NOT NULL,
  verification_id text REFERENCES identity_verifications (id),
  mailbox_confirmed_at timestamptz,
  wait_hours integer NOT NULL CHECK (wait_hours > 0),
  waits_until timestamptz,
  cancel_token_hash text UNIQUE,
  cancelled_via text CHECK (cancelled_via IN ('factor', 'not_me')),
  created_at timestamptz NOT NULL,
  waiting_at timestamptz,
  completed_at timestamptz,
  cancelled_at timestamptz,
  CHECK ((status IN ('waiting', 'completed')) <= (waits_until IS NOT NULL AND verification_id IS NOT NULL AND mailbox_confirmed_at IS NOT NULL)),
  CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE UNIQUE INDEX factor_resets_one_open ON factor_resets (wallet_id) WHERE status IN ('verifying', 'waiting');

-- The mailbox proofs of a reset (start and completion) are codes of their own purpose.
ALTER TABLE one_time_codes DROP CONSTRAINT one_time_codes_purpose_check;
ALTER TABLE one_time_codes ADD CONSTRAINT one_time_codes_purpose_check
  CHECK (purpose IN ('email_verify', 'phone_verify', 'login_email', 'factor_enrollment', 'email_change', 'factor_reset'));

-- A factor reset caps money-out like a contact change, from the start of the wait until some days after it.
ALTER TABLE contact_change_holds DROP CONSTRAINT contact_change_holds_change_check;
ALTER TABLE contact_change_holds ADD CONSTRAINT contact_change_holds_change_check CHECK (change IN ('phone', 'email', 'factor_reset'));
