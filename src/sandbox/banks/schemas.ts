// Owns the JSON schemas of the partner-bank protocol v2 as the sandbox serves it: they validate every request and make
// the sandbox's OpenAPI document. Must never drift from banks/protocol.ts: the type checks at the end hold them together.
import { Type, type Static, type TSchema } from 'typebox';
import type {
  BankProblem, DirectoryEntry, LinkCompleteBody, LinkCompleted, LinkRequestBody, LinkRequestCreated, LinkState, Statement, TransferBody,
  TransferResult, HolderNotificationBody, HolderNotified, IncomingTransferNotice, ReturnBody, ReturnResult,
} from '../../banks/protocol.js';

export const BankCode = Type.String({ pattern: '^[0-9]{4}$', description: 'Zengin bank code, 4 digits.', examples: ['0001'] });
export const BranchCode = Type.String({ pattern: '^[0-9]{3}$', description: 'Branch code, 3 digits.' });
export const AccountNumber = Type.String({ pattern: '^[0-9]{7}$', description: 'Account number, 7 digits.' });
const HolderChannelSchema = Type.Union([Type.Literal('inbox'), Type.Literal('email'), Type.Literal('sms')]);
const LinkMethodSchema = Type.Union([Type.Literal('redirect'), Type.Literal('pin_otp'), Type.Literal('pin_only')]);
const IsoDate = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' });
const Timestamp = Type.String({ format: 'date-time' });
const Token = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' });
const Yen = Type.Integer({ minimum: 1, maximum: 1_000_000_000_000, description: 'Whole yen.' });

export const BankProblemSchema = Type.Object({
  type: Type.String(), title: Type.String(), status: Type.Integer(), code: Type.String(), detail: Type.Optional(Type.String()),
}, { description: 'RFC 9457 problem; `code` is one of BankErrorCode.' });

export function bankProblems(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, BankProblemSchema]));
}

export const SignedHeaders = Type.Object({
  'koza-signature': Type.Optional(Type.String({ description: 'Compact JWS (EdDSA) over method, path, body hash, Idempotency-Key, nonce and time.' })),
}, { additionalProperties: true });

export const SignedIdempotentHeaders = Type.Object({
  'koza-signature': Type.Optional(Type.String({ description: 'Compact JWS (EdDSA) over method, path, body hash, Idempotency-Key, nonce and time.' })),
  'idempotency-key': Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' }),
}, { additionalProperties: true });

export const DirectoryEntrySchema = Type.Object({
  bank_code: BankCode,
  name: Type.String(),
  name_kana: Type.String({ description: 'Half-width, as transfer files write it.' }),
  link_methods: Type.Array(LinkMethodSchema, { description: 'In the bank\'s order of preference.' }),
  status: Type.Union([Type.Literal('operational'), Type.Literal('degraded'), Type.Literal('outage')]),
});

export const LinkRequestBodySchema = Type.Object({
  method: LinkMethodSchema,
  wallet_ref: Type.String({ minLength: 1, maxLength: 64 }),
  claims: Type.Union([Type.Object({
    name_kana: Type.String({ minLength: 1, maxLength: 100 }), date_of_birth: IsoDate,
    phone: Type.Optional(Type.String({ pattern: '^\\+[0-9]{6,15}$', description: 'v2: the wallet\'s verified phone (E.164).' })),
  }, { additionalProperties: false }), Type.Null()]),
  redirect_uri: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
  code_challenge: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })),
  code_challenge_method: Type.Optional(Type.Literal('S256')),
  state: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  account: Type.Optional(Type.Object({ branch_code: BranchCode, account_number: AccountNumber }, { additionalProperties: false })),
  pin: Type.Optional(Type.String({ pattern: '^[0-9]{4}$' })),
}, { additionalProperties: false });

export const LinkRequestCreatedSchema = Type.Object({
  link_request_id: Type.String(),
  method: LinkMethodSchema,
  expires_at: Timestamp,
  authorization_url: Type.Optional(Type.String()),
}, { description: 'v2: for pin_otp and pin_only the same whatever the account and PIN (no masked phone).' });

export const LinkCompleteBodySchema = Type.Object({
  code: Type.Optional(Token),
  code_verifier: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._~-]{43,128}$' })),
  otp: Type.Optional(Type.String({ pattern: '^[0-9]{4,8}$' })),
}, { additionalProperties: false });

export const LinkCompletedSchema = Type.Object({
  link_token: Type.String(),
  iss: Type.String(),
  account: Type.Object({ branch_code: BranchCode, account_number_masked: Type.String(), account_ref: Type.String() }),
  holder: Type.Object({ name_kana: Type.String(), date_of_birth: IsoDate }),
  phone_matches: Type.Union([Type.Boolean(), Type.Null()], { description: 'v2: claims.phone is the phone the bank holds; null when none was claimed.' }),
  holder_confirmed: Type.Boolean({ description: 'v2: redirect links are confirmed at creation; pin links wait for the holder.' }),
});

export const LinkStateSchema = Type.Object({
  status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
  method: LinkMethodSchema,
  created_at: Timestamp,
  holder_confirmed_at: Type.Union([Timestamp, Type.Null()]),
  holder_confirmed_via: Type.Union([Type.Literal('bank_sign_in'), Type.Literal('email'), Type.Null()]),
  revoked_at: Type.Union([Timestamp, Type.Null()]),
  revoked_by: Type.Union([Type.Literal('holder'), Type.Literal('koza'), Type.Literal('bank'), Type.Null()]),
});

