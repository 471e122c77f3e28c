-- A PIN+text link whose holder has not confirmed it while it moves money is looked at by the sweep (settleLinks), not
-- only at the next charge: an honest holder taps the bank's e-mail in minutes, a SIM-swapper never can, and the alert
-- must reach an analyst before the second day's charge. The sweep asks the risk engine with event `link_unconfirmed`.
ALTER TABLE risk_decisions DROP CONSTRAINT risk_decisions_event_kind_check;
ALTER TABLE risk_decisions ADD CONSTRAINT risk_decisions_event_kind_check CHECK (event_kind IN ('signup', 'login',
  'factor_change', 'kyc_submit', 'link_start', 'link_complete', 'charge', 'payment', 'withdrawal', 'profile_change',
  'link_unconfirmed'));
-- When the sweep's decision on the link opened an alert: asked once more each hour until then, never after.
ALTER TABLE bank_links ADD COLUMN unconfirmed_alerted_at timestamptz;
