// Owns what every part of the running bank sandbox shares: its database, clock, seeded banks, keys and faults.
// Must never hold a holder's secret: those live hashed in the database (and in clear only in the seed, for admin).
import type { KeyObject } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Db } from '../../store/db.js';
import { NonceCache } from '../../banks/signing.js';
import { BankError } from './errors.js';
import type { FaultBook } from './faults.js';
import type { PayInNotices } from './pay-in-notices.js';
import type { BankSandboxSeed, SeededBank } from './seed.js';

export type SandboxApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface SandboxContext {
  db: Db;
  /** The sandbox's business clock (expiries, booking dates); signatures are always checked against real time. */
  now: () => Date;
  world: BankSandboxSeed;
  banks: ReadonlyMap<string, SeededBank>;
  /** koza's public key for each bank, and the nonces each bank has seen. */
  keys: ReadonlyMap<string, { publicKey: KeyObject; nonces: NonceCache }>;
  faults: FaultBook;
  /** The URL the sandbox is reached at (known once it listens); banks live under {publicUrl}/banks/{code}. */
  publicUrl: () => string;
  /** Keys request fingerprints and seals stored answers with a secret (link tokens); from the key seed, so it survives restarts. */
  secretKey: Buffer;
  /** Where and how the receiving bank reports pay-ins to koza (§10). */
  payInNotices: PayInNotices;
  /** Aborted on close: held (timed-out) requests stop waiting. */
  closing: AbortSignal;
}

/** What a flow at one bank needs: the bank, its issuer URL and the moment. */
export interface BankEnv {
  bank: SeededBank;
  /** The bank's base URL: its OAuth issuer (RFC 9207) and the root of its holder pages. */
  issuer: string;
  now: Date;
}

export function bankOf(ctx: SandboxContext, bankCode: string): SeededBank {
  const bank = ctx.banks.get(bankCode);
  if (!bank) throw new BankError('invalid_request', `There is no bank ${bankCode} in this sandbox.`, { status: 404 });
  return bank;
}

export function bankUrl(ctx: SandboxContext, bankCode: string): string {
  return `${ctx.publicUrl()}/banks/${bankCode}`;
}

export function bankEnv(ctx: SandboxContext, bankCode: string): BankEnv {
  return { bank: bankOf(ctx, bankCode), issuer: bankUrl(ctx, bankCode), now: ctx.now() };
}
