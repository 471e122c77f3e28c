// Owns passkeys (WebAuthn Level 3) through @simplewebauthn/server: ceremony options and response verification.
// Must never accept a response for another relying party, origin or challenge, nor a counter that went backwards.
import { randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';

export interface RelyingParty {
  id: string;
  name: string;
  origins: string[];
}

/** EdDSA, ES256, RS256: what platform authenticators and security keys offer today, fixed so a library update cannot widen it. */
export const PASSKEY_ALGORITHMS = [-8, -7, -257];
/** Five minutes for the person to find the key or unlock the phone (the WebAuthn spec suggests 5–10 min with UV). */
export const PASSKEY_CEREMONY_SECONDS = 300;

/**
 * User verification (PIN, fingerprint, face) is required: a passkey then proves possession and inherence or
 * knowledge by itself, and a stolen unlocked security key is not enough to approve a payment.
 */
const USER_VERIFICATION = 'required' as const;

export function newCeremonyChallenge(): string {
  return randomBytes(32).toString('base64url');
}

function challengeBytes(challenge: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(challenge, 'base64url'));
}

export interface StoredPasskey {
  credentialId: string;
  publicKey: Uint8Array;
  signCount: number;
  transports: string[];
}

export function passkeyRegistrationOptions(rp: RelyingParty, input: {
  walletId: string; account: string; challenge: string; existing: StoredPasskey[];
}): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: rp.name, rpID: rp.id, userName: input.account, userDisplayName: input.account,
    // The user handle is the wallet id: stable, not personal data, and what a discoverable credential hands back.
    userID: new Uint8Array(Buffer.from(input.walletId, 'utf8')),
    challenge: challengeBytes(input.challenge),
    timeout: PASSKEY_CEREMONY_SECONDS * 1000,
    attestationType: 'none',
    excludeCredentials: input.existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: USER_VERIFICATION },
    supportedAlgorithmIDs: PASSKEY_ALGORITHMS,
  });
}

export interface RegisteredPasskey {
  credentialId: string;
  publicKey: Uint8Array;
  signCount: number;
  transports: string[];
  aaguid: string;
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
}

/** Null when the response does not verify (wrong challenge, origin, rp id, signature, flags or format). */
export async function verifyPasskeyRegistration(rp: RelyingParty, input: {
  response: RegistrationResponseJSON; expectedChallenge: string;
}): Promise<RegisteredPasskey | null> {
  try {
    const result = await verifyRegistrationResponse({
      response: input.response, expectedChallenge: input.expectedChallenge, expectedOrigin: rp.origins,
      expectedRPID: rp.id, requireUserVerification: true, supportedAlgorithmIDs: PASSKEY_ALGORITHMS,
    });
    if (!result.verified) return null;
    const info = result.registrationInfo;
    return {
      credentialId: info.credential.id, publicKey: info.credential.publicKey, signCount: info.credential.counter,
      transports: input.response.response.transports ?? [], aaguid: info.aaguid,
      deviceType: info.credentialDeviceType, backedUp: info.credentialBackedUp,
    };
  } catch {
    // The library throws on malformed input as well as on failed checks; for the customer both are a refusal.
    return null;
  }
}

export function passkeyRequestOptions(rp: RelyingParty, input: {
  challenge: string; allowed: StoredPasskey[];
}): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: rp.id, challenge: challengeBytes(input.challenge), timeout: PASSKEY_CEREMONY_SECONDS * 1000,
    userVerification: USER_VERIFICATION,
    allowCredentials: input.allowed.map((p) => ({ id: p.credentialId, transports: p.transports })),
  });
}

/** The new signature counter, or null when the assertion does not verify (a clone's stale counter included). */
export async function verifyPasskeyAssertion(rp: RelyingParty, input: {
  response: AuthenticationResponseJSON; expectedChallenge: string; passkey: StoredPasskey;
}): Promise<{ newSignCount: number } | null> {
  try {
    const result = await verifyAuthenticationResponse({
      response: input.response, expectedChallenge: input.expectedChallenge, expectedOrigin: rp.origins,
      expectedRPID: rp.id, requireUserVerification: true,
      credential: {
        id: input.passkey.credentialId, publicKey: new Uint8Array(input.passkey.publicKey),
        counter: input.passkey.signCount, transports: input.passkey.transports,
      },
    });
    return result.verified ? { newSignCount: result.authenticationInfo.newCounter } : null;
  } catch {
    return null;
  }
}
