// Owns TOTP (RFC 6238): secrets, provisioning URIs and QR codes for authenticator apps, and code checks.
// Must never accept a code outside ±1 time step, nor the same or an older step twice; no SQL, no HTTP.
import { HOTP, Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';

/** The parameters every authenticator app supports (Google Authenticator ignores anything else). */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** ±1 step (RFC 6238 §5.2 recommends at most one step of delay): tolerates 30 s of clock drift or typing time. */
export const TOTP_WINDOW = 1;
/** 160 bits, the HMAC-SHA-1 block the RFC 4226 §4 recommends as the minimum secret length. */
export const TOTP_SECRET_BYTES = 20;
export const TOTP_ISSUER = 'koza';

export const TOTP_CODE_PATTERN = '^[0-9]{6}$';

export function newTotpSecret(): string {
  return new Secret({ size: TOTP_SECRET_BYTES }).base32;
}

function totpFor(secretBase32: string, account: string): TOTP {
  return new TOTP({
    issuer: TOTP_ISSUER, label: account, algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS,
    secret: Secret.fromBase32(secretBase32),
  });
}

/** The otpauth:// URI an authenticator app reads from the QR code (issuer koza, account = the e-mail). */
export function totpProvisioningUri(secretBase32: string, account: string): string {
  return totpFor(secretBase32, account).toString();
}

/** The URI as an SVG QR code, drawn offline: the secret never goes to a third-party QR service. */
export function qrCodeSvg(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

export function totpStep(nowMs: number): number {
  return TOTP.counter({ period: TOTP_PERIOD_SECONDS, timestamp: nowMs });
}

/** The code an authenticator app shows at nowMs (tests and the sandbox use it; the API never returns one). */
export function totpCodeAt(secretBase32: string, nowMs: number): string {
  return TOTP.generate({ secret: Secret.fromBase32(secretBase32), digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, timestamp: nowMs });
}

export type TotpCheck = { ok: true; step: number } | { ok: false; reason: 'wrong' | 'replayed' };

/**
 * Checks a code at time nowMs against the steps now−1, now, now+1. The step must be newer than the last
 * one accepted: a code seen over a shoulder, or replayed by malware, is worth nothing once used.
 */
export function checkTotpCode(input: { secretBase32: string; code: string; nowMs: number; lastUsedStep: number | null }): TotpCheck {
  if (!new RegExp(TOTP_CODE_PATTERN).test(input.code)) return { ok: false, reason: 'wrong' };
  const secret = Secret.fromBase32(input.secretBase32);
  const current = totpStep(input.nowMs);
  let replayed = false;
  for (let step = current - TOTP_WINDOW; step <= current + TOTP_WINDOW; step++) {
    // HOTP.validate compares in constant time; window 0 checks exactly this step.
    if (HOTP.validate({ token: input.code, secret, digits: TOTP_DIGITS, counter: step, window: 0 }) === null) continue;
    if (input.lastUsedStep !== null && step <= input.lastUsedStep) {
      replayed = true;
      continue;
    }
    return { ok: true, step };
  }
  return { ok: false, reason: replayed ? 'replayed' : 'wrong' };
}
