-- Furikomi (bank transfers a holder sends from the bank's own pages) and their returns (docs/bank-protocol.md §10).
-- A holder at any bank can fund a koza wallet by sending one to the wallet's virtual account at koza's pay-in bank;
-- nobody pulls money from anybody. Between two banks the money passes through each bank's inter-bank clearing account
-- (the Zengin system's settlement), so every bank's own books stay double entry.

ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check
  CHECK (kind IN ('holder', 'koza_settlement', 'bank_equity', 'interbank'));
-- A database seeded before this migration gets its inter-bank accounts here; a new one in ensureSeeded.
INSERT INTO accounts (id, bank_code, kind) SELECT 'ibk_' || code, code, 'interbank' FROM banks
  ON CONFLICT DO NOTHING;

-- One transfer a holder sent. to_account_id is a holder's account, or koza's settlement account when the transfer
-- went to a virtual account number of koza's (branch 990 at every sandbox bank: koza's pay-in branch, 振込専用).
CREATE TABLE furikomi (
  id text PRIMARY KEY,
  from_bank_code text NOT NULL REFERENCES banks (code),
  from_account_id text NOT NULL REFERENCES accounts (id),
  -- The sender as the sending bank writes it in the transfer (Zengin half-width kana), never typed by the holder.
  sender_name_kana text NOT NULL,
  sender_branch_code text NOT NULL,
  to_bank_code text NOT NULL REFERENCES banks (code),
  to_branch_code text NOT NULL CHECK (to_branch_code ~ '^[0-9]{3}$'),
  to_account_number text NOT NULL CHECK (to_account_number ~ '^[0-9]{7}$'),
  to_account_id text NOT NULL REFERENCES accounts (id),
  to_virtual boolean NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  booked_at timestamptz NOT NULL,
  -- When koza acknowledged the receiving bank's notice (null: not told yet, or the notice was lost: the statement tells).
  koza_notified_at timestamptz,
  CHECK (from_account_id <> to_account_id)
);
CREATE INDEX furikomi_incoming_by_day ON furikomi (to_bank_code, booked_at) WHERE to_virtual;
CREATE INDEX furikomi_by_sender ON furikomi (from_account_id, booked_at);

-- koza sends back a pay-in it cannot take (the sender's name is not the wallet's owner, an unknown virtual account, a
-- frozen wallet, a limit): at most one return per transfer, the whole amount, to the sender's account.
CREATE TABLE furikomi_returns (
  id text PRIMARY KEY,
  furikomi_id text NOT NULL UNIQUE REFERENCES furikomi (id),
  bank_code text NOT NULL REFERENCES banks (code),
  reference text NOT NULL,
  reason text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  booked_at timestamptz NOT NULL,
  UNIQUE (bank_code, reference)
);
CREATE INDEX furikomi_returns_by_day ON furikomi_returns (bank_code, booked_at);
CREATE TRIGGER furikomi_returns_immutable BEFORE UPDATE OR DELETE ON furikomi_returns
  FOR EACH ROW EXECUTE FUNCTION bank_refuse_change();

-- Journal rows of a furikomi or its return name it (two rows when it crossed banks: one in each bank's books).
ALTER TABLE journal_entries ADD COLUMN furikomi_id text REFERENCES furikomi (id);
DO $$
DECLARE c record;
BEGIN
  -- The kind list and "opening has no transfer" checks were unnamed in 0001: found by what they say.
  FOR c IN SELECT conname FROM pg_constraint
            WHERE conrelid = 'journal_entries'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%opening%'
  LOOP
    EXECUTE format('ALTER TABLE journal_entries DROP CONSTRAINT %I', c.conname);
  END LOOP;
END $$;
ALTER TABLE journal_entries ADD CONSTRAINT journal_entries_kind_check
  CHECK (kind IN ('opening', 'debit', 'credit', 'furikomi', 'furikomi_return'));
ALTER TABLE journal_entries ADD CONSTRAINT journal_entries_names_its_movement CHECK (
  CASE kind WHEN 'opening' THEN transfer_id IS NULL AND furikomi_id IS NULL
            WHEN 'debit' THEN transfer_id IS NOT NULL AND furikomi_id IS NULL
            WHEN 'credit' THEN transfer_id IS NOT NULL AND furikomi_id IS NULL
            ELSE transfer_id IS NULL AND furikomi_id IS NOT NULL END);

-- The one posting function, now able to name a furikomi; callers of the nine-argument form are unchanged.
DROP FUNCTION bank_post_entry(text, text, text, bigint, text, text, text, text, timestamptz);
CREATE FUNCTION bank_post_entry(
  p_bank text, p_debit text, p_credit text, p_amount bigint, p_kind text, p_transfer_id text,
  p_descriptor text, p_reference text, p_booked_at timestamptz, p_furikomi_id text DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint;
  v_debit accounts%ROWTYPE;
  v_credit accounts%ROWTYPE;
BEGIN
  -- Locked in id order, so two movements between the same accounts cannot deadlock.
  PERFORM 1 FROM accounts WHERE id IN (p_debit, p_credit) ORDER BY id FOR UPDATE;
  UPDATE accounts SET balance = balance - p_amount WHERE id = p_debit AND bank_code = p_bank RETURNING * INTO v_debit;
  IF NOT FOUND THEN RAISE EXCEPTION 'account % is not at bank %', p_debit, p_bank USING ERRCODE = 'KB002'; END IF;
  UPDATE accounts SET balance = balance + p_amount WHERE id = p_credit AND bank_code = p_bank RETURNING * INTO v_credit;
  IF NOT FOUND THEN RAISE EXCEPTION 'account % is not at bank %', p_credit, p_bank USING ERRCODE = 'KB002'; END IF;
  INSERT INTO journal_entries (bank_code, debit_account_id, credit_account_id, amount, kind, transfer_id, booked_at, furikomi_id)
    VALUES (p_bank, p_debit, p_credit, p_amount, p_kind, p_transfer_id, p_booked_at, p_furikomi_id)
    RETURNING seq INTO v_seq;
  IF v_debit.kind = 'holder' THEN
    INSERT INTO passbook_lines (account_id, journal_seq, booked_at, descriptor, withdrawal, deposit, balance_after, reference)
      VALUES (p_debit, v_seq, p_booked_at, p_descriptor, p_amount, 0, v_debit.balance, p_reference);
  END IF;
  IF v_credit.kind = 'holder' THEN
    INSERT INTO passbook_lines (account_id, journal_seq, booked_at, descriptor, withdrawal, deposit, balance_after, reference)
      VALUES (p_credit, v_seq, p_booked_at, p_descriptor, 0, p_amount, v_credit.balance, p_reference);
  END IF;
  RETURN v_seq;
END $$;
