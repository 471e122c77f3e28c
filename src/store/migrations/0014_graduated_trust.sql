-- Graduated trust of bank links (issue 10): the holder's confirmation of a link on a channel the phone alone cannot
-- reach, the bank's phone match, notices to the holder on channels an attacker does not hold, and alerts that allow.

-- What the bank said at link completion and since (GET /links/{token}): confirmed at creation for redirect; a pin_otp
-- or pin_only link is confirmed when the holder taps the bank's e-mail or signs in to the bank.
ALTER TABLE bank_links ADD COLUMN holder_confirmed_at timestamptz;
ALTER TABLE bank_links ADD COLUMN holder_confirmed_via text CHECK (holder_confirmed_via IN ('bank_sign_in', 'email'));
-- Whether the wallet's verified phone is the one the bank holds for the account; null when not compared.
ALTER TABLE bank_links ADD COLUMN phone_matches boolean;
-- When koza last asked the bank for the link's state (at most once per charge that needs it, and by settleLinks).
ALTER TABLE bank_links ADD COLUMN bank_state_checked_at timestamptz;
-- Trust is counted per bank account (re-linking resets nothing): the account's links are found by this index.
CREATE INDEX bank_links_by_account_created ON bank_links (bank_code, account_ref, created_at);

-- The holder's notice of a charge (first charge, every large charge) through the bank's inbox and e-mail: a follow-up
-- step after the charge posts, never failing it; retried by settleLinks / the reconciler while notice_sent_at is null.
ALTER TABLE bank_movements ADD COLUMN holder_notice_kind text CHECK (holder_notice_kind IN ('first_charge', 'large_charge'));
ALTER TABLE bank_movements ADD COLUMN holder_notice_channels text[];
ALTER TABLE bank_movements ADD COLUMN holder_notice_sent_at timestamptz;
CREATE INDEX bank_movements_notice_due ON bank_movements (created_at)
  WHERE holder_notice_kind IS NOT NULL AND holder_notice_sent_at IS NULL;
-- The same for the link_created notice: the channels the bank used.
ALTER TABLE bank_links ADD COLUMN holder_notice_channels text[];

-- "Allow but alert": a rule with `alert: true` opens an alert for analysts without refusing (docs/risk-rules.md).
ALTER TABLE risk_alerts DROP CONSTRAINT risk_alerts_kind_check;
ALTER TABLE risk_alerts ADD CONSTRAINT risk_alerts_kind_check CHECK (kind IN ('review', 'deny', 'alert'));
