// Owns the pay-in routes (issue 11): the wallet's virtual account to send a bank transfer to, its pay-ins, and the
// receiving bank's signed report of an incoming transfer. Must never take a report the bank did not sign with its key.
import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireSession } from '../context.js';
import { IdempotencyHeaders, problems, Timestamp } from '../schemas.js';
import { createError, InvalidRequest } from '../../errors.js';
import { AssuranceLevelTooLow } from '../../identity/assurance.js';
import { getVerifiedIdentity } from '../../identity/verification/store.js';
import { assertCanMoveMoney, getWallet } from '../../wallets/wallets.js';
import { BankDirectory } from '../../banks/directory.js';
import { policyFor } from '../../banks/movement-links.js';
import { payInRoom } from '../../banks/pay-in-decision.js';
import { issuePayInAccount, listWalletPayIns, payInFacts, receivePayIn, type PayIn } from '../../banks/pay-ins.js';
import { BANK_SIGNATURE_HEADER, IDEMPOTENCY_HEADER, type IncomingTransferAck, type IncomingTransferNotice } from '../../banks/protocol.js';
import { deriveBankNoticeKeyPair, NonceCache, verifyRequest, type BankKeyPair } from '../../banks/signing.js';
import { formatYen } from '../../display.js';

export const PayInUnavailable = createError('pay-in-unavailable', 503, 'Funding by bank transfer is not available right now');
export const BankSignatureRefused = createError('bank-signature-refused', 401, 'The request is not signed with the bank\'s key');

/** The path the link refusals at banks koza cannot link name as the way through (link-flow.ts). */
export const PAY_IN_PATH = '/v1/wallet/pay-in';

const PayInAccountSchema = Type.Object({
  wallet_id: Type.String(),
  bank_code: Type.String({ examples: ['0005'] }),
  bank_name: Type.String(),
  bank_name_kana: Type.String(),
  branch_code: Type.String({ examples: ['990'] }),
  account_type: Type.Literal('ordinary', { description: '普通預金 (futsu).' }),
  account_number: Type.String({ pattern: '^[0-9]{7}$', description: 'This wallet\'s own virtual account number: stable, never another wallet\'s.' }),
  account_name_kana: Type.String({ examples: ['ｺｻﾞ(ｶ ﾔﾏﾀﾞ ﾀﾛｳ'], description: 'The receiving name; banks may show koza\'s part (ｺｻﾞ(ｶ) only.' }),
  limits: Type.Object({
    max_now_yen: Type.Integer({ description: 'The most one transfer can bring in now; more is returned to the sender.' }),
    max_balance_yen: Type.Integer(), daily_yen: Type.Integer(), monthly_yen: Type.Integer(),
  }),
  explanation: Type.Object({ en: Type.String(), ja: Type.String() }),
  created_at: Timestamp,
});

const PayInSchema = Type.Object({
  id: Type.String({ examples: ['pin_…'] }),
  bank_transfer_id: Type.String({ description: 'The receiving bank\'s id of the transfer (the sender\'s bank shows it as the reference).' }),
  amount: Type.Integer(),
  status: Type.Union([Type.Literal('credited'), Type.Literal('returning'), Type.Literal('returned')]),
  return_reason: Type.Union([Type.String(), Type.Null()], { description: 'name_mismatch | unknown_account | wallet_unavailable | limit_exceeded' }),
  sender_name_kana: Type.String(),
  source: Type.Union([Type.Literal('notice'), Type.Literal('statement')]),
  booked_at: Timestamp,
  created_at: Timestamp,
});

function payInJson(p: PayIn) {
  return {
    id: p.id, bank_transfer_id: p.bankTransferId, amount: p.amount, status: p.status, return_reason: p.returnReason, sender_name_kana: p.senderNameKana, source: p.source,
    booked_at: p.bookedAt.toISOString(), created_at: p.createdAt.toISOString(),
  };
}

const NoticeBody = Type.Object({
  bank_transfer_id: Type.String({ minLength: 1, maxLength: 64 }),
  bank_code: Type.String({ pattern: '^[0-9]{4}$' }),
  branch_code: Type.String({ pattern: '^[0-9]{3}$' }),
  account_number: Type.String({ pattern: '^[0-9]{7}$' }),
  amount: Type.Integer({ minimum: 1, maximum: 1_000_000_000_000 }),
  sender: Type.Object({
    name_kana: Type.String({ minLength: 1, maxLength: 48 }),
    bank_code: Type.String({ pattern: '^[0-9]{4}$' }),
    branch_code: Type.String({ pattern: '^[0-9]{3}$' }),
  }, { additionalProperties: false }),
  booked_at: Type.String({ format: 'date-time' }),
}, { additionalProperties: false });

