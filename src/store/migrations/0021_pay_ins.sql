-- Pay-in by bank transfer (SPEC §5.4, issue 11): a wallet's own virtual account number at koza's pay-in bank, and every
-- transfer a bank reported into one. Nobody pulls money: the holder sends it from their own bank; koza credits the
-- wallet when the sender's name is the wallet's verified owner, and returns it otherwise.

-- One virtual account per wallet, stable once issued (furikomi-sakiguchi, 振込専用口座).
CREATE TABLE pay_in_accounts (
  wallet_id text PRIMARY KEY REFERENCES wallets (id),
  bank_code text NOT NULL CHECK (bank_code ~ '^[0-9]{4}$'),
  branch_code text NOT NULL CHECK (branch_code ~ '^[0-9]{3}$'),
  account_number text NOT NULL CHECK (account_number ~ '^[0-9]{7}$'),
  account_name_kana text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (bank_code, branch_code, account_number)
);

-- One row per transfer a bank reported (notice) or listed (statement): unique by the bank's transfer id, so the
-- notice, its retries and the statement line for the same transfer are one pay-in.
CREATE TABLE pay_ins (
  id text PRIMARY KEY,
  bank_code text NOT NULL,
  bank_transfer_id text NOT NULL,
  branch_code text NOT NULL,
  account_number text NOT NULL,
  -- Null when the virtual account number is no wallet's.
  wallet_id text REFERENCES wallets (id),
  amount bigint NOT NULL CHECK (amount > 0),
  sender_name_kana text NOT NULL,
  sender_bank_code text NOT NULL,
  sender_branch_code text NOT NULL,
  booked_at timestamptz NOT NULL,
  -- How koza learnt of it: the bank's signed notice, or its statement (the notice was lost).
  source text NOT NULL CHECK (source IN ('notice', 'statement')),
  -- credited: on the wallet; returning: koza decided to send it back and the bank has not confirmed yet; returned: sent back.
  status text NOT NULL CHECK (status IN ('credited', 'returning', 'returned')),
  return_reason text CHECK (return_reason IN ('name_mismatch', 'unknown_account', 'wallet_unavailable', 'limit_exceeded')),
  name_score integer,
  -- Ledger transfers: arrival (bank clearing → suspense), then credit (suspense → wallet) or return (suspense → clearing).
  arrival_transfer_id text NOT NULL,
  credit_transfer_id text,
  return_transfer_id text,
  bank_return_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  settled_at timestamptz,
  UNIQUE (bank_code, bank_transfer_id),
  CHECK ((status = 'credited') = (credit_transfer_id IS NOT NULL)),
  CHECK ((status = 'credited') = (return_reason IS NULL)),
  CHECK ((status = 'returned') = (return_transfer_id IS NOT NULL))
);
CREATE INDEX pay_ins_by_wallet ON pay_ins (wallet_id, created_at) WHERE wallet_id IS NOT NULL;
CREATE INDEX pay_ins_returning ON pay_ins (created_at) WHERE status = 'returning';
