-- Protocol v2 (issue 10): the contact the bank holds besides the phone, and the holder's confirmation of a link on it.
-- A SIM swap hands the attacker the phone; the e-mail the bank has on file stays the holder's, so a link proved by PIN
-- and text alone waits for the holder's one tap there (or a sign-in at the bank) before it earns more than a small cap.

-- Seeded deterministically (seed.ts holderEmail: the same formula, here for a database seeded before this migration);
-- about 1 in 10 holders have none.
ALTER TABLE accounts ADD COLUMN registered_email text;
UPDATE accounts a SET registered_email = CASE
    WHEN get_byte(sha256(convert_to('koza-sandbox-email:' || s.seed || ':' || a.person_index, 'UTF8')), 0) % 10 = 0 THEN NULL
    ELSE 'holder' || a.person_index || '.'
      || substr(encode(sha256(convert_to('koza-sandbox-email:' || s.seed || ':' || a.person_index, 'UTF8')), 'hex'), 3, 6)
      || '@mail.example.jp'
  END
  FROM sandbox_seed s WHERE a.kind = 'holder';

-- The sandbox's mailbox: every e-mail a bank sent to a holder's registered address.
CREATE TABLE email_messages (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bank_code text NOT NULL REFERENCES banks (code),
  account_id text NOT NULL REFERENCES accounts (id),
  address text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX email_messages_by_address ON email_messages (address, seq);

-- Which channels carried each notification (the answer of POST /notifications).
ALTER TABLE holder_notifications ADD COLUMN channels text[] NOT NULL DEFAULT '{inbox}';

-- The holder's word on a link: confirmed (bank sign-in or the e-mailed one tap), or revoked from the bank's page.
ALTER TABLE links ADD COLUMN holder_confirmed_at timestamptz;
ALTER TABLE links ADD COLUMN holder_confirmed_via text CHECK (holder_confirmed_via IN ('bank_sign_in', 'email'));
ALTER TABLE links ADD COLUMN revoked_by text CHECK (revoked_by IN ('holder', 'koza', 'bank'));
ALTER TABLE links ADD CONSTRAINT links_confirmation_complete CHECK ((holder_confirmed_at IS NULL) = (holder_confirmed_via IS NULL));

-- The one-tap confirmation e-mailed to the holder: a capability URL (token stored hashed), one per link.
CREATE TABLE link_confirmations (
  token_hash text PRIMARY KEY,
  link_id text NOT NULL UNIQUE REFERENCES links (id),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  outcome text CHECK (outcome IN ('confirmed', 'revoked'))
);
