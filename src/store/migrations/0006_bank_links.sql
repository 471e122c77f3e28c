-- Partner banks known to koza and the bank accounts wallets link (SPEC §5.3, §6.1–§6.2): the step that failed in 2020.

-- A bank koza has seen in a directory, with its clearing account in the ledger (opened on first sight).
CREATE TABLE banks (
  bank_code text PRIMARY KEY CHECK (bank_code ~ '^[0-9]{4}$'),
  name text NOT NULL,
  name_kana text NOT NULL,
  -- In the bank's order of preference; a subset of redirect, pin_otp, pin_only.
  link_methods text[] NOT NULL,
  status text NOT NULL CHECK (status IN ('operational', 'degraded', 'outage')),
  ledger_account_id text NOT NULL UNIQUE REFERENCES ledger_accounts (id) DEFERRABLE INITIALLY DEFERRED,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One attempt to link: pushed to the bank, then completed by the customer (redirect callback or OTP).
CREATE TABLE link_requests (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  bank_code text NOT NULL REFERENCES banks (bank_code),
  method text NOT NULL CHECK (method IN ('redirect', 'pin_otp', 'pin_only')),
  -- The policy profile the request was started under: completion applies the same rules.
  policy text NOT NULL CHECK (policy IN ('secure', 'legacy-2020')),
  -- pushing: koza is asking the bank; awaiting_customer: the customer must approve at the bank or type the OTP;
  -- completing: koza is redeeming the code or OTP; linked / refused / failed: final.
  state text NOT NULL CHECK (state IN ('pushing', 'awaiting_customer', 'completing', 'linked', 'refused', 'failed')),
  bank_link_request_id text,
  otp_sent_to text,
  -- redirect only: SHA-256 of the OAuth state (256 random bits) to find the request from the callback, and the
  -- PKCE verifier sealed with the server key; neither is ever stored in clear.
  oauth_state_hash text UNIQUE,
  code_verifier_sealed text,
  redirect_uri text,
  -- legacy-2020 only: the name the customer typed, which the 2020 wallet took as the account holder's.
  claimed_name_kana text,
  -- A keyed hash of branch and account number as typed (pin methods), so that PIN failures on one account can
  -- be counted across wallets (credential testing) without keeping the number.
  typed_account_key text,
  -- Why the request ended refused or failed: a koza problem code, and the problem shown to the customer.
  failure_code text,
  failure_problem jsonb,
  -- A refused completion still got a link token from the bank: kept sealed until the bank confirms it is revoked.
  refused_link_token_sealed text,
  bank_revoked_at timestamptz,
  link_id text,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  CHECK ((method = 'redirect') = (oauth_state_hash IS NOT NULL))
);
CREATE INDEX link_requests_by_wallet ON link_requests (wallet_id, created_at);
CREATE INDEX link_requests_by_typed_account ON link_requests (typed_account_key, created_at) WHERE typed_account_key IS NOT NULL;
CREATE INDEX link_requests_unrevoked ON link_requests (created_at)
  WHERE refused_link_token_sealed IS NOT NULL AND bank_revoked_at IS NULL;

-- A live link between a wallet and a bank account: what charges and withdrawals move money through.
CREATE TABLE bank_links (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  bank_code text NOT NULL REFERENCES banks (bank_code),
  -- The bank's stable reference of the account (the same for every wallet that links it).
  account_ref text NOT NULL,
  branch_code text NOT NULL,
  account_number_masked text NOT NULL,
  -- koza must present the token to the bank, so it is sealed (AES-256-GCM with the server key), not hashed.
  link_token_sealed text NOT NULL,
  method text NOT NULL CHECK (method IN ('redirect', 'pin_otp', 'pin_only')),
  policy text NOT NULL CHECK (policy IN ('secure', 'legacy-2020')),
  -- notifying: created, the holder's notice through the bank not yet confirmed (no money moves);
  -- active: usable; revoked: final.
  status text NOT NULL CHECK (status IN ('notifying', 'active', 'revoked')),
  -- One bank account, one wallet (SPEC §5.3). legacy-2020 links are made without the rule, as in 2020.
  exclusive boolean NOT NULL,
  holder_name_kana text NOT NULL,
  name_match_score integer CHECK (name_match_score BETWEEN 0 AND 100),
  link_request_id text NOT NULL UNIQUE REFERENCES link_requests (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  holder_notified_at timestamptz,
  revoked_at timestamptz,
  revoked_reason text,
  bank_revoked_at timestamptz,
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX bank_links_by_wallet ON bank_links (wallet_id, seq);
CREATE INDEX bank_links_by_account ON bank_links (bank_code, account_ref);
-- The database, not only the code, refuses a second live exclusive link to one bank account: two wallets
-- completing at once cannot both win.
CREATE UNIQUE INDEX bank_links_one_wallet_per_account ON bank_links (bank_code, account_ref)
  WHERE status <> 'revoked' AND exclusive;
CREATE INDEX bank_links_unrevoked_at_bank ON bank_links (revoked_at) WHERE status = 'revoked' AND bank_revoked_at IS NULL;
