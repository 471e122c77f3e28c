-- Count each action once (issue 11): a money action that was refused for a step-up and its approved retry are one
-- event in every risk counter. The refused attempt moves the counters and leaves an open row; the retry that carries
-- a proof the wallet's factor approved for the same action, amount and destination claims the row instead of moving
-- the counters again. A proof claims at most one row (proof_id UNIQUE), so two retries with one proof count once.
CREATE TABLE risk_counted_actions (
  id text PRIMARY KEY,
  wallet_id text NOT NULL REFERENCES wallets (id),
  -- A hash of (action, amount, destination): what a step-up binds (identity/step-up-binding.ts).
  action_key text NOT NULL,
  counted_at timestamptz NOT NULL,
  -- Until when a retry may still claim it; a row a proof already closed keeps its time for the record.
  open_until timestamptz NOT NULL,
  -- The step-up proof whose retry claimed it (or whose proactive request was counted with it).
  proof_id text UNIQUE REFERENCES step_up_proofs (id)
);
CREATE INDEX risk_counted_actions_open ON risk_counted_actions (wallet_id, action_key, counted_at);
