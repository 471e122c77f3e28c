// Owns the phone verification routes (level L1).
// Must never send a code for a wallet that is not signed in, nor answer differently for a known number.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { gateOnRisk } from '../risk-gate.js';
import { clientInfo, requireSession, sessionPolicy } from '../context.js';
import { riskDeviceKey } from '../../risk/device-key.js';
import { runIdempotent } from '../idempotency.js';
import { IdempotencyHeaders, problems, RotatedSession } from '../schemas.js';
import { confirmPhone, startPhoneVerification } from '../../identity/phone.js';
import { sandboxSmsSender } from '../../identity/sms.js';
import { rotateSession } from '../../identity/sessions.js';
import { getWallet } from '../../wallets/wallets.js';
import type { ContactChangeHold } from '../../identity/contact-change.js';
import { stepUpProofField } from './factors.js';

export function contactChangeHold(ctx: Ctx): ContactChangeHold {
  return { capYen: ctx.config.contactChangeMoneyOutCap, holdHours: ctx.config.contactChangeHoldHours };
}

export function registerPhoneRoutes(app: App, ctx: Ctx): void {
  app.post('/v1/phone', {
    schema: {
      tags: ['identity'], summary: 'Send an SMS code to a Japanese mobile number to verify it (toward level L1)',
      description: 'Codes: 6 digits, valid 5 minutes, single use, 5 wrong tries lock the code. At most 3 codes per '
        + 'number per 15 minutes and 10 per day, 5 per wallet an hour and 10 a day, 10 per device (X-Device-Id) an hour; '
        + 'a refusal is a 429 with Retry-After, `retry_after_s`, `retry_at` and the time in JST. Codes per network '
        + 'address refuse nobody (carrier NAT): KOZA_PHONE_CODES_PER_IP_PER_HOUR (default 500) in an hour alerts analysts. '
        + 'Replacing a verified number is a phone change: once the wallet has a second factor it needs step_up_proof '
        + '(action phone_change); when the new number is verified the old number (SMS) and the e-mail address are told, '
        + 'and payments plus withdrawals are capped (KOZA_CONTACT_CHANGE_MONEY_OUT_CAP a rolling 24 h, default ¥10,000) '
        + 'for KOZA_CONTACT_CHANGE_HOLD_HOURS (default 72).',
      security: [{ session: [] }],
      headers: IdempotencyHeaders,
      body: Type.Object({
        phone: Type.String({ minLength: 10, maxLength: 32, examples: ['090-1234-5678'] }),
        step_up_proof: Type.Optional(stepUpProofField('A phone change on a wallet with a factor: a proof for action phone_change.')),
      }, { additionalProperties: false }),
      response: {
        202: Type.Object({ status: Type.Literal('code_sent'), phone: Type.String(), expires_in_seconds: Type.Integer() }),
        ...problems(400, 401, 403, 413, 415, 422, 423, 429),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, async (tx) => {
      const sent = await startPhoneVerification(tx, ctx.config.secretKey, sandboxSmsSender,
        { walletId: session.walletId, phone: request.body.phone, ip: request.ip, deviceKey: riskDeviceKey(clientInfo(request)),
          codesPerIpPerHour: ctx.config.phoneCodesPerIpPerHour,
          stepUpProof: request.body.step_up_proof });
      return { status: 202, body: { status: 'code_sent', phone: sent.phone, expires_in_seconds: sent.expiresInSeconds } };
    });
  });

  app.post('/v1/phone/verify', {
    schema: {
      tags: ['identity'], summary: 'Confirm the SMS code; the wallet reaches level L1 and the session is rotated',
      security: [{ session: [] }],
      headers: IdempotencyHeaders,
      body: Type.Object({ code: Type.String({ pattern: '^[0-9]{6}$' }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ phone: Type.String(), assurance_level: Type.String(), session: RotatedSession }),
        ...problems(400, 401, 403, 409, 413, 415, 422, 423, 429),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId, sensitive: true }, async (tx) => {
      // The number becomes the wallet's: a profile change the risk engine decides (a takeover moves the phone first).
      await gateOnRisk(ctx, request, tx, { kind: 'profile_change', walletId: session.walletId, attributes: { change: 'phone' } });
      const { phone } = await confirmPhone(tx, ctx.config.secretKey, {
        walletId: session.walletId, code: request.body.code, sms: sandboxSmsSender, hold: contactChangeHold(ctx),
      });
      const rotated = await rotateSession(tx, sessionPolicy(ctx), session.sessionId);
      const wallet = await getWallet(tx, session.walletId);
      return {
        status: 200,
        body: {
          phone, assurance_level: wallet.assuranceLevel,
          session: { session_id: rotated.sessionId, token: rotated.token, expires_at: rotated.expiresAt.toISOString() },
        },
      };
    });
  });
}
