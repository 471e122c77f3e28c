// Owns a software WebAuthn authenticator for tests: ES256 (P-256) credentials, 'none' attestation, signed assertions.
// Must never be used outside tests: it keeps private keys in memory and approves whatever it is asked to.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { encodeCBOR, type CBORType } from '@levischuck/tiny-cbor';
import type {
  AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON,
} from '@simplewebauthn/server';

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;
const COSE_ALG_ES256 = -7;

interface SoftCredential {
  id: Buffer;
  privateKey: KeyObject;
  rpId: string;
  userHandle: string;
  signCount: number;
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export interface CeremonyOptions {
  /** The origin the "browser" reports; defaults to the authenticator's. */
  origin?: string;
  /** Leave out user verification (the UV flag): a key without a PIN. */
  withoutUserVerification?: boolean;
}

export class SoftAuthenticator {
  private readonly credentials = new Map<string, SoftCredential>();

  constructor(readonly origin = 'http://localhost:8080') {}

  /** What navigator.credentials.create() would return, with 'none' attestation. */
  register(options: PublicKeyCredentialCreationOptionsJSON, ceremony: CeremonyOptions = {}): RegistrationResponseJSON {
    if (!options.pubKeyCredParams.some((p) => p.alg === COSE_ALG_ES256)) throw new Error('the relying party does not accept ES256');
    const rpId = options.rp.id ?? new URL(this.origin).hostname;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const coseKey = encodeCBOR(new Map<number, number | Uint8Array>([
      [1, 2], // kty: EC2
      [3, COSE_ALG_ES256],
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]));
    const id = randomBytes(32);
    const credential: SoftCredential = { id, privateKey, rpId, userHandle: options.user.id, signCount: 0 };
    this.credentials.set(b64url(id), credential);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const authData = Buffer.concat([
      sha256(rpId), Buffer.from([FLAG_UP | FLAG_AT | (ceremony.withoutUserVerification ? 0 : FLAG_UV)]), uint32(credential.signCount),
      Buffer.alloc(16), idLength, id, Buffer.from(coseKey),
    ]);
    const clientDataJSON = this.clientData('webauthn.create', options.challenge, ceremony);
    const attestationObject = encodeCBOR(new Map<string, CBORType>([
      ['fmt', 'none'], ['attStmt', new Map<string, CBORType>()], ['authData', new Uint8Array(authData)],
    ]));
    return {
      id: b64url(id), rawId: b64url(id), type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject), transports: ['internal'] },
    };
  }

  /** What navigator.credentials.get() would return: the first allowed credential this authenticator holds signs. */
  assert(options: PublicKeyCredentialRequestOptionsJSON, ceremony: CeremonyOptions = {}): AuthenticationResponseJSON {
    const allowed = options.allowCredentials?.map((c) => c.id) ?? [...this.credentials.keys()];
    const credential = allowed.map((id) => this.credentials.get(id)).find((c) => c !== undefined);
    if (!credential) throw new Error('this authenticator holds none of the allowed credentials');
    credential.signCount += 1;
    const authData = Buffer.concat([
      sha256(options.rpId ?? credential.rpId), Buffer.from([FLAG_UP | (ceremony.withoutUserVerification ? 0 : FLAG_UV)]),
      uint32(credential.signCount),
    ]);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, ceremony);
    // ES256 signatures over authenticatorData ‖ SHA-256(clientDataJSON), DER-encoded as WebAuthn requires.
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.privateKey);
    return {
      id: b64url(credential.id), rawId: b64url(credential.id), type: 'public-key', authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON), authenticatorData: b64url(authData), signature: b64url(signature),
        userHandle: credential.userHandle,
      },
    };
  }

  /** Winds a credential's counter back, as a cloned authenticator would show. */
  setSignCount(credentialId: string, signCount: number): void {
    const credential = this.credentials.get(credentialId);
    if (!credential) throw new Error(`no credential ${credentialId}`);
    credential.signCount = signCount;
  }

  private clientData(type: string, challenge: string, ceremony: CeremonyOptions): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin: ceremony.origin ?? this.origin, crossOrigin: false }));
  }
}