export const LinkRevokedSchema = Type.Object({ revoked: Type.Literal(true) });

export const HolderNotificationBodySchema = Type.Object({
  link_token: Token,
  kind: Type.Union([Type.Literal('link_created'), Type.Literal('link_revoked'), Type.Literal('debit'), Type.Literal('credit'),
    Type.Literal('first_charge'), Type.Literal('large_charge')]),
  message: Type.String({ minLength: 1, maxLength: 2000 }),
  channels: Type.Optional(Type.Array(HolderChannelSchema, { minItems: 1, maxItems: 3, uniqueItems: true, description: 'v2; default [inbox].' })),
}, { additionalProperties: false });

export const NotifiedSchema = Type.Object({
  notified: Type.Literal(true),
  channels: Type.Array(HolderChannelSchema, { description: 'v2: the channels that carried the message.' }),
});

export const TransferBodySchema = Type.Object({
  link_token: Token,
  amount: Yen,
  descriptor: Type.String({ minLength: 1, maxLength: 48, description: 'What the passbook shows: KOZA and the reference.' }),
  reference: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' }),
}, { additionalProperties: false });

export const TransferResultSchema = Type.Object({
  bank_transfer_id: Type.String(),
  reference: Type.String(),
  kind: Type.Union([Type.Literal('debit'), Type.Literal('credit')]),
  amount: Type.Integer(),
  status: Type.Union([Type.Literal('completed'), Type.Literal('rejected')]),
  reason: Type.Optional(Type.String({ description: 'insufficient_funds | account_closed | link_revoked | limit_exceeded' })),
  booked_at: Timestamp,
});

export const IncomingTransferNoticeSchema = Type.Object({
  bank_transfer_id: Type.String(),
  bank_code: BankCode,
  branch_code: BranchCode,
  account_number: AccountNumber,
  amount: Type.Integer({ minimum: 1 }),
  sender: Type.Object({ name_kana: Type.String({ maxLength: 48 }), bank_code: BankCode, branch_code: BranchCode }),
  booked_at: Timestamp,
});

const ReturnReasonSchema = Type.Union([
  Type.Literal('name_mismatch'), Type.Literal('unknown_account'), Type.Literal('wallet_unavailable'), Type.Literal('limit_exceeded'),
]);

export const ReturnBodySchema = Type.Object({
  bank_transfer_id: Type.String({ maxLength: 64 }),
  reference: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
  reason: ReturnReasonSchema,
}, { additionalProperties: false });

export const ReturnResultSchema = Type.Object({
  return_id: Type.String(),
  bank_transfer_id: Type.String(),
  reference: Type.String(),
  reason: ReturnReasonSchema,
  amount: Type.Integer(),
  status: Type.Literal('returned'),
  booked_at: Timestamp,
});

export const StatementSchema = Type.Object({
  bank_code: BankCode,
  date: IsoDate,
  entries: Type.Array(Type.Object({
    reference: Type.String(), kind: Type.Union([Type.Literal('debit'), Type.Literal('credit')]), amount: Type.Integer(), booked_at: Timestamp,
  })),
  total_debits: Type.Integer(),
  total_credits: Type.Integer(),
  incoming: Type.Optional(Type.Array(IncomingTransferNoticeSchema, { description: '§10: transfers into koza\'s virtual accounts that day' })),
  returns: Type.Optional(Type.Array(ReturnResultSchema, { description: '§10: pay-ins koza returned that day' })),
  total_incoming: Type.Optional(Type.Integer()),
  total_returns: Type.Optional(Type.Integer()),
});

// The schemas and the contract are the same shapes, in both directions.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
function contract<T extends true>(): T | undefined {
  return undefined;
}
contract<Same<Static<typeof DirectoryEntrySchema>, DirectoryEntry>>();
contract<Same<Static<typeof LinkRequestBodySchema>, LinkRequestBody>>();
contract<Same<Static<typeof LinkRequestCreatedSchema>, LinkRequestCreated>>();
contract<Same<Static<typeof LinkCompleteBodySchema>, LinkCompleteBody>>();
contract<Same<Static<typeof LinkCompletedSchema>, LinkCompleted>>();
contract<Same<Static<typeof HolderNotificationBodySchema>, HolderNotificationBody>>();
contract<Same<Static<typeof NotifiedSchema>, HolderNotified>>();
contract<Same<Static<typeof LinkStateSchema>, LinkState>>();
contract<Same<Static<typeof TransferBodySchema>, TransferBody>>();
contract<Same<Static<typeof TransferResultSchema>, TransferResult>>();
contract<Same<Static<typeof StatementSchema>, Statement>>();
contract<Same<Static<typeof IncomingTransferNoticeSchema>, IncomingTransferNotice>>();
contract<Same<Static<typeof ReturnBodySchema>, ReturnBody>>();
contract<Same<Static<typeof ReturnResultSchema>, ReturnResult>>();
contract<Same<Omit<Static<typeof BankProblemSchema>, 'code'>, Omit<BankProblem, 'code'>>>();
