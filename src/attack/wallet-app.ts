// Owns what the wallet app does for a simulated person, over koza's HTTP API: open a wallet (the e-mail code read from
// the person's mailbox, the sandbox outbox), verify a phone, submit eKYC, enrol an authenticator, approve step-ups.
// Must never decide what a person tries next: customers and the attacker choose; this only carries out one step.
import { Authenticator, problemCode, type Answer, type SimDevice } from './client.js';

export interface SandboxPerson {
  index: number; name_kanji: string; name_kana: string; date_of_birth: string;
  address: { prefecture: string; city: string; street: string };
  document_type: 'drivers_licence' | 'my_number_card'; document_number: string; phone: string; behaviour: string;
}

export interface SimWallet {
  walletId: string;
  email: string;
  token: string;
  /** The device the wallet is used from now (an attacker moves wallets between devices). */
  device: SimDevice;
  level: 'L0' | 'L1' | 'L2';
  authenticator: Authenticator | null;
}

export const SIM_PASSWORD = 'a long simulated passphrase';

/** A failed step: the answer koza gave, for the caller to adapt to. */
export class StepFailed extends Error {
  constructor(readonly step: string, readonly answer: Answer) {
    super(`${step}: ${answer.status} ${problemCode(answer) || answer.text.slice(0, 200)}`);
  }
}

function expect(step: string, answer: Answer, status: number): Record<string, any> {
  if (answer.status !== status) throw new StepFailed(step, answer);
  return answer.json;
}

/** The newest message to a recipient in the development outbox whose body matches; the sandbox stands in for mail and SMS. */
async function readCode(device: SimDevice, recipient: string, pattern: RegExp, subject?: string): Promise<string | null> {
  const page = await device.get(`/v1/sandbox/outbox?recipient=${encodeURIComponent(recipient)}&limit=5`);
  for (const message of (page.json.data ?? []) as Array<{ subject: string; body: string }>) {
    if (subject !== undefined && message.subject !== subject) continue;
    const match = pattern.exec(message.body);
    if (match) return match[1]!;
  }
  return null;
}

/** Sign-up, the e-mail code, sign-in: an L0 wallet. Throws StepFailed with koza's answer (a refused sign-up). */
export async function openWallet(device: SimDevice, email: string, password = SIM_PASSWORD): Promise<SimWallet> {
  expect('signup', await device.post('/v1/signup', { email, password }), 202);
  const code = await readCode(device, email, /\b(\d{6})\b/, 'Your koza verification code');
  if (!code) throw new Error(`no verification code reached ${email}`);
  const wallet = expect('signup verify', await device.post('/v1/signup/verify', { email, code }), 200);
  const session = expect('sign-in', await device.post('/v1/sessions', { email, password }), 201);
  return { walletId: String(wallet.id), email, token: String(session.token), device, level: 'L0', authenticator: null };
}

/** L1: the SMS code to a phone the person holds. Throws StepFailed when koza refuses (number taken, SMS limits). */
export async function verifyPhone(wallet: SimWallet, phone: string): Promise<void> {
  expect('phone', await wallet.device.post('/v1/phone', { phone }, wallet.token), 202);
  const code = await readCode(wallet.device, phone, /koza code: (\d{6})/);
  if (!code) throw new Error(`no SMS code reached ${phone}`);
  const verified = expect('phone verify', await wallet.device.post('/v1/phone/verify', { code }, wallet.token), 200);
  wallet.token = String(verified.session.token);
  if (wallet.level === 'L0') wallet.level = 'L1';
}

export interface IdentityClaim {
  document_type: 'drivers_licence' | 'my_number_card';
  document_number: string;
  name_kanji: string;
  name_kana: string;
  date_of_birth: string;
  address: { prefecture: string; city: string; street: string };
}

export function claimOf(person: SandboxPerson): IdentityClaim {
  return {
    document_type: person.document_type, document_number: person.document_number, name_kanji: person.name_kanji,
    name_kana: person.name_kana, date_of_birth: person.date_of_birth, address: { ...person.address },
  };
}

/** eKYC: true when the provider verified the claim (the wallet is L2 now), false when it did not. */
export async function verifyIdentity(wallet: SimWallet, claim: IdentityClaim): Promise<boolean> {
  const answer = await wallet.device.post('/v1/identity/verifications', { ...claim, selfie_token: 'live-selfie' }, wallet.token);
  if (answer.status !== 201) return false;
  if (answer.json.session?.token) wallet.token = String(answer.json.session.token);
  if (answer.json.assurance_level === 'L2') {
    wallet.level = 'L2';
    return true;
  }
  return false;
}

