-- Protocol v2 (docs/bank-protocol.md "Changes in v2"): a pin_otp/pin_only link start answers the same whatever the
-- account and PIN, so the PIN's verdict is kept on the request, privately, and judged with the one-time code at
-- completion. Nothing here is ever returned to the caller.

-- right: the account exists, is open, and the PIN is its PIN; wrong: it exists and the PIN is not; no_account: no
-- such open account (a closed one is the same). NULL for redirect requests, where the holder signs in at the bank.
ALTER TABLE link_requests ADD COLUMN pin_verdict text CHECK (pin_verdict IN ('right', 'wrong', 'no_account'));
-- Completion tries on this request, whatever was wrong: the request fails at the fifth, for a wrong PIN as for a
-- wrong code, so that "the request failed" never tells one from the other.
ALTER TABLE link_requests ADD COLUMN tries integer NOT NULL DEFAULT 0 CHECK (tries BETWEEN 0 AND 5);
-- A wrong PIN counts one failure against the account per request (not per try): set once it has been counted.
ALTER TABLE link_requests ADD COLUMN pin_failure_counted boolean NOT NULL DEFAULT false;
-- Under v1 a pin request was only created for a right PIN.
UPDATE link_requests SET pin_verdict = 'right' WHERE method <> 'redirect';
ALTER TABLE link_requests ADD CONSTRAINT link_requests_pin_verdict_for_pin_methods
  CHECK ((method = 'redirect') = (pin_verdict IS NULL));
