-- The risk engine's state (SPEC §7, issue 5): sliding-window counters, distinct counts, every decision with its
-- inputs and rule hits, and a minimal alert queue for analysts. Shared by every API process through the database.

-- Sliding-window velocity counts, bucketed. Each increment upserts two rows: the minute bucket and the hour bucket
-- of its time (bucket_start in epoch seconds, aligned to the granularity). A window is read as whole minute
-- buckets at both ragged ends and whole hour buckets in between, so a 24 h count sums at most ~120 minute rows and
-- 24 hour rows, and a 30-day count at most ~120 + 720, whatever the traffic: the read cost is bounded by the window,
-- not by the number of events (an events table would scan every event of a sprayed IP). The price is resolution:
-- a window starts at the minute boundary at or before now - window (up to 59 s wider than asked).
-- Failure counters (PIN and OTP failures per bank account across wallets, PIN failures per IP) are counters here.
-- An upsert adds to the row in place (no read-modify-write): concurrent increments from many processes are exact.
-- A busy key (the sign-ups of a large e-mail domain) would make every writer queue on one row until its transaction
-- commits, so each increment picks one of a few shards at random and a read sums them (SPEC §11: no hot rows).
CREATE TABLE risk_counters (
  counter text NOT NULL CHECK (counter ~ '^[a-z0-9_]{1,64}$'),
  key text NOT NULL,
  granularity integer NOT NULL CHECK (granularity IN (60, 3600)),
  bucket_start bigint NOT NULL,
  shard smallint NOT NULL DEFAULT 0 CHECK (shard BETWEEN 0 AND 63),
  count bigint NOT NULL CHECK (count >= 0),
  CHECK (bucket_start % granularity = 0),
  PRIMARY KEY (counter, key, granularity, bucket_start, shard)
);
-- Pruning old buckets (minute buckets after 2 days, hour buckets after 90 days) walks this index.
CREATE INDEX risk_counters_by_age ON risk_counters (granularity, bucket_start);

-- Distinct counts: wallets per device, names per device, bank accounts per wallet, wallets per bank account,
-- bank accounts with failures per IP. One row per (dimension, key, member), first and last seen; a windowed count
-- counts members last seen inside the window. Members that are personal data (names) are stored as hashes.
CREATE TABLE risk_distinct (
  dimension text NOT NULL CHECK (dimension ~ '^[a-z0-9_]{1,64}$'),
  key text NOT NULL,
  member text NOT NULL,
  first_seen timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  CHECK (last_seen >= first_seen),
  PRIMARY KEY (dimension, key, member)
);
CREATE INDEX risk_distinct_by_last_seen ON risk_distinct (dimension, key, last_seen);

-- Every decision the risk hook made, enforced or not, with the features it was made on and the rules that hit.
CREATE TABLE risk_decisions (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  event_kind text NOT NULL CHECK (event_kind IN ('signup', 'login', 'factor_change', 'kyc_submit', 'link_start',
    'link_complete', 'charge', 'payment', 'withdrawal', 'profile_change')),
  wallet_id text,
  device_key text,
  ip text,
  bank_code text,
  account_ref text,
  action text NOT NULL CHECK (action IN ('allow', 'challenge', 'review', 'deny')),
  score integer NOT NULL,
  -- false: the decision was recorded but the flow went on as if allowed (the whole rule set in shadow mode).
  enforced boolean NOT NULL,
  rule_hits jsonb NOT NULL DEFAULT '[]'::jsonb,
  -- Rules in shadow mode that would have hit: decided and recorded, never enforced.
  shadow_hits jsonb NOT NULL DEFAULT '[]'::jsonb,
  features jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- An analyst reads decisions by wallet, device, IP or bank account, newest first (seq pages them).
CREATE INDEX risk_decisions_by_wallet ON risk_decisions (wallet_id, seq) WHERE wallet_id IS NOT NULL;
CREATE INDEX risk_decisions_by_device ON risk_decisions (device_key, seq) WHERE device_key IS NOT NULL;
CREATE INDEX risk_decisions_by_ip ON risk_decisions (ip, seq) WHERE ip IS NOT NULL;
CREATE INDEX risk_decisions_by_account ON risk_decisions (account_ref, bank_code, seq) WHERE account_ref IS NOT NULL;

-- A minimal alert queue fed by review and deny decisions; case management comes later.
CREATE TABLE risk_alerts (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  decision_id text NOT NULL UNIQUE REFERENCES risk_decisions (id),
  kind text NOT NULL CHECK (kind IN ('review', 'deny')),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged')),
  created_at timestamptz NOT NULL DEFAULT now(),
  acknowledged_at timestamptz,
  acknowledged_by text,
  CHECK ((status = 'acknowledged') = (acknowledged_at IS NOT NULL))
);
CREATE INDEX risk_alerts_by_status ON risk_alerts (status, seq);