/** Enrols an authenticator app (TOTP); koza rotates the session. */
export async function enrolTotp(wallet: SimWallet): Promise<Authenticator> {
  const started = expect('totp enrol', await wallet.device.post('/v1/factors/totp', {}, wallet.token), 201);
  const probe = new Authenticator(String(started.secret));
  const enrolled = expect('totp confirm', await wallet.device.post(`/v1/factors/totp/${started.factor.id}/confirm`,
    { code: probe.totp() }, wallet.token), 200);
  wallet.token = String(enrolled.session.token);
  const authenticator = new Authenticator(String(started.secret), (enrolled.recovery_codes ?? []) as string[]);
  authenticator.totp();
  wallet.authenticator = authenticator;
  return authenticator;
}

/** A step-up proof for this binding, approved with the wallet's own authenticator; null when it has none left. */
export async function stepUpProof(wallet: SimWallet, binding: { action: string; destination?: string; amount?: number }): Promise<string | null> {
  if (!wallet.authenticator) return null;
  const created = await wallet.device.post('/v1/step-up/challenges', binding, wallet.token);
  if (created.status !== 201) return null;
  const approval = wallet.authenticator.approval();
  if (!approval) return null;
  const approved = await wallet.device.post(`/v1/step-up/challenges/${created.json.challenge.id}/approve`, approval, wallet.token);
  return approved.status === 201 ? String(approved.json.proof) : null;
}

/** The link methods koza offers at each bank under its policy, and the policy's name. */
export async function bankDirectory(device: SimDevice): Promise<{ policy: string; methods: Map<string, string[]> }> {
  const answer = await device.get('/v1/banks');
  const data = (answer.json.data ?? []) as Array<{ bank_code: string; link_methods: string[] }>;
  return { policy: String(answer.json.policy), methods: new Map(data.map((b) => [b.bank_code, b.link_methods])) };
}

/**
 * Signs in again (a session expired while the simulated days went by). A sign-in that asks for the second factor
 * (202 second_factor_required, issue 10) is completed with the wallet's own authenticator when it has one. Returns
 * the answer that ended it: 201 with wallet.token renewed, or the refusal.
 */
export async function signInAgain(wallet: SimWallet, password = SIM_PASSWORD): Promise<Answer> {
  const answer = await wallet.device.post('/v1/sessions', { email: wallet.email, password });
  if (answer.status === 201) {
    wallet.token = String(answer.json.token);
    return answer;
  }
  if (answer.status === 202 && answer.json.status === 'second_factor_required') {
    const code = wallet.authenticator?.totp();
    if (!code) return answer;
    const done = await wallet.device.post('/v1/sessions/second-factor', { login_challenge: answer.json.login_challenge, code });
    if (done.status === 201) wallet.token = String(done.json.token);
    return done;
  }
  return answer;
}

/**
 * Answers a sign-in's second-proof request (202 second_factor_required) as its owner: with the wallet's authenticator
 * (a code, or a recovery code when this time step's code is used) when it has one, else with the code koza e-mailed
 * (a risk rule may ask it of a wallet without a factor). Returns the answer that ended it; 201 renews wallet.token.
 */
export async function answerSignInChallenge(device: SimDevice, email: string, challenge: Answer,
  authenticator: Authenticator | null): Promise<Answer> {
  const methods = (challenge.json.methods ?? []) as string[];
  let code: string | null = null;
  if (authenticator && !methods.every((m) => m === 'email_code')) code = authenticator.approval()?.code ?? null;
  else if (methods.includes('email_code')) code = await readCode(device, email, /enter (\d{6}) to finish/, 'Your koza sign-in code');
  if (!code) return challenge;
  return device.post('/v1/sessions/second-factor', { login_challenge: challenge.json.login_challenge, code });
}

/** A POST as the wallet; after a 401 (the session expired) it signs in again once and retries. */
export async function postAs(wallet: SimWallet, path: string, body: unknown, password = SIM_PASSWORD): Promise<Answer> {
  const answer = await wallet.device.post(path, body, wallet.token);
  if (answer.status !== 401) return answer;
  const again = await signInAgain(wallet, password);
  return again.status === 201 ? wallet.device.post(path, body, wallet.token) : answer;
}

/** A GET as the wallet, signing in again after a 401. */
export async function getAs(wallet: SimWallet, path: string, password = SIM_PASSWORD): Promise<Answer> {
  const answer = await wallet.device.get(path, wallet.token);
  if (answer.status !== 401) return answer;
  const again = await signInAgain(wallet, password);
  return again.status === 201 ? wallet.device.get(path, wallet.token) : answer;
}
