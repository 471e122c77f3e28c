-- Merchants are businesses (issue 10): a business check per onboarding, a verified owner per merchant, one merchant
-- per business, a held ledger account per merchant for a new merchant's takings, holds released by time, payouts.

-- Every business check koza asked the identity-verification provider for, with its outcome.
CREATE TABLE business_verifications (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  provider text NOT NULL,
  provider_reference text,
  kind text NOT NULL CHECK (kind IN ('corporation', 'sole_proprietor')),
  -- The 13-digit corporate number (法人番号) is public register data; null for a sole proprietor.
  corporate_number text CHECK (corporate_number ~ '^[0-9]{13}$'),
  -- What the owner typed: the registered name (a corporation) or the trade name (a sole proprietor).
  claimed_name text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'verified', 'failed', 'pending_review', 'refused')),
  reason text,
  -- On a pass: the provider's record of the business, and the key that makes it one merchant.
  registered_name text,
  business_key text,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  CHECK ((kind = 'corporation') = (corporate_number IS NOT NULL))
);
CREATE INDEX business_verifications_by_wallet ON business_verifications (wallet_id, seq);

-- A merchant made before this migration keeps working: no owner, no business (it cannot pay out).
ALTER TABLE merchants
  ADD COLUMN owner_wallet_id text REFERENCES wallets (id),
  ADD COLUMN business_verification_id text REFERENCES business_verifications (id),
  ADD COLUMN business_kind text CHECK (business_kind IN ('corporation', 'sole_proprietor')),
  ADD COLUMN registered_name text,
  ADD COLUMN corporate_number text,
  -- One verified business, one merchant: 'corp:<corporate number>' or 'sole:<owner person key>'.
  ADD COLUMN business_key text UNIQUE,
  ADD COLUMN held_ledger_account_id text UNIQUE REFERENCES ledger_accounts (id) DEFERRABLE INITIALLY DEFERRED;

SELECT ledger_open_account(ledger_account_id || '_held', 'merchant', name || ' (held)', 16, false) FROM merchants;
UPDATE merchants SET held_ledger_account_id = ledger_account_id || '_held';
ALTER TABLE merchants ALTER COLUMN held_ledger_account_id SET NOT NULL;
CREATE INDEX merchants_by_owner ON merchants (owner_wallet_id);

-- A payment a new merchant received, held in its held account until release_at; released (held -> available) once.
CREATE TABLE merchant_holds (
  payment_id text PRIMARY KEY REFERENCES payments (id),
  merchant_id text NOT NULL REFERENCES merchants (id),
  amount bigint NOT NULL CHECK (amount > 0),
  -- Refunds taken from the hold before it was released; the release moves what is left.
  refunded_amount bigint NOT NULL DEFAULT 0,
  release_at timestamptz NOT NULL,
  released_at timestamptz,
  released_amount bigint,
  release_transfer_id text UNIQUE REFERENCES ledger_transfers (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT hold_refunds_within_hold CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
  CHECK ((released_at IS NULL) = (released_amount IS NULL))
);
CREATE INDEX merchant_holds_due ON merchant_holds (release_at) WHERE released_at IS NULL;
CREATE INDEX merchant_holds_unreleased_by_merchant ON merchant_holds (merchant_id, release_at) WHERE released_at IS NULL;

-- Where a refund took the money from: the held account (before release) or the available one.
ALTER TABLE refunds ADD COLUMN from_held boolean NOT NULL DEFAULT false;

-- A payout: the merchant's available balance to its owner's wallet, one ledger transfer.
CREATE TABLE merchant_payouts (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  merchant_id text NOT NULL REFERENCES merchants (id),
  wallet_id text NOT NULL REFERENCES wallets (id),
  amount bigint NOT NULL CHECK (amount > 0),
  transfer_id text NOT NULL UNIQUE REFERENCES ledger_transfers (id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchant_payouts_by_merchant ON merchant_payouts (merchant_id, seq);

-- A payment approved with a step-up bound to its amount and merchant makes the merchant a destination the wallet has
-- used (PSD2's trusted beneficiary): later payments there need no new-destination step-up.
ALTER TABLE payments ADD COLUMN stepped_up boolean NOT NULL DEFAULT false;

-- The risk features of a payment read a wallet's payments to one merchant, and a merchant's recent payers.
CREATE INDEX payments_by_wallet_merchant ON payments (wallet_id, merchant_id);
CREATE INDEX payments_by_merchant_time ON payments (merchant_id, created_at);
CREATE INDEX payments_by_wallet_time ON payments (wallet_id, created_at);
