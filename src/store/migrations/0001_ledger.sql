-- The ledger (SPEC §4), TigerBeetle's model in SQL: accounts with posted and pending debits and credits,
-- immutable transfers, pending -> post | void as new transfers naming the pending one.

CREATE TABLE ledger_accounts (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('wallet', 'bank_clearing', 'merchant', 'fees', 'compensation', 'suspense')),
  name text NOT NULL,
  -- Busy accounts (per-bank clearing, merchants, system accounts) spread their balance over shards so that
  -- concurrent transfers update different rows instead of queueing on one hot row.
  shard_count integer NOT NULL CHECK (shard_count BETWEEN 1 AND 256),
  debits_must_not_exceed_credits boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- A limit is checked on one row, so a limited account has exactly one shard.
  CONSTRAINT limited_accounts_have_one_shard CHECK (NOT debits_must_not_exceed_credits OR shard_count = 1),
  UNIQUE (id, debits_must_not_exceed_credits)
);

CREATE TABLE ledger_balances (
  account_id text NOT NULL,
  shard integer NOT NULL CHECK (shard >= 0),
  debits_must_not_exceed_credits boolean NOT NULL,
  debits_pending bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
  debits_posted bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
  credits_pending bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
  credits_posted bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
  PRIMARY KEY (account_id, shard),
  -- The flag is copied from the account and tied to it by this key, so it cannot drift.
  FOREIGN KEY (account_id, debits_must_not_exceed_credits)
    REFERENCES ledger_accounts (id, debits_must_not_exceed_credits),
  -- A wallet can never go negative, pending debits included: the database refuses it, not only the code.
  CONSTRAINT balance_never_negative
    CHECK (NOT debits_must_not_exceed_credits OR debits_posted + debits_pending <= credits_posted)
);

CREATE TABLE ledger_transfers (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('single', 'pending', 'post_pending', 'void_pending')),
  debit_account_id text NOT NULL REFERENCES ledger_accounts (id),
  credit_account_id text NOT NULL REFERENCES ledger_accounts (id),
  amount bigint NOT NULL CHECK (amount > 0),
  pending_id text REFERENCES ledger_transfers (id),
  -- What the movement is for: payment, refund, topup, charge, withdrawal, compensation, ...
  code text NOT NULL CHECK (code ~ '^[a-z_]{1,32}$'),
  reference text,
  debit_shard integer NOT NULL,
  credit_shard integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (debit_account_id <> credit_account_id),
  CHECK ((kind IN ('post_pending', 'void_pending')) = (pending_id IS NOT NULL))
);

-- A pending transfer is resolved (posted or voided) at most once.
CREATE UNIQUE INDEX ledger_transfers_resolve_once ON ledger_transfers (pending_id) WHERE pending_id IS NOT NULL;
CREATE INDEX ledger_transfers_by_debit ON ledger_transfers (debit_account_id, seq);
CREATE INDEX ledger_transfers_by_credit ON ledger_transfers (credit_account_id, seq);
CREATE INDEX ledger_transfers_by_reference ON ledger_transfers (reference) WHERE reference IS NOT NULL;

