-- Protocol v2 (issue 10, "no oracles"): a pin_otp link start no longer tells whether the PIN was right, nor where the
-- bank texted its code; the PIN and the code are judged together when the customer completes the link.

-- The bank no longer names the phone it texted (v2): koza keeps nothing of the holder's phone.
ALTER TABLE link_requests DROP COLUMN otp_sent_to;

-- Completions of this request the bank refused (wrong PIN or wrong code, the bank does not say which), and the last
-- one's time. The bank counts a wrong PIN once per request, so koza counts requests with a failure per typed account
-- across every wallet and stops asking the bank well before its lock (src/banks/link-try-budget.ts).
ALTER TABLE link_requests ADD COLUMN credential_failures integer NOT NULL DEFAULT 0 CHECK (credential_failures >= 0);
ALTER TABLE link_requests ADD COLUMN last_credential_failure_at timestamptz;
-- The bank accepted the PIN and the code (it answered with a link): as at the bank, earlier failures stop counting.
ALTER TABLE link_requests ADD COLUMN credentials_accepted_at timestamptz;
