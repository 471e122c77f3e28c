-- The bank sandbox's own books (SPEC §6): banks are another organisation than koza, so they keep a schema of
-- their own. Double entry: every movement is one immutable journal row from one account to another.

CREATE TABLE sandbox_seed (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  seed bigint NOT NULL,
  bank_count integer NOT NULL,
  seeded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE banks (
  code text PRIMARY KEY CHECK (code ~ '^[0-9]{4}$'),
  name text NOT NULL,
  name_kana text NOT NULL,
  link_methods text[] NOT NULL,
  stores_half_width_names boolean NOT NULL
);

CREATE TABLE branches (
  bank_code text NOT NULL REFERENCES banks (code),
  code text NOT NULL CHECK (code ~ '^[0-9]{3}$'),
  name text NOT NULL,
  name_kana text NOT NULL,
  PRIMARY KEY (bank_code, code)
);

-- Holder accounts, and per bank the koza settlement account (the bank's liability to koza: it may go negative)
-- and the bank's own equity account (the other side of the opening balances).
CREATE TABLE accounts (
  id text PRIMARY KEY,
  bank_code text NOT NULL REFERENCES banks (code),
  kind text NOT NULL CHECK (kind IN ('holder', 'koza_settlement', 'bank_equity')),
  balance bigint NOT NULL DEFAULT 0,
  branch_code text,
  account_number text CHECK (account_number ~ '^[0-9]{7}$'),
  account_ref text UNIQUE,
  person_index integer,
  holder_name_kana text,
  holder_name_kanji text,
  date_of_birth text CHECK (date_of_birth ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
  registered_phone text,
  online_id text,
  -- A keyed hash per account. A 4-digit PIN falls to any offline search: a real bank keeps it in an HSM.
  secret_salt text,
  pin_hash text,
  password_hash text,
  -- Wrong PINs across every link request and every wallet: the credential-testing defence of 2020's missing bank.
  pin_failures integer NOT NULL DEFAULT 0 CHECK (pin_failures >= 0),
  pin_locked_at timestamptz,
  password_failures integer NOT NULL DEFAULT 0 CHECK (password_failures >= 0),
  password_locked_at timestamptz,
  closed_at timestamptz,
  CONSTRAINT holder_balance_never_negative CHECK (kind <> 'holder' OR balance >= 0),
  CONSTRAINT holder_accounts_are_complete CHECK (kind <> 'holder' OR (
    branch_code IS NOT NULL AND account_number IS NOT NULL AND account_ref IS NOT NULL AND holder_name_kana IS NOT NULL
    AND date_of_birth IS NOT NULL AND registered_phone IS NOT NULL AND online_id IS NOT NULL
    AND secret_salt IS NOT NULL AND pin_hash IS NOT NULL AND password_hash IS NOT NULL)),
  FOREIGN KEY (bank_code, branch_code) REFERENCES branches (bank_code, code),
  UNIQUE (bank_code, branch_code, account_number),
  UNIQUE (bank_code, online_id)
);
CREATE UNIQUE INDEX accounts_one_internal_per_bank ON accounts (bank_code, kind) WHERE kind <> 'holder';
CREATE INDEX accounts_by_person ON accounts (person_index) WHERE person_index IS NOT NULL;

CREATE TABLE link_requests (
  id text PRIMARY KEY,
  bank_code text NOT NULL REFERENCES banks (code),
  method text NOT NULL CHECK (method IN ('redirect', 'pin_otp', 'pin_only')),
  wallet_ref text NOT NULL,
  claims jsonb,
  -- redirect: the pushed authorization request.
  redirect_uri text,
  code_challenge text,
  state text,
  -- Known once the holder is identified: PIN checked, or signed in at the bank and consented.
  account_id text REFERENCES accounts (id),
  status text NOT NULL CHECK (status IN ('pending', 'otp_sent', 'authorized', 'completed', 'denied', 'failed')),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  completed_at timestamptz,
  CHECK (method <> 'redirect' OR (redirect_uri IS NOT NULL AND code_challenge IS NOT NULL))
);

CREATE TABLE links (
  id text PRIMARY KEY,
  bank_code text NOT NULL REFERENCES banks (code),
  token_hash text NOT NULL UNIQUE,
  account_id text NOT NULL REFERENCES accounts (id),
  wallet_ref text NOT NULL,
  method text NOT NULL,
  link_request_id text NOT NULL UNIQUE REFERENCES link_requests (id),
  created_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX links_by_account ON links (account_id, created_at);

-- OAuth authorization codes: single use, at most 60 s. A replayed code revokes the link it was exchanged for.
CREATE TABLE authorization_codes (
  code_hash text PRIMARY KEY,
  link_request_id text NOT NULL REFERENCES link_requests (id),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  link_id text REFERENCES links (id)
);

-- The bank's own one-time codes, sent to the phone registered at the bank: 5 minutes, 5 tries, single use.
CREATE TABLE otps (
  id text PRIMARY KEY,
  bank_code text NOT NULL REFERENCES banks (code),
  account_id text NOT NULL REFERENCES accounts (id),
  purpose text NOT NULL CHECK (purpose IN ('link', 'sign_in')),
  subject_id text NOT NULL,
  code_hash text NOT NULL,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 5),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX otps_by_subject ON otps (subject_id, created_at);

CREATE TABLE transfers (
  id text PRIMARY KEY,
  bank_code text NOT NULL REFERENCES banks (code),
  reference text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('debit', 'credit')),
  amount bigint NOT NULL CHECK (amount > 0),
  link_id text NOT NULL REFERENCES links (id),
  account_id text NOT NULL REFERENCES accounts (id),
  descriptor text NOT NULL,
  status text NOT NULL CHECK (status IN ('completed', 'rejected')),
  reason text,
  booked_at timestamptz NOT NULL,
  CHECK ((status = 'rejected') = (reason IS NOT NULL)),
  UNIQUE (bank_code, reference)
);
CREATE INDEX transfers_by_day ON transfers (bank_code, booked_at) WHERE status = 'completed';

CREATE TABLE journal_entries (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bank_code text NOT NULL REFERENCES banks (code),
  debit_account_id text NOT NULL REFERENCES accounts (id),
  credit_account_id text NOT NULL REFERENCES accounts (id),
  amount bigint NOT NULL CHECK (amount > 0),
  kind text NOT NULL CHECK (kind IN ('opening', 'debit', 'credit')),
  transfer_id text UNIQUE REFERENCES transfers (id),
  booked_at timestamptz NOT NULL,
  CHECK (debit_account_id <> credit_account_id),
  CHECK ((kind = 'opening') = (transfer_id IS NULL))
);

-- What the holder reads: one line per movement of a holder account, with the descriptor and the balance after it.
CREATE TABLE passbook_lines (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id text NOT NULL REFERENCES accounts (id),
  journal_seq bigint NOT NULL REFERENCES journal_entries (seq),
  booked_at timestamptz NOT NULL,
  descriptor text NOT NULL,
  withdrawal bigint NOT NULL CHECK (withdrawal >= 0),
  deposit bigint NOT NULL CHECK (deposit >= 0),
  balance_after bigint NOT NULL,
  reference text,
  CHECK ((withdrawal = 0) <> (deposit = 0))
);
CREATE INDEX passbook_lines_by_account ON passbook_lines (account_id, seq);

CREATE FUNCTION bank_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'bank books are append-only' USING ERRCODE = 'KB001';
END $$;
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
  FOR EACH ROW EXECUTE FUNCTION bank_refuse_change();
CREATE TRIGGER transfers_immutable BEFORE UPDATE OR DELETE ON transfers
  FOR EACH ROW EXECUTE FUNCTION bank_refuse_change();
CREATE TRIGGER passbook_lines_immutable BEFORE UPDATE OR DELETE ON passbook_lines
  FOR EACH ROW EXECUTE FUNCTION bank_refuse_change();

-- The one function that moves money in the bank: a journal row, both balances, and the passbook lines, together.
-- Raises KB002 for an account that is not the bank's; 23514 holder_balance_never_negative on an overdraft.
CREATE FUNCTION bank_post_entry(
  p_bank text, p_debit text, p_credit text, p_amount bigint, p_kind text, p_transfer_id text,
  p_descriptor text, p_reference text, p_booked_at timestamptz
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
  INSERT INTO journal_entries (bank_code, debit_account_id, credit_account_id, amount, kind, transfer_id, booked_at)
    VALUES (p_bank, p_debit, p_credit, p_amount, p_kind, p_transfer_id, p_booked_at)
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

-- Idempotency-Key per bank: the first answer is kept and replayed; the same key with another body is a conflict.
CREATE TABLE idempotent_requests (
  bank_code text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  status_code integer NOT NULL,
  response jsonb,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (bank_code, idempotency_key)
);

-- The holder's side of the bank: web sessions, the bank's SMS, the inbox and "a debit I don't recognise".
CREATE TABLE holder_sessions (
  id text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  bank_code text NOT NULL REFERENCES banks (code),
  stage text NOT NULL CHECK (stage IN ('anonymous', 'otp', 'signed_in')),
  account_id text REFERENCES accounts (id),
  csrf_token text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  CHECK (stage = 'anonymous' OR account_id IS NOT NULL)
);

CREATE TABLE sms_messages (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bank_code text NOT NULL REFERENCES banks (code),
  phone text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX sms_messages_by_phone ON sms_messages (phone, seq);

CREATE TABLE holder_notifications (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bank_code text NOT NULL REFERENCES banks (code),
  account_id text NOT NULL REFERENCES accounts (id),
  sender text NOT NULL CHECK (sender IN ('bank', 'koza')),
  kind text NOT NULL,
  message text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX holder_notifications_by_account ON holder_notifications (account_id, seq);

CREATE TABLE holder_reports (
  id text PRIMARY KEY,
  bank_code text NOT NULL REFERENCES banks (code),
  account_id text NOT NULL REFERENCES accounts (id),
  passbook_seq bigint NOT NULL REFERENCES passbook_lines (seq),
  reference text,
  note text NOT NULL,
  created_at timestamptz NOT NULL
);