-- The journal is append-only: corrections are new transfers (reversal, refund, compensation).
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger journal rows are immutable' USING ERRCODE = 'KZ001';
END $$;
CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE FUNCTION ledger_open_account(p_id text, p_kind text, p_name text, p_shards integer, p_limited boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger_accounts (id, kind, name, shard_count, debits_must_not_exceed_credits)
    VALUES (p_id, p_kind, p_name, p_shards, p_limited);
  INSERT INTO ledger_balances (account_id, shard, debits_must_not_exceed_credits)
    SELECT p_id, s, p_limited FROM generate_series(0, p_shards - 1) AS s;
END $$;

-- The one function that moves money. Returns 'created' or 'exists' (same id, same fields: a retry).
-- Raises KZ010 exists with different fields, KZ011 pending not found, KZ012 pending already resolved,
-- KZ013 amount differs from pending, KZ014 account not found, KZ015 no amount or same account twice; 23514 balance_never_negative on overdraft.
CREATE FUNCTION ledger_create_transfer(
  p_id text, p_kind text, p_debit text, p_credit text, p_amount bigint,
  p_code text, p_reference text, p_pending_id text
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_debit_shard integer;
  v_credit_shard integer;
  v_pending ledger_transfers%ROWTYPE;
  v_existing ledger_transfers%ROWTYPE;
  v_inserted text;
BEGIN
  IF p_kind NOT IN ('post_pending', 'void_pending')
     AND (p_amount IS NULL OR p_amount <= 0 OR p_debit IS NULL OR p_credit IS NULL OR p_debit = p_credit) THEN
    RAISE EXCEPTION 'a transfer needs a positive amount and two different accounts' USING ERRCODE = 'KZ015';
  END IF;
  IF p_kind IN ('post_pending', 'void_pending') THEN
    SELECT * INTO v_pending FROM ledger_transfers WHERE id = p_pending_id;
    IF NOT FOUND OR v_pending.kind <> 'pending' THEN
      RAISE EXCEPTION 'pending transfer % not found', p_pending_id USING ERRCODE = 'KZ011';
    END IF;
    -- A resolution names the pending transfer; its accounts, amount and shards are the pending one's.
    p_debit := coalesce(p_debit, v_pending.debit_account_id);
    p_credit := coalesce(p_credit, v_pending.credit_account_id);
    p_amount := coalesce(p_amount, v_pending.amount);
    IF p_debit <> v_pending.debit_account_id OR p_credit <> v_pending.credit_account_id
       OR p_amount <> v_pending.amount THEN
      RAISE EXCEPTION 'resolution of % must match its accounts and amount', p_pending_id USING ERRCODE = 'KZ013';
    END IF;
    v_debit_shard := v_pending.debit_shard;
    v_credit_shard := v_pending.credit_shard;
  ELSE
    SELECT mod(abs(hashtext(p_id)::bigint), shard_count)::integer INTO v_debit_shard
      FROM ledger_accounts WHERE id = p_debit;
    IF NOT FOUND THEN RAISE EXCEPTION 'account % not found', p_debit USING ERRCODE = 'KZ014'; END IF;
    SELECT mod(abs(hashtext(p_id || '/c')::bigint), shard_count)::integer INTO v_credit_shard
      FROM ledger_accounts WHERE id = p_credit;
    IF NOT FOUND THEN RAISE EXCEPTION 'account % not found', p_credit USING ERRCODE = 'KZ014'; END IF;
  END IF;

  INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, amount, pending_id, code,
                                reference, debit_shard, credit_shard)
    VALUES (p_id, p_kind, p_debit, p_credit, p_amount, p_pending_id, p_code, p_reference,
            v_debit_shard, v_credit_shard)
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_inserted;

  IF v_inserted IS NULL THEN
    SELECT * INTO v_existing FROM ledger_transfers WHERE id = p_id;
    IF FOUND THEN
      IF v_existing.kind = p_kind AND v_existing.debit_account_id = p_debit
         AND v_existing.credit_account_id = p_credit AND v_existing.amount = p_amount
         AND v_existing.code = p_code AND v_existing.reference IS NOT DISTINCT FROM p_reference
         AND v_existing.pending_id IS NOT DISTINCT FROM p_pending_id THEN
        RETURN 'exists';
      END IF;
      RAISE EXCEPTION 'transfer % exists with different fields', p_id USING ERRCODE = 'KZ010';
    END IF;
    RAISE EXCEPTION 'pending transfer % is already resolved', p_pending_id USING ERRCODE = 'KZ012';
  END IF;

  -- Rows are locked in account-id order so that two transfers between the same accounts cannot deadlock.
  IF p_debit < p_credit THEN
    PERFORM ledger_apply(p_kind, p_debit, v_debit_shard, p_amount, true);
    PERFORM ledger_apply(p_kind, p_credit, v_credit_shard, p_amount, false);
  ELSE
    PERFORM ledger_apply(p_kind, p_credit, v_credit_shard, p_amount, false);
    PERFORM ledger_apply(p_kind, p_debit, v_debit_shard, p_amount, true);
  END IF;
  RETURN 'created';
END $$;

CREATE FUNCTION ledger_apply(p_kind text, p_account text, p_shard integer, p_amount bigint, p_is_debit boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_is_debit THEN
    UPDATE ledger_balances SET
      debits_pending = debits_pending
        + CASE p_kind WHEN 'pending' THEN p_amount WHEN 'single' THEN 0 ELSE -p_amount END,
      debits_posted = debits_posted
        + CASE WHEN p_kind IN ('single', 'post_pending') THEN p_amount ELSE 0 END
    WHERE account_id = p_account AND shard = p_shard;
  ELSE
    UPDATE ledger_balances SET
      credits_pending = credits_pending
        + CASE p_kind WHEN 'pending' THEN p_amount WHEN 'single' THEN 0 ELSE -p_amount END,
      credits_posted = credits_posted
        + CASE WHEN p_kind IN ('single', 'post_pending') THEN p_amount ELSE 0 END
    WHERE account_id = p_account AND shard = p_shard;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'balance row %/% not found', p_account, p_shard USING ERRCODE = 'KZ014';
  END IF;
END $$;

-- Ledger-wide system accounts. Suspense takes sandbox top-ups and unexplained differences.
SELECT ledger_open_account('acc_suspense', 'suspense', 'Suspense', 16, false);
SELECT ledger_open_account('acc_fees', 'fees', 'Fees', 16, false);
SELECT ledger_open_account('acc_compensation', 'compensation', 'Compensation (expense)', 16, false);
