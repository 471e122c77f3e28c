-- Review holds (SPEC §7, issue 5): a charge or withdrawal the risk engine sends to review is not refused; it is
-- held — its pending transfer made (a charge's money is not spendable, a withdrawal's is set aside), the bank not
-- asked — until an analyst releases it (then the bank is asked as for any charge) or rejects it (the pending
-- transfer is voided). The reconciler never touches a held movement: no bank call was made for it.
ALTER TABLE bank_movements DROP CONSTRAINT bank_movements_status_check;
ALTER TABLE bank_movements ADD CONSTRAINT bank_movements_status_check
  CHECK (status IN ('held', 'requested', 'unknown', 'posted', 'voided'));
-- The decision that held it (and whose alert the analyst works).
ALTER TABLE bank_movements ADD COLUMN risk_decision_id text REFERENCES risk_decisions (id);
CREATE INDEX bank_movements_held ON bank_movements (created_at) WHERE status = 'held';

-- How an analyst closed an alert that held money: released (the movement went on) or rejected (voided).
ALTER TABLE risk_alerts ADD COLUMN resolution text CHECK (resolution IN ('released', 'rejected'));
ALTER TABLE risk_alerts ADD COLUMN note text CHECK (char_length(note) <= 1000);
ALTER TABLE risk_alerts ADD CONSTRAINT risk_alerts_resolution_acknowledged CHECK (resolution IS NULL OR status = 'acknowledged');
