-- Identity assurance (SPEC §3): levels on the wallet, the phone factor, generic one-time codes,
-- devices, login throttling, and risk signals raised by identity events.

ALTER TABLE wallets ADD COLUMN assurance_level text NOT NULL DEFAULT 'L0'
  CHECK (assurance_level IN ('L0', 'L1', 'L2'));
ALTER TABLE wallets ADD COLUMN phone text;
ALTER TABLE wallets ADD COLUMN phone_verified_at timestamptz;
-- Repeated code lockouts lock the phone factor until this time (SPEC §3: "repeated lockouts lock the factor").
ALTER TABLE wallets ADD COLUMN phone_factor_locked_until timestamptz;
-- One verified phone number belongs to one wallet: a phone farm cannot verify many wallets with one SIM.
CREATE UNIQUE INDEX wallets_one_wallet_per_verified_phone ON wallets (phone) WHERE phone_verified_at IS NOT NULL;

-- One-time codes for every purpose: hashed with the server key, single use, short-lived, attempt-limited.
CREATE TABLE one_time_codes (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  purpose text NOT NULL CHECK (purpose IN ('email_verify', 'phone_verify')),
  target text NOT NULL,
  code_hash text NOT NULL,
  expires_at timestamptz NOT NULL,
  failed_attempts integer NOT NULL DEFAULT 0,
  locked_at timestamptz,
  consumed_at timestamptz,
  ip text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX one_time_codes_by_wallet ON one_time_codes (wallet_id, purpose, created_at);
CREATE INDEX one_time_codes_by_target ON one_time_codes (target, created_at);
CREATE INDEX one_time_codes_by_ip ON one_time_codes (ip, created_at);

DROP TABLE email_verifications;

-- Devices a wallet signed in from (SPEC §3): first and last seen, address, user agent.
CREATE TABLE devices (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  device_key text NOT NULL,
  user_agent text,
  first_ip text,
  last_ip text,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (wallet_id, device_key)
);
ALTER TABLE sessions ADD COLUMN device_id text REFERENCES devices (id);
-- Privilege changes (a new factor, a verified identity) rotate the session: the old token dies.
ALTER TABLE sessions ADD COLUMN rotated_to text REFERENCES sessions (id);

-- Sign-in attempts, for throttling per account and per address (NIST SP 800-63B §5.2.2).
CREATE TABLE login_attempts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email_normalized text NOT NULL,
  ip text NOT NULL,
  succeeded boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_by_email ON login_attempts (email_normalized, created_at);
CREATE INDEX login_attempts_by_ip ON login_attempts (ip, created_at);

-- Signals identity events raise for the risk engine and analysts (lockouts, duplicate identities, …).
CREATE TABLE risk_signals (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  wallet_id text REFERENCES wallets (id),
  kind text NOT NULL CHECK (kind ~ '^[a-z_]{1,64}$'),
  detail jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX risk_signals_by_wallet ON risk_signals (wallet_id, created_at);
CREATE INDEX risk_signals_by_kind ON risk_signals (kind, created_at);
