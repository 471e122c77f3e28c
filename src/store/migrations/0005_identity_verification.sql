-- eKYC (SPEC §3, §5.2): every submission to the identity-verification provider and its outcome, and the
-- identities the provider verified. One verified person -> one wallet is enforced here, not only in code.

-- One row per submission. Kept as the verification record (Japan's Act on Prevention of Transfer of
-- Criminal Proceeds requires keeping it), including what the customer claimed.
CREATE TABLE identity_verifications (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  provider text NOT NULL,
  -- The provider's own id for the submission: an asynchronous provider's callback names it.
  provider_reference text,
  document_type text NOT NULL CHECK (document_type IN ('drivers_licence', 'my_number_card')),
  -- The document number is never stored in clear: a keyed hash to match on, the last 4 digits to show.
  document_key text NOT NULL,
  document_last4 text NOT NULL CHECK (document_last4 ~ '^[0-9]{4}$'),
  claimed jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'verified', 'failed', 'flagged', 'refused')),
  -- failed: the provider's reason; flagged: forged_document | selfie_mismatch; refused: why koza refused a pass.
  reason text CHECK (reason IS NULL OR reason ~ '^[a-z_]{1,64}$'),
  identity_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  CHECK ((status = 'pending') = (completed_at IS NULL)),
  CHECK ((status IN ('pending', 'verified')) = (reason IS NULL)),
  UNIQUE (provider, provider_reference)
);
CREATE INDEX identity_verifications_by_wallet ON identity_verifications (wallet_id, created_at);

-- What the provider verified, never what the customer typed. Rows are immutable: a re-verification adds a
-- row and marks the previous one superseded, so the history of who this wallet was verified as is kept.
CREATE TABLE verified_identities (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  verification_id text NOT NULL UNIQUE REFERENCES identity_verifications (id),
  provider text NOT NULL,
  name_kanji text NOT NULL,
  name_kana text NOT NULL,
  date_of_birth date NOT NULL,
  prefecture text NOT NULL,
  city text NOT NULL,
  street text NOT NULL,
  document_type text NOT NULL,
  document_last4 text NOT NULL,
  -- Keyed hashes (the server key): normalised kana name + date of birth, and document type + number.
  -- Keyed, because name and birthday are few enough to guess: a plain hash would name the person.
  person_key text NOT NULL,
  document_key text NOT NULL,
  verified_at timestamptz NOT NULL DEFAULT now(),
  superseded_at timestamptz,
  -- Deferred: the predecessor is marked superseded before its successor is inserted (the one-live indexes)
  superseded_by text REFERENCES verified_identities (id) DEFERRABLE INITIALLY DEFERRED,
  CHECK ((superseded_at IS NULL) = (superseded_by IS NULL))
);
CREATE INDEX verified_identities_by_wallet ON verified_identities (wallet_id, seq);
-- At most one live identity per wallet, and one live wallet per person and per document.
CREATE UNIQUE INDEX verified_identities_one_live_per_wallet ON verified_identities (wallet_id) WHERE superseded_at IS NULL;
CREATE UNIQUE INDEX verified_identities_one_wallet_per_person ON verified_identities (person_key) WHERE superseded_at IS NULL;
CREATE UNIQUE INDEX verified_identities_one_wallet_per_document ON verified_identities (document_key) WHERE superseded_at IS NULL;

ALTER TABLE identity_verifications ADD CONSTRAINT identity_verifications_identity_fk
  FOREIGN KEY (identity_id) REFERENCES verified_identities (id) DEFERRABLE INITIALLY DEFERRED;

-- Nobody edits a verified identity, not the customer and not a bug: the only change a row ever sees is
-- being superseded, once, by its successor.
CREATE FUNCTION verified_identities_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.superseded_at IS NULL AND NEW.superseded_at IS NOT NULL
       AND (to_jsonb(NEW) - 'superseded_at' - 'superseded_by') = (to_jsonb(OLD) - 'superseded_at' - 'superseded_by') THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'verified identities are immutable; re-verify instead' USING ERRCODE = 'KZ020';
END $$;
CREATE TRIGGER verified_identities_immutable BEFORE UPDATE OR DELETE ON verified_identities
  FOR EACH ROW EXECUTE FUNCTION verified_identities_guard();
CREATE TRIGGER verified_identities_no_truncate BEFORE TRUNCATE ON verified_identities
  FOR EACH STATEMENT EXECUTE FUNCTION verified_identities_guard();
