-- Authentication at the right moments (issue 10): atomic sign-in throttling, login challenges for a second proof at
-- sign-in, e-mail changes, and the money-out hold after a phone or e-mail change.

-- One row per account name tried: the throttle's state. A sign-in locks its row (upsert) before the password is
-- checked and writes the outcome before it commits, so concurrent tries for one account, in any process, are
-- decided one after another on the count the previous ones left (reserve, then check).
CREATE TABLE login_throttle (
  email_normalized text PRIMARY KEY,
  consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  last_failure_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A sign-in that passed the password but must show a second proof (a second factor, or an e-mail code) before a
-- session exists. The client holds the challenge token (lgc_…), stored hashed; single use, 5 minutes, 5 tries.
CREATE TABLE login_challenges (
  id text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  wallet_id text NOT NULL REFERENCES wallets (id),
  -- new_device: a wallet with a factor signs in from a device it has not seen; risk: a rule asked for a second proof.
  reason text NOT NULL CHECK (reason IN ('new_device', 'risk')),
  methods text[] NOT NULL,
  webauthn_challenge text NOT NULL,
  device_id text,
  user_agent text,
  accept_language text,
  ip text NOT NULL,
  failed_attempts integer NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL,
  locked_at timestamptz,
  completed_at timestamptz,
  session_id text REFERENCES sessions (id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_challenges_by_wallet ON login_challenges (wallet_id, created_at);

-- One-time codes for a sign-in e-mail code, the first factor's enrolment, and a new e-mail address.
ALTER TABLE one_time_codes DROP CONSTRAINT one_time_codes_purpose_check;
ALTER TABLE one_time_codes ADD CONSTRAINT one_time_codes_purpose_check
  CHECK (purpose IN ('email_verify', 'phone_verify', 'login_email', 'factor_enrollment', 'email_change'));

-- A phone or e-mail change limits money-out for a while (a takeover moves the contact first, then the money). The
-- cap and the end are fixed when the change is made, so a later configuration change does not reopen a hold.
CREATE TABLE contact_change_holds (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  change text NOT NULL CHECK (change IN ('phone', 'email')),
  cap_per_24h bigint NOT NULL CHECK (cap_per_24h >= 0),
  starts_at timestamptz NOT NULL DEFAULT now(),
  ends_at timestamptz NOT NULL,
  CHECK (ends_at > starts_at)
);
CREATE INDEX contact_change_holds_by_wallet ON contact_change_holds (wallet_id, ends_at);
