-- Wallets, sessions, the development outbox, merchants, payments, refunds, sandbox top-ups, idempotency.

CREATE TABLE wallets (
  id text PRIMARY KEY,
  email text NOT NULL,
  email_normalized text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  email_verified_at timestamptz,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen', 'closed')),
  ledger_account_id text NOT NULL UNIQUE REFERENCES ledger_accounts (id) DEFERRABLE INITIALLY DEFERRED,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE email_verifications (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  code_hash text NOT NULL,
  expires_at timestamptz NOT NULL,
  failed_attempts integer NOT NULL DEFAULT 0,
  consumed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_verifications_by_wallet ON email_verifications (wallet_id, created_at);

CREATE TABLE sessions (
  id text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  wallet_id text NOT NULL REFERENCES wallets (id),
  ip text,
  user_agent text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX sessions_by_wallet ON sessions (wallet_id);

-- Messages koza would send by e-mail or SMS. In sandbox mode this table is the delivery channel;
-- one-time codes live here and nowhere else (never in logs).
CREATE TABLE dev_outbox (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  recipient text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dev_outbox_by_recipient ON dev_outbox (recipient, seq);

CREATE TABLE merchants (
  id text PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL,
  api_key_hash text NOT NULL UNIQUE,
  ledger_account_id text NOT NULL UNIQUE REFERENCES ledger_accounts (id) DEFERRABLE INITIALLY DEFERRED,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payments (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  merchant_id text NOT NULL REFERENCES merchants (id),
  amount bigint NOT NULL CHECK (amount > 0),
  -- A refund can never take back more than was paid: the database refuses it, not only the code.
  refunded_amount bigint NOT NULL DEFAULT 0,
  transfer_id text NOT NULL UNIQUE REFERENCES ledger_transfers (id),
  description text,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT refunds_within_payment CHECK (refunded_amount >= 0 AND refunded_amount <= amount)
);
CREATE INDEX payments_by_merchant ON payments (merchant_id, seq);
CREATE INDEX payments_by_wallet ON payments (wallet_id, seq);

CREATE TABLE refunds (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  payment_id text NOT NULL REFERENCES payments (id),
  amount bigint NOT NULL CHECK (amount > 0),
  reason text,
  transfer_id text NOT NULL UNIQUE REFERENCES ledger_transfers (id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_by_payment ON refunds (payment_id, seq);

CREATE TABLE topups (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  amount bigint NOT NULL CHECK (amount > 0),
  transfer_id text NOT NULL UNIQUE REFERENCES ledger_transfers (id),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key store: the first answer to a (principal, key) is kept and replayed byte for byte.
-- The money movement and this row commit in one transaction, so a retry can never move money twice.
CREATE TABLE idempotency_keys (
  scope text NOT NULL,
  key text NOT NULL,
  request_fingerprint text NOT NULL,
  response_status integer NOT NULL,
  -- Bodies that carry a secret (a session token, an API key) are stored encrypted (AES-256-GCM).
  response_body text NOT NULL,
  response_encrypted boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
