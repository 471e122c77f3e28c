-- Operations (SPEC §8.1, §8.5): operators, kill switches, and the audit log every control change writes.

CREATE TABLE operators (
  id text PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('support', 'fraud_analyst', 'compliance', 'admin')),
  api_key_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);

-- One row per switch: new links halted (global or per bank), charges halted (per bank).
-- Wallet freezes live on wallets.status; their history is in the audit log.
CREATE TABLE controls (
  kind text NOT NULL CHECK (kind IN ('links_halted', 'charges_halted')),
  scope text NOT NULL CHECK (scope = 'global' OR scope ~ '^bank:[0-9]{4}$'),
  active boolean NOT NULL,
  reason text NOT NULL,
  changed_by text NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, scope),
  -- Charges are halted per bank: halting every charge at once is a wallet-wide outage, not a control.
  CHECK (kind <> 'charges_halted' OR scope <> 'global')
);

-- Append-only and hash-chained: each row's hash covers the previous row's hash, so a removed or edited
-- row breaks the chain from there on (SPEC §8.5).
CREATE TABLE audit_log (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  reason text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash text NOT NULL,
  hash text NOT NULL UNIQUE
);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'KZ002';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
