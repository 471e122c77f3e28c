// Owns the sandbox's operator handle (SandboxAdmin): holders with their secrets, passbooks, inboxes, the bank SMS,
// faults, statements and a check of the books — in process for tests, and unsigned over HTTP under /sandbox.
// Must never be reachable from anywhere but the sandbox's own loopback listener: it hands out every PIN.
import { Type } from 'typebox';
import type { LinkMethod, Statement, TransferResult } from '../../banks/protocol.js';
import { bankEnv, bankOf, type SandboxApp, type SandboxContext } from './context.js';
import { BankError } from './errors.js';
import { NO_FAULTS, type BankFaults } from './faults.js';
import { listEmails, listHolderReports, listNotifications, listSms } from './holder-store.js';
import { listLinks } from './link-store.js';
import { AccountNumber, BankCode, BranchCode, StatementSchema, TransferResultSchema, bankProblems } from './schemas.js';
import type { SeededAccount } from './seed.js';
import {
  checkBooks, findTransfer, getAccount, holderAccountId, listHolderAccounts, listPassbook, settlementAccountId, unlockCredentials, type BooksCheck,
} from './store.js';
import { statementOf, transferResult } from './transfers.js';

export interface AccountKey {
  bank_code: string;
  branch_code: string;
  account_number: string;
}

export interface SandboxHolderAccount extends AccountKey {
  bank_name: string;
  account_ref: string;
  pin: string;
  online_banking: { user_id: string; password: string };
  registered_phone: string;
  /** v2: the contact the bank holds besides the phone (where it e-mails the one-tap link confirmation); null when none. */
  registered_email: string | null;
  person_index: number;
  /** As the bank stores it (half-width at some banks). */
  name_kana: string;
  name_kanji: string;
  date_of_birth: string;
  /** The bank's link methods, in its order of preference. */
  link_methods: LinkMethod[];
  balance: number;
  pin_locked: boolean;
  /** Wrong PINs counted against the account since its last right one (the bank locks at 5). */
  pin_failures: number;
}

export interface SandboxPassbookLine {
  seq: number;
  booked_at: string;
  descriptor: string;
  withdrawal: number;
  deposit: number;
  balance_after: number;
  reference: string | null;
}

export interface SandboxNotification {
  sender: 'bank' | 'koza';
  kind: string;
  message: string;
  /** The channels that carried it (inbox, email, sms). */
  channels: string[];
  created_at: string;
}

export interface SandboxEmail {
  bank_code: string;
  address: string;
  subject: string;
  body: string;
  created_at: string;
}

export interface SandboxSms {
  bank_code: string;
  phone: string;
  body: string;
  created_at: string;
}

export interface SandboxLink {
  wallet_ref: string;
  method: LinkMethod;
  created_at: string;
  revoked_at: string | null;
  holder_confirmed_at: string | null;
  holder_confirmed_via: 'bank_sign_in' | 'email' | null;
  revoked_by: 'holder' | 'koza' | 'bank' | null;
}

export interface SandboxHolderReport {
  id: string;
  bank_code: string;
  account: AccountKey;
  reference: string | null;
  note: string;
  created_at: string;
}