export function registerPayInRoutes(app: App, ctx: Ctx): void {
  const directory = new BankDirectory(ctx.db, ctx.banks);
  const deps = { db: ctx.db, config: ctx.config, client: ctx.banks };

  /** The configured pay-in bank, else the first bank in the directory that offers redirect (a bank with modern systems). */
  async function payInBank() {
    const banks = await directory.list();
    const chosen = ctx.config.payInBank !== undefined
      ? banks.find((b) => b.code === ctx.config.payInBank)
      : banks.find((b) => b.linkMethods.includes('redirect'));
    if (!chosen) throw new PayInUnavailable('koza\'s bank for transfers cannot be reached now; try again in a few minutes. '
      + '現在、振込先の銀行に接続できません。数分後にもう一度お試しください。');
    return chosen;
  }

  app.get(PAY_IN_PATH, {
    schema: {
      tags: ['wallet'], summary: 'Fund by bank transfer: this wallet\'s own virtual account (issued once, stable)',
      description: 'Send a furikomi from any bank account in your own name to this account; no link is needed, and nobody can '
        + 'pull money from anybody. The bank reports the transfer and koza credits the wallet; a transfer from an account in '
        + 'another name, or one that would pass a limit, is returned to the sender (the reason goes to your e-mail). '
        + 'Needs a verified identity (L2).',
      security: [{ session: [] }],
      response: { 200: PayInAccountSchema, ...problems(401, 403, 503) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    const wallet = await getWallet(ctx.db, session.walletId);
    assertCanMoveMoney(wallet);
    const level = policyFor(ctx.config).chargeLevel(wallet.assuranceLevel);
    const identity = await getVerifiedIdentity(ctx.db, wallet.id);
    if (level !== 'L2' || !identity) {
      throw new AssuranceLevelTooLow('Verify your identity first (POST /v1/identity/verifications): a bank transfer is credited only '
        + 'when the sender\'s name is the verified owner\'s. 銀行振込での入金には本人確認（POST /v1/identity/verifications）が必要です。',
      { required_level: 'L2', current_level: wallet.assuranceLevel });
    }
    const bank = await payInBank();
    const account = await issuePayInAccount(ctx.db, {
      walletId: wallet.id, bankCode: bank.code, branchCode: ctx.config.payInBranch, ownerNameKana: identity.nameKana,
    });
    // The bank the account was issued at, even if the configured pay-in bank changed since.
    const issuedAt = account.bankCode === bank.code ? bank : (await directory.get(account.bankCode)) ?? bank;
    const facts = await payInFacts(ctx.db, ctx.config, wallet.id);
    const room = payInRoom(facts.limits, facts.wallet!);
    const where = `${issuedAt.name} (${account.bankCode}), branch ${account.branchCode}, ordinary ${account.accountNumber}, ${account.accountNameKana}`;
    const whereJa = `${issuedAt.name}（${account.bankCode}）支店番号 ${account.branchCode} 普通 ${account.accountNumber} ${account.accountNameKana}`;
    return {
      wallet_id: wallet.id, bank_code: account.bankCode, bank_name: issuedAt.name, bank_name_kana: issuedAt.nameKana,
      branch_code: account.branchCode, account_type: 'ordinary' as const, account_number: account.accountNumber,
      account_name_kana: account.accountNameKana,
      limits: {
        max_now_yen: room, max_balance_yen: facts.limits.maxBalance, daily_yen: facts.limits.dailyCharges, monthly_yen: facts.limits.monthlyCharges,
      },
      explanation: {
        en: `Send a bank transfer from any bank account in your own name to ${where}. It is credited to this wallet as soon as the `
          + `bank reports it (usually at once; at the latest after the bank's daily statement). Up to ${formatYen(room)} fits now `
          + `(wallet limit ${formatYen(facts.limits.maxBalance)}, ${formatYen(facts.limits.dailyCharges)} a day, ${formatYen(facts.limits.monthlyCharges)} a month, Japan time). `
          + 'A transfer from an account in another name, or above the limit, is sent back to the sender in full.',
        ja: `ご本人名義の銀行口座から ${whereJa} へお振込みください。銀行から入金の連絡があり次第（通常はすぐ、遅くとも銀行の日次明細の後）ウォレットに入金されます。`
          + `現在 ${formatYen(room)} までお振込みいただけます（残高上限 ${formatYen(facts.limits.maxBalance)}、1日 ${formatYen(facts.limits.dailyCharges)}、`
          + `1か月 ${formatYen(facts.limits.monthlyCharges)}、日本時間）。ご本人以外の名義や上限を超えるお振込みは、全額を振込元へお返しします。`,
      },
      created_at: account.createdAt.toISOString(),
    };
  });

  app.get('/v1/wallet/pay-ins', {
    schema: {
      tags: ['wallet'], summary: 'Bank transfers reported into this wallet\'s virtual account, newest first: credited or returned and why',
      security: [{ session: [] }],
      response: { 200: Type.Object({ data: Type.Array(PayInSchema) }), ...problems(401) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    return { data: (await listWalletPayIns(ctx.db, session.walletId, 50)).map(payInJson) };
  });

  // The bank's report: signed with the bank's own key (docs/bank-protocol.md §10), verified over the raw body's bytes.
  const rawBodies = new WeakMap<IncomingMessage, string>();
  const nonces = new Map<string, NonceCache>();
  const keys = new Map<string, BankKeyPair>();
  const keyOf = (bankCode: string, seed: string) => {
    let key = keys.get(bankCode);
    if (!key) keys.set(bankCode, key = deriveBankNoticeKeyPair(seed, bankCode));
    return key;
  };
  const header = (request: FastifyRequest, name: string) => {
    const value = request.headers[name];
    return typeof value === 'string' ? value : null;
  };

  void app.register(async (scope: App) => {
    // Fastify's own JSON parser (prototype poisoning refused, as everywhere else), keeping the bytes the bank signed.
    const json = scope.getDefaultJsonParser('error', 'error');
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      rawBodies.set(request.raw, body as string);
      json(request, body as string, done);
    });
    // Before the body is validated: a caller without the bank's key learns nothing about the route.
    scope.addHook('preValidation', async (request) => {
      const bankCode = (request.params as { bank_code: string }).bank_code;
      const seed = ctx.config.bankKeySeed;
      if (seed === undefined || !/^[0-9]{4}$/.test(bankCode)) throw new BankSignatureRefused('No key is configured for this bank.');
      let cache = nonces.get(bankCode);
      if (!cache) nonces.set(bankCode, cache = new NonceCache());
      const failure = await verifyRequest(keyOf(bankCode, seed).publicKey, cache, {
        method: request.method, path: request.url, body: rawBodies.get(request.raw), idempotencyKey: header(request, IDEMPOTENCY_HEADER),
        signature: header(request, BANK_SIGNATURE_HEADER) ?? undefined,
      });
      if (failure !== null) throw new BankSignatureRefused(`The Bank-Signature is refused: ${failure}.`);
    });

    scope.post('/v1/banks/:bank_code/incoming-transfers', {
      schema: {
        tags: ['banks'], summary: 'Bank → koza (§10): a transfer booked into one of koza\'s virtual accounts; credited or returned, once',
        description: 'Signed by the bank (Bank-Signature); Idempotency-Key is the bank_transfer_id. Every retry, and the same transfer '
          + 'found later in the statement, answers the one pay-in it made.',
        params: Type.Object({ bank_code: Type.String({ pattern: '^[0-9]{4}$' }) }),
        headers: IdempotencyHeaders,
        body: NoticeBody,
        response: {
          200: Type.Object({
            received: Type.Literal(true), pay_in_id: Type.String(),
            status: Type.Union([Type.Literal('credited'), Type.Literal('returned'), Type.Literal('returning')]),
          }),
          ...problems(400, 401),
        },
      },
    }, async (request): Promise<IncomingTransferAck> => {
      const notice = request.body as IncomingTransferNotice;
      if (notice.bank_code !== request.params.bank_code) throw new InvalidRequest('bank_code must be the bank in the path.');
      if (header(request, IDEMPOTENCY_HEADER) !== notice.bank_transfer_id) {
        throw new InvalidRequest('Idempotency-Key must be the bank_transfer_id.');
      }
      const payIn = await receivePayIn(deps, notice, 'notice');
      return { received: true, pay_in_id: payIn.id, status: payIn.status };
    });
  });
}
