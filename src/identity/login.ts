// Owns signing in (SPEC §3): throttle (reserve, then check), the password, a second proof when the device is new to a
// wallet with a factor or a rule asks for one, then the device, the new-device notice and a session bound to it.
// Must never say which of e-mail and password was wrong, open a session before a required second proof passed, mark a
// device seen before that, nor let throttling become a permanent lock-out.
import type { Queryable } from '../store/db.js';
import { checkCredentials, getWallet, normalizeEmail } from '../wallets/wallets.js';
import { recordLoginAttempt, reserveLoginAttempt } from './login-throttle.js';
import { deviceKeyOf, touchDevice, type ClientInfo } from './devices.js';
import { createSession, type IssuedSession, type SessionPolicy } from './sessions.js';
import { sendMessage } from './outbox.js';
import { keyedHash } from './secrets.js';
import { recordRiskSignal } from '../risk/signals.js';
import type { RiskDecision } from '../risk/hook.js';
import { KozaError } from '../errors.js';
import { listActiveFactors } from './factors/store.js';
import type { VerifyEnv } from './factors/verify.js';
import {
  answerLoginChallenge, loadLoginChallengeForAnswer, markLoginChallengeSession, openLoginChallenge,
  type IssuedLoginChallenge, type LoginAnswer,
} from './login-challenge.js';
import { formatJst } from '../display.js';

export interface LoginEnv extends VerifyEnv {
  policy: SessionPolicy;
  /** A wallet with a factor needs it from an unseen device (secure); legacy-2020 replays the 2020 wallet, which did not. */
  factorAtNewDevice: boolean;
}

/** What signing in tells the risk engine (SPEC §7: failed sign-ins are events too, as link PIN failures are). */
export interface LoginRisk {
  /** A failed try (wrong password, wrong second proof): recorded, never enforced — the try has already failed. */
  failed(input: { walletId: string | null; accountKey: string; failure: 'password' | 'second_factor' }): Promise<void>;
  /** A right password: the hook's decision; it may refuse by throwing. `challenge` asks for a second proof. */
  decide(input: { walletId: string; accountKey: string; newDevice: boolean }): Promise<RiskDecision>;
}

export type LoginOutcome =
  | { kind: 'session'; session: IssuedSession; walletId: string; newDevice: boolean }
  | { kind: 'second_factor_required'; challenge: IssuedLoginChallenge };

/**
 * The account a sign-in names, as the risk counters key it: a keyed hash of the normalised e-mail, so an e-mail that
 * has no wallet counts too (spraying tries names that do not exist) and no counter holds an address in clear.
 */
export function loginAccountKey(secretKey: Buffer, email: string): string {
  return keyedHash(secretKey, 'login-account', email).slice(0, 32);
}

async function walletIdByEmail(q: Queryable, email: string): Promise<string | null> {
  const res = await q.query<{ id: string }>('SELECT id FROM wallets WHERE email_normalized = $1', [email]);
  return res.rows[0]?.id ?? null;
}

async function isKnownDevice(q: Queryable, walletId: string, client: ClientInfo): Promise<boolean> {
  const res = await q.query('SELECT 1 FROM devices WHERE wallet_id = $1 AND device_key = $2', [walletId, deviceKeyOf(client)]);
  return res.rows.length > 0;
}

export async function logIn(
  q: Queryable, env: LoginEnv, input: { email: string; password: string }, client: ClientInfo, risk: LoginRisk,
): Promise<LoginOutcome> {
  const email = normalizeEmail(input.email);
  const accountKey = loginAccountKey(env.secretKey, email);
  await reserveLoginAttempt(q, email, client.ip, deviceKeyOf(client));
  let wallet;
  try {
    wallet = await checkCredentials(q, input);
  } catch (err) {
    if (err instanceof KozaError && err.status === 401) {
      await recordLoginAttempt(q, email, client.ip, false);
      await risk.failed({ walletId: await walletIdByEmail(q, email), accountKey, failure: 'password' });
    }
    throw err;
  }
  await recordLoginAttempt(q, email, client.ip, true);
  const knownDevice = await isKnownDevice(q, wallet.id, client);
  const hasFactor = env.factorAtNewDevice && (await listActiveFactors(q, wallet.id)).length > 0;
  const decision = await risk.decide({ walletId: wallet.id, accountKey, newDevice: !knownDevice });
  // AAL2 where it matters: a password alone opens a wallet that has a factor only on a device it already knows. A rule
  // asking for a challenge or a review gets a second proof too: the owner passes it, and a review's alert stays open.
  if ((hasFactor && !knownDevice) || decision.action === 'challenge' || decision.action === 'review') {
    const challenge = await openLoginChallenge(q, env, {
      walletId: wallet.id, email, reason: hasFactor && !knownDevice ? 'new_device' : 'risk', client,
    });
    return { kind: 'second_factor_required', challenge };
  }
  return { kind: 'session', ...(await openSignedInSession(q, env.policy, wallet.id, email, client)) };
}

/** The second step: a right answer opens the session on the device that gave the password, which is now seen. */
export async function completeLogin(
  q: Queryable, env: LoginEnv, input: { loginChallenge: string; answer: LoginAnswer }, requestIp: string, risk: LoginRisk,
): Promise<{ session: IssuedSession; walletId: string; newDevice: boolean }> {
  const challenge = await loadLoginChallengeForAnswer(q, input.loginChallenge, env.now);
  const wallet = await getWallet(q, challenge.walletId);
  const email = normalizeEmail(wallet.email);
  await answerLoginChallenge(q, env, challenge, input.answer, () =>
    risk.failed({ walletId: wallet.id, accountKey: loginAccountKey(env.secretKey, email), failure: 'second_factor' }));
  const opened = await openSignedInSession(q, env.policy, wallet.id, email, { ...challenge.client, ip: requestIp });
  await markLoginChallengeSession(q, challenge.id, opened.session.sessionId);
  return opened;
}

/** Records the device, opens the session bound to it and tells the owner of a device new to the wallet. */
async function openSignedInSession(
  q: Queryable, policy: SessionPolicy, walletId: string, email: string, client: ClientInfo,
): Promise<{ session: IssuedSession; walletId: string; newDevice: boolean }> {
  const device = await touchDevice(q, walletId, client);
  const session = await createSession(q, policy, walletId, { ip: client.ip, userAgent: client.userAgent });
  await q.query('UPDATE sessions SET device_id = $2 WHERE id = $1', [session.sessionId, device.deviceId]);
  // The first device is the sign-up itself; every later new one is news the owner must hear at once.
  if (device.isNew && device.knownDevices > 1) {
    await sendMessage(q, {
      channel: 'email', recipient: email, subject: 'New sign-in to your koza wallet',
      body: `Your wallet was signed in from a new device (${client.userAgent ?? 'unknown browser'}, address ${client.ip}) `
        + `at ${formatJst(new Date())}. If this was not you, sign out everywhere and change your password now.`,
    });
    await recordRiskSignal(q, { walletId, kind: 'new_device_login', detail: { device_id: device.deviceId, ip: client.ip } });
  }
  return { session, walletId, newDevice: device.isNew };
}