export interface SandboxAdmin {
  /** Every holder account with its secrets, by bank, branch and account number. */
  holders(filter?: { bank_code?: string; person_index?: number; link_method?: LinkMethod }): Promise<SandboxHolderAccount[]>;
  holder(account: AccountKey): Promise<SandboxHolderAccount | null>;
  /** Oldest first, like a passbook. */
  passbook(account: AccountKey): Promise<SandboxPassbookLine[]>;
  /** Newest first. */
  inbox(account: AccountKey): Promise<SandboxNotification[]>;
  links(account: AccountKey): Promise<SandboxLink[]>;
  /** The SMS the banks sent (to holders' registered phones), newest first. */
  sms(filter?: { phone?: string; bank_code?: string }): Promise<SandboxSms[]>;
  /** The e-mail the banks sent to holders' registered addresses, newest first. */
  emails(filter?: { address?: string; bank_code?: string }): Promise<SandboxEmail[]>;
  /** The one-tap confirmation URL in the newest confirmation e-mail a bank sent to an address, or null. */
  lastConfirmationUrl(address: string, bankCode?: string): Promise<string | null>;
  /** The code in the newest SMS a bank sent to a phone, or null. */
  lastOtp(phone: string, bankCode?: string): Promise<string | null>;
  reports(filter?: { bank_code?: string }): Promise<SandboxHolderReport[]>;
  faults(bankCode: string): BankFaults;
  /** Changes some of a bank's faults (the rest stay) and restarts its fault PRNG; RangeError on a bad value. */
  setFaults(bankCode: string, faults: Partial<BankFaults>): BankFaults;
  /** One bank's faults, or every bank's. */
  clearFaults(bankCode?: string): void;
  statement(bankCode: string, date: string): Promise<Statement>;
  transfer(bankCode: string, reference: string): Promise<TransferResult | null>;
  /** Double-entry invariants recomputed from the journal. */
  books(): Promise<BooksCheck>;
  /** Lifts PIN and password locks, as a branch would after seeing the holder. */
  unlock(account: AccountKey): Promise<boolean>;
  /** koza's collection (settlement) account balance at a bank: pay-ins in, returns and credits out, debits in. */
  kozaBalance(bankCode: string): Promise<number>;
  /** §10 test knob: while on, every pay-in notice to koza is lost on the way (koza must find it in the statement). */
  losePayInNotices(on: boolean): void;
  /** A furikomi as the banks booked it, with its return if koza sent it back; null when there is none. */
  furikomi(id: string): Promise<{ amount: number; to_virtual: boolean; koza_notified: boolean; returned: boolean } | null>;
}

const OTP_IN_SMS = /】(\d{6}) /;
/** The one-tap link confirmation in a bank's e-mail to its holder. */
export const CONFIRMATION_URL = /(https?:\/\/\S+\/confirm-link\?token=\S+)/;

