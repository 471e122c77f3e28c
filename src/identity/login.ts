// Owns signing in: throttle, check the password, record the attempt and the device, notify a new device,
// and open a session bound to it (SPEC §3).
// Must never say which of e-mail and password was wrong, nor let throttling become a permanent lock-out.
import type { Queryable } from '../store/db.js';
import { checkCredentials, normalizeEmail } from '../wallets/wallets.js';
import { assertLoginAllowed, recordLoginAttempt } from './login-throttle.js';
import { touchDevice, type ClientInfo } from './devices.js';
import { createSession, type IssuedSession, type SessionPolicy } from './sessions.js';
import { sendMessage } from './outbox.js';
import { recordRiskSignal } from '../risk/signals.js';
import { KozaError } from '../errors.js';

export async function logIn(
  q: Queryable, policy: SessionPolicy, input: { email: string; password: string }, client: ClientInfo,
  /** Asked once the password is right and the device recorded, before a session exists (the risk hook; may throw). */
  beforeSession?: (walletId: string) => Promise<void>,
): Promise<IssuedSession & { walletId: string; newDevice: boolean }> {
  const email = normalizeEmail(input.email);
  await assertLoginAllowed(q, email, client.ip);
  let wallet;
  try {
    wallet = await checkCredentials(q, input);
  } catch (err) {
    if (err instanceof KozaError && err.status === 401) await recordLoginAttempt(q, email, client.ip, false);
    throw err;
  }
  await recordLoginAttempt(q, email, client.ip, true);
  const device = await touchDevice(q, wallet.id, client);
  if (beforeSession) await beforeSession(wallet.id);
  const session = await createSession(q, policy, wallet.id, { ip: client.ip, userAgent: client.userAgent });
  await q.query('UPDATE sessions SET device_id = $2 WHERE id = $1', [session.sessionId, device.deviceId]);
  // The first device is the sign-up itself; every later new one is news the owner must hear at once.
  if (device.isNew && device.knownDevices > 1) {
    await sendMessage(q, {
      channel: 'email', recipient: normalizeEmail(wallet.email), subject: 'New sign-in to your koza wallet',
      body: `Your wallet was signed in from a new device (${client.userAgent ?? 'unknown browser'}, address ${client.ip}) `
        + `at ${new Date().toISOString()}. If this was not you, sign out everywhere and change your password now.`,
    });
    await recordRiskSignal(q, { walletId: wallet.id, kind: 'new_device_login', detail: { device_id: device.deviceId, ip: client.ip } });
  }
  return { ...session, walletId: wallet.id, newDevice: device.isNew };
}
