-- A step-up for a wallet that has no second factor yet (issue 11: never strand an honest customer): a money action it
-- meets is approved with a code e-mailed for that one challenge. The code is kept hashed on the challenge itself, so its
-- five tries are the challenge's five tries and it can approve nothing else.
ALTER TABLE step_up_challenges ADD COLUMN email_code_hash text;
ALTER TABLE step_up_challenges DROP CONSTRAINT step_up_challenges_approved_with_check;
ALTER TABLE step_up_challenges ADD CONSTRAINT step_up_challenges_approved_with_check
  CHECK (approved_with IN ('totp', 'passkey', 'recovery_code', 'email_code'));