export function createSandboxAdmin(ctx: SandboxContext): SandboxAdmin {
  const seeded = new Map<string, SeededAccount>(
    ctx.world.accounts.map((a) => [holderAccountId(a.bankCode, a.branchCode, a.accountNumber), a]));
  const idOf = (key: AccountKey) => holderAccountId(key.bank_code, key.branch_code, key.account_number);
  const iso = (at: Date | null) => at?.toISOString() ?? null;

  const admin: SandboxAdmin = {
    async holders(filter = {}) {
      const rows = await listHolderAccounts(ctx.db, {
        ...(filter.bank_code === undefined ? {} : { bankCode: filter.bank_code }),
        ...(filter.person_index === undefined ? {} : { personIndex: filter.person_index }),
      });
      return rows.flatMap((row) => {
        const secrets = seeded.get(row.id);
        const bank = ctx.banks.get(row.bank_code);
        if (!secrets || !bank) return [];
        if (filter.link_method && !bank.linkMethods.includes(filter.link_method)) return [];
        return [{
          bank_code: row.bank_code, bank_name: bank.name, branch_code: row.branch_code, account_number: row.account_number,
          account_ref: row.account_ref, pin: secrets.pin, online_banking: { user_id: secrets.onlineId, password: secrets.password },
          registered_phone: row.registered_phone, registered_email: row.registered_email, person_index: row.person_index, name_kana: row.holder_name_kana,
          name_kanji: row.holder_name_kanji, date_of_birth: row.date_of_birth, link_methods: [...bank.linkMethods],
          balance: row.balance, pin_locked: row.pin_locked_at !== null, pin_failures: row.pin_failures,
        }];
      });
    },
    async holder(key) {
      const account = await getAccount(ctx.db, idOf(key));
      if (!account) return null;
      return (await admin.holders({ bank_code: key.bank_code, person_index: account.person_index }))
        .find((h) => h.account_number === key.account_number && h.branch_code === key.branch_code) ?? null;
    },
    async passbook(key) {
      return (await listPassbook(ctx.db, idOf(key))).map((l) => ({
        seq: l.seq, booked_at: l.booked_at.toISOString(), descriptor: l.descriptor, withdrawal: l.withdrawal, deposit: l.deposit,
        balance_after: l.balance_after, reference: l.reference,
      }));
    },
    async inbox(key) {
      return (await listNotifications(ctx.db, idOf(key))).map((n) => ({
        sender: n.sender, kind: n.kind, message: n.message, channels: n.channels, created_at: n.created_at.toISOString(),
      }));
    },
    async links(key) {
      return (await listLinks(ctx.db, { accountId: idOf(key) })).map((l) => ({
        wallet_ref: l.wallet_ref, method: l.method, created_at: l.created_at.toISOString(), revoked_at: iso(l.revoked_at),
        holder_confirmed_at: iso(l.holder_confirmed_at), holder_confirmed_via: l.holder_confirmed_via, revoked_by: l.revoked_by,
      }));
    },
    async sms(filter = {}) {
      return (await listSms(ctx.db, {
        ...(filter.phone === undefined ? {} : { phone: filter.phone }),
        ...(filter.bank_code === undefined ? {} : { bankCode: filter.bank_code }),
      })).map((m) => ({ bank_code: m.bank_code, phone: m.phone, body: m.body, created_at: m.created_at.toISOString() }));
    },
    async emails(filter = {}) {
      return (await listEmails(ctx.db, {
        ...(filter.address === undefined ? {} : { address: filter.address }),
        ...(filter.bank_code === undefined ? {} : { bankCode: filter.bank_code }),
      })).map((m) => ({ bank_code: m.bank_code, address: m.address, subject: m.subject, body: m.body, created_at: m.created_at.toISOString() }));
    },
    async lastConfirmationUrl(address, bankCode) {
      const mails = await listEmails(ctx.db, { address, ...(bankCode === undefined ? {} : { bankCode }), limit: 100 });
      for (const mail of mails) {
        const url = CONFIRMATION_URL.exec(mail.body)?.[1];
        if (url) return url;
      }
      return null;
    },
    async lastOtp(phone, bankCode) {
      const [newest] = await listSms(ctx.db, { phone, ...(bankCode === undefined ? {} : { bankCode }), limit: 1 });
      return newest ? OTP_IN_SMS.exec(newest.body)?.[1] ?? null : null;
    },
    async reports(filter = {}) {
      const rows = await listHolderReports(ctx.db, filter.bank_code === undefined ? {} : { bankCode: filter.bank_code });
      return Promise.all(rows.map(async (r) => {
        const account = (await getAccount(ctx.db, r.account_id))!;
        return {
          id: r.id, bank_code: r.bank_code, reference: r.reference, note: r.note, created_at: r.created_at.toISOString(),
          account: { bank_code: account.bank_code, branch_code: account.branch_code, account_number: account.account_number },
        };
      }));
    },
    faults(bankCode) {
      bankOf(ctx, bankCode);
      return ctx.faults.get(bankCode);
    },
    setFaults(bankCode, faults) {
      bankOf(ctx, bankCode);
      return ctx.faults.set(bankCode, faults);
    },
    clearFaults(bankCode) {
      if (bankCode !== undefined) bankOf(ctx, bankCode);
      ctx.faults.clear(bankCode);
    },
    statement(bankCode, date) {
      return statementOf(ctx.db, bankEnv(ctx, bankCode), date);
    },
    async transfer(bankCode, reference) {
      const row = await findTransfer(ctx.db, bankOf(ctx, bankCode).code, reference);
      return row ? transferResult(row) : null;
    },
    books: () => checkBooks(ctx.db),
    async kozaBalance(bankCode) {
      const res = await ctx.db.query<{ balance: number }>('SELECT balance FROM accounts WHERE id = $1', [settlementAccountId(bankCode)]);
      return Number(res.rows[0]?.balance ?? 0);
    },
    losePayInNotices: (on) => ctx.payInNotices.lose(on),
    async furikomi(id) {
      const res = await ctx.db.query<{ amount: number; to_virtual: boolean; koza_notified_at: Date | null; returned: boolean }>(
        `SELECT f.amount, f.to_virtual, f.koza_notified_at, EXISTS (SELECT 1 FROM furikomi_returns r WHERE r.furikomi_id = f.id) AS returned
           FROM furikomi f WHERE f.id = $1`, [id]);
      const row = res.rows[0];
      return row ? { amount: Number(row.amount), to_virtual: row.to_virtual, koza_notified: row.koza_notified_at !== null, returned: row.returned } : null;
    },
    unlock: (key) => unlockCredentials(ctx.db, idOf(key)),
  };
  return admin;
}

