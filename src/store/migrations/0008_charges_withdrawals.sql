-- Money in from a linked bank (charge) and out to it (withdrawal), SPEC §5.4–§5.5, and reconciliation (§6.5).
-- Each is a pending ledger transfer while the bank call is in flight, then posted or voided — by the
-- request that made it, or by the reconciler from the bank's own record after a crash or a time-out.

CREATE TABLE bank_movements (
  id text PRIMARY KEY,                         -- chg_… or wdl_…; also the reference the bank books
  kind text NOT NULL CHECK (kind IN ('charge', 'withdrawal')),
  wallet_id text NOT NULL REFERENCES wallets (id),
  link_id text NOT NULL,
  bank_code text NOT NULL CHECK (bank_code ~ '^[0-9]{4}$'),
  amount bigint NOT NULL CHECK (amount > 0),
  descriptor text NOT NULL,
  pending_transfer_id text NOT NULL UNIQUE REFERENCES ledger_transfers (id),
  -- requested: pending transfer made, bank not yet answered; posted / voided: settled;
  -- unknown: the bank call ended without an answer — only the bank's record may settle it.
  status text NOT NULL CHECK (status IN ('requested', 'unknown', 'posted', 'voided')),
  failure_reason text,
  bank_transfer_id text,
  idempotency_scope text NOT NULL,
  idempotency_key text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  -- A reconciler worker leases a movement while it asks the bank; others skip it.
  leased_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  settled_at timestamptz,
  UNIQUE (idempotency_scope, idempotency_key)
);
CREATE INDEX bank_movements_open ON bank_movements (created_at) WHERE status IN ('requested', 'unknown');
CREATE INDEX bank_movements_by_wallet ON bank_movements (wallet_id, created_at);
CREATE INDEX bank_movements_by_link ON bank_movements (link_id, created_at);
CREATE INDEX bank_movements_by_bank_day ON bank_movements (bank_code, created_at);

-- Daily statement reconciliation: every difference between a bank's statement and the ledger, to the yen.
CREATE TABLE reconciliation_reports (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bank_code text NOT NULL,
  statement_date date NOT NULL,
  bank_debits bigint NOT NULL,
  bank_credits bigint NOT NULL,
  ledger_debits bigint NOT NULL,
  ledger_credits bigint NOT NULL,
  differences jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reconciliation_reports_by_bank ON reconciliation_reports (bank_code, statement_date);
