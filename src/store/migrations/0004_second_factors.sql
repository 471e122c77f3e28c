-- Second factors (SPEC §3): TOTP and passkeys, hashed recovery codes, and step-up challenges whose
-- proofs are bound to one action, amount and destination (PSD2 RTS Art. 5, dynamic linking).

-- One row per factor. A factor is 'pending' from enrolment start until the customer proves it works,
-- then 'active', then 'removed' (kept, never deleted, so support can see what a wallet used).
CREATE TABLE second_factors (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  kind text NOT NULL CHECK (kind IN ('totp', 'passkey')),
  label text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'removed')),
  -- A pending enrolment that is not confirmed in time can no longer be confirmed.
  enrollment_expires_at timestamptz NOT NULL,
  -- TOTP only: the shared secret sealed with the server key (AES-256-GCM), and the last time step
  -- accepted, so that a code cannot be used twice (RFC 6238 §5.2).
  totp_secret_sealed text,
  totp_last_step bigint,
  -- Lockout (SPEC §3): wrong tries in a row, the lock they caused, and how many locks so far
  -- (each lock lasts longer than the one before).
  consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  locked_until timestamptz,
  lockouts integer NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  activated_at timestamptz,
  removed_at timestamptz,
  last_used_at timestamptz,
  CHECK ((kind = 'totp') = (totp_secret_sealed IS NOT NULL)),
  CHECK ((status = 'active') = (activated_at IS NOT NULL AND removed_at IS NULL))
);
CREATE INDEX second_factors_by_wallet ON second_factors (wallet_id, status);
-- One authenticator app per wallet: two TOTP secrets would double a guesser's chances per try.
CREATE UNIQUE INDEX second_factors_one_active_totp ON second_factors (wallet_id) WHERE kind = 'totp' AND status = 'active';

-- The public half of a passkey, written once the registration ceremony verified.
CREATE TABLE webauthn_credentials (
  factor_id text PRIMARY KEY REFERENCES second_factors (id),
  -- base64url, as authenticators and browsers send it; one credential belongs to one wallet.
  credential_id text NOT NULL UNIQUE,
  public_key bytea NOT NULL,
  -- The authenticator's signature counter: a value that does not grow betrays a cloned authenticator.
  sign_count bigint NOT NULL CHECK (sign_count >= 0),
  transports jsonb NOT NULL DEFAULT '[]'::jsonb,
  aaguid text NOT NULL,
  device_type text NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
  backed_up boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Server-side WebAuthn registration challenges: random, short-lived, consumed by the first answer,
-- right or wrong, so a captured response cannot be replayed.
CREATE TABLE webauthn_challenges (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  factor_id text NOT NULL REFERENCES second_factors (id),
  challenge text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  consumed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webauthn_challenges_by_factor ON webauthn_challenges (factor_id);

-- Recovery codes come in batches; a new batch revokes the old one. The batch carries the lockout,
-- because a guesser tries codes of the batch, not one code.
CREATE TABLE recovery_code_batches (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  locked_until timestamptz,
  lockouts integer NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE UNIQUE INDEX recovery_code_batches_one_live ON recovery_code_batches (wallet_id) WHERE revoked_at IS NULL;

CREATE TABLE recovery_codes (
  batch_id text NOT NULL REFERENCES recovery_code_batches (id),
  -- HMAC-SHA-256 with the server key: a stolen table is no offline dictionary for the codes.
  code_hash text NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (batch_id, code_hash)
);

-- A step-up challenge names what the customer is asked to approve. Approving it mints one proof.
CREATE TABLE step_up_challenges (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  action text NOT NULL CHECK (action ~ '^[a-z_]{1,32}$'),
  amount bigint CHECK (amount IS NULL OR amount > 0),
  destination text,
  -- The WebAuthn challenge a passkey signs: a hash of (id, action, amount, destination).
  webauthn_challenge text NOT NULL UNIQUE,
  failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  expires_at timestamptz NOT NULL,
  approved_at timestamptz,
  approved_with text CHECK (approved_with IN ('totp', 'passkey', 'recovery_code')),
  -- Set at the fifth wrong try (PSD2 RTS Art. 4(3)(b)): the challenge is dead, a new one is needed.
  locked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((approved_at IS NULL) = (approved_with IS NULL))
);
CREATE INDEX step_up_challenges_by_wallet ON step_up_challenges (wallet_id, created_at);

-- The proof is a bearer secret shown once; only its hash is stored. It authorises exactly the bound
-- action, amount and destination, once, for a few minutes.
CREATE TABLE step_up_proofs (
  id text PRIMARY KEY,
  challenge_id text NOT NULL UNIQUE REFERENCES step_up_challenges (id),
  wallet_id text NOT NULL REFERENCES wallets (id),
  token_hash text NOT NULL UNIQUE,
  action text NOT NULL,
  amount bigint,
  destination text,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