const Timestamp = Type.String({ format: 'date-time' });
const AccountParams = Type.Object({ bank_code: BankCode, branch_code: BranchCode, account_number: AccountNumber });
const FaultsSchema = Type.Object({
  latency_ms: Type.Integer({ minimum: 0, maximum: 600_000 }),
  error_rate: Type.Number({ minimum: 0, maximum: 1 }),
  timeout_rate: Type.Number({ minimum: 0, maximum: 1 }),
  timeout_ms: Type.Integer({ minimum: 0, maximum: 600_000 }),
  apply_before_timeout: Type.Number({ minimum: 0, maximum: 1 }),
  outage: Type.Boolean(),
});
const HolderSchema = Type.Object({
  bank_code: Type.String(), bank_name: Type.String(), branch_code: Type.String(), account_number: Type.String(),
  account_ref: Type.String(), pin: Type.String(), online_banking: Type.Object({ user_id: Type.String(), password: Type.String() }),
  registered_phone: Type.String(), registered_email: Type.Union([Type.String(), Type.Null()]), person_index: Type.Integer(), name_kana: Type.String(), name_kanji: Type.String(),
  date_of_birth: Type.String(), link_methods: Type.Array(Type.String()), balance: Type.Integer(), pin_locked: Type.Boolean(),
  pin_failures: Type.Integer(),
});

/** The same handle over HTTP, for the CLI, the attack replay and anyone poking at the sandbox by hand. */
export function registerAdminRoutes(app: SandboxApp, ctx: SandboxContext, admin: SandboxAdmin): void {
  const tags = ['sandbox admin'];
  const accountOf = (p: { bank_code: string; branch_code: string; account_number: string }): AccountKey => {
    bankOf(ctx, p.bank_code);
    return { bank_code: p.bank_code, branch_code: p.branch_code, account_number: p.account_number };
  };

  app.get('/sandbox/holders', {
    schema: {
      tags, summary: 'Holder accounts with their secrets (PIN, online-banking ID and password) and balances',
      querystring: Type.Object({
        bank_code: Type.Optional(BankCode), person_index: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })),
        link_method: Type.Optional(Type.Union([Type.Literal('redirect'), Type.Literal('pin_otp'), Type.Literal('pin_only')])),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ data: Type.Array(HolderSchema) }) },
    },
  }, async (request) => ({
    data: await admin.holders({
      ...(request.query.bank_code === undefined ? {} : { bank_code: request.query.bank_code }),
      ...(request.query.person_index === undefined ? {} : { person_index: Number(request.query.person_index) }),
      ...(request.query.link_method === undefined ? {} : { link_method: request.query.link_method }),
    }),
  }));

  const accountLists = [
    ['passbook', 'A holder\'s passbook, oldest first', Type.Object({
      seq: Type.Integer(), booked_at: Timestamp, descriptor: Type.String(), withdrawal: Type.Integer(), deposit: Type.Integer(),
      balance_after: Type.Integer(), reference: Type.Union([Type.String(), Type.Null()]),
    }), admin.passbook],
    ['inbox', 'A holder\'s inbox, newest first', Type.Object({
      sender: Type.String(), kind: Type.String(), message: Type.String(), channels: Type.Array(Type.String()), created_at: Timestamp,
    }), admin.inbox],
    ['links', 'The wallet links of an account', Type.Object({
      wallet_ref: Type.String(), method: Type.String(), created_at: Timestamp, revoked_at: Type.Union([Timestamp, Type.Null()]),
      holder_confirmed_at: Type.Union([Timestamp, Type.Null()]), holder_confirmed_via: Type.Union([Type.String(), Type.Null()]),
      revoked_by: Type.Union([Type.String(), Type.Null()]),
    }), admin.links],
  ] as const;
  for (const [what, summary, item, read] of accountLists) {
    app.get(`/sandbox/banks/:bank_code/accounts/:branch_code/:account_number/${what}`, {
      schema: { tags, summary, params: AccountParams, response: { 200: Type.Object({ data: Type.Array(item) }), ...bankProblems(404) } },
    }, async (request) => ({ data: await read(accountOf(request.params)) }));
  }

  app.post('/sandbox/banks/:bank_code/accounts/:branch_code/:account_number/unlock', {
    schema: {
      tags, summary: 'Lift PIN and password locks', params: AccountParams,
      response: { 200: Type.Object({ unlocked: Type.Boolean() }), ...bankProblems(404) },
    },
  }, async (request) => ({ unlocked: await admin.unlock(accountOf(request.params)) }));

  app.get('/sandbox/sms', {
    schema: {
      tags, summary: 'SMS the banks sent to holders\' registered phones, newest first',
      querystring: Type.Object({ phone: Type.Optional(Type.String({ maxLength: 20 })), bank_code: Type.Optional(BankCode) },
        { additionalProperties: false }),
      response: {
        200: Type.Object({ data: Type.Array(Type.Object({
          bank_code: Type.String(), phone: Type.String(), body: Type.String(), created_at: Timestamp,
        })) }),
      },
    },
  }, async (request) => ({
    data: await admin.sms({
      ...(request.query.phone === undefined ? {} : { phone: request.query.phone }),
      ...(request.query.bank_code === undefined ? {} : { bank_code: request.query.bank_code }),
    }),
  }));

  app.get('/sandbox/emails', {
    schema: {
      tags, summary: 'E-mail the banks sent to holders\' registered addresses (the contact besides the phone), newest first',
      querystring: Type.Object({ address: Type.Optional(Type.String({ maxLength: 254 })), bank_code: Type.Optional(BankCode) },
        { additionalProperties: false }),
      response: {
        200: Type.Object({ data: Type.Array(Type.Object({
          bank_code: Type.String(), address: Type.String(), subject: Type.String(), body: Type.String(), created_at: Timestamp,
        })) }),
      },
    },
  }, async (request) => ({
    data: await admin.emails({
      ...(request.query.address === undefined ? {} : { address: request.query.address }),
      ...(request.query.bank_code === undefined ? {} : { bank_code: request.query.bank_code }),
    }),
  }));

  app.get('/sandbox/reports', {
    schema: {
      tags, summary: 'Holders\' reports of debits they do not recognise',
      querystring: Type.Object({ bank_code: Type.Optional(BankCode) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ data: Type.Array(Type.Object({
          id: Type.String(), bank_code: Type.String(), reference: Type.Union([Type.String(), Type.Null()]), note: Type.String(),
          created_at: Timestamp,
          account: Type.Object({ bank_code: Type.String(), branch_code: Type.String(), account_number: Type.String() }),
        })) }),
      },
    },
  }, async (request) => ({ data: await admin.reports(request.query.bank_code === undefined ? {} : { bank_code: request.query.bank_code }) }));

  app.get('/sandbox/banks/:bank_code/faults', {
    schema: {
      tags, summary: 'A bank\'s injected faults', params: Type.Object({ bank_code: BankCode }),
      response: { 200: FaultsSchema, ...bankProblems(404) },
    },
  }, async (request) => admin.faults(request.params.bank_code));

  app.put('/sandbox/banks/:bank_code/faults', {
    schema: {
      tags, summary: 'Change some of a bank\'s faults (the PRNG restarts from the seed)', params: Type.Object({ bank_code: BankCode }),
      body: Type.Partial(FaultsSchema, { additionalProperties: false }),
      response: { 200: FaultsSchema, ...bankProblems(400, 404) },
    },
  }, async (request) => {
    try {
      return admin.setFaults(request.params.bank_code, request.body);
    } catch (err) {
      if (err instanceof RangeError) throw new BankError('invalid_request', err.message);
      throw err;
    }
  });

  app.delete('/sandbox/faults', {
    schema: { tags, summary: 'Clear every bank\'s faults', response: { 200: FaultsSchema } },
  }, async () => {
    admin.clearFaults();
    return { ...NO_FAULTS };
  });

  app.get('/sandbox/banks/:bank_code/statements/:date', {
    schema: {
      tags, summary: 'A bank\'s statement for a JST day, unsigned',
      params: Type.Object({ bank_code: BankCode, date: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }) }),
      response: { 200: StatementSchema, ...bankProblems(400, 404) },
    },
  }, async (request) => admin.statement(request.params.bank_code, request.params.date));

  app.get('/sandbox/banks/:bank_code/transfers/:reference', {
    schema: {
      tags, summary: 'A bank\'s record of a transfer, unsigned',
      params: Type.Object({ bank_code: BankCode, reference: Type.String({ maxLength: 64 }) }),
      response: { 200: TransferResultSchema, ...bankProblems(404) },
    },
  }, async (request) => {
    const found = await admin.transfer(request.params.bank_code, request.params.reference);
    if (!found) throw new BankError('transfer_not_found');
    return found;
  });

  app.get('/sandbox/books', {
    schema: {
      tags, summary: 'Double-entry check of every bank\'s books',
      response: {
        200: Type.Object({
          balance_sum: Type.Integer(), balances_off_journal: Type.Integer(), negative_holders: Type.Integer(),
          journal_entries: Type.Integer(),
        }),
      },
    },
  }, async () => admin.books());
}
